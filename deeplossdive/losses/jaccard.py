"""Soft Jaccard (IoU) loss: softmax (multi-class) and sigmoid (binary / multi-label)."""

from __future__ import annotations

from torch import Tensor

from deeplossdive._about import Leaf, describe, sigmoid_overlap_plot, softmax_overlap_plot
from deeplossdive._base import Loss
from deeplossdive._reduction import Reduction
from deeplossdive._validation import NON_NEGATIVE_FINITE
from deeplossdive.losses._overlap import Aggregation, EmptyPolicy
from deeplossdive.losses._overlap_pipeline import Classes, OverlapOptions, Ratio, overlap

_JACCARD = Ratio(1.0, 1.0, 1.0, 1.0)
"""The smoothed Jaccard index: $(TP + s) / (TP + FP + FN + s)$."""


def jaccard_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    smooth: float = 1e-5,
    include_background: bool = True,
    aggregation: Aggregation = "per_image",
    ignore_index: int = -100,
    empty: EmptyPolicy = "one",
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""Soft Jaccard (IoU) loss of the softmax of `logits` against class indices.

    With $p = \operatorname{softmax}(x)$ over the classes, $g$ the one-hot target and the soft
    counts $TP_{nc}$, $FP_{nc}$ and $FN_{nc}$ of image $n$ and class $c$ of
    [`dice_loss`][deeplossdive.functional.dice_loss], the unreduced loss is

    $$
    \ell_{nc} = 1 - \frac{TP_{nc} + s}{TP_{nc} + FP_{nc} + FN_{nc} + s},
    $$

    one minus the soft Jaccard index (intersection over union) $|P \cap G| / |P \cup G|$, since
    $TP + FP + FN = \sum_i p_i + \sum_i g_i - \sum_i p_i g_i$: the soft IoU of
    [Rahman and Wang, 2016](https://doi.org/10.1007/978-3-319-50835-1_22). For the same counts
    $J = D / (2 - D)$ with $D$ the Dice coefficient, so the two losses rank single predictions
    alike; they differ in how they weigh entries against each other in a mean.

    The arguments (`smooth`, `include_background`, `aggregation`, `ignore_index`, `empty`,
    `reduction`, `distributed`), the entries left out, the shapes, the dtypes and the errors
    are those of [`dice_loss`][deeplossdive.functional.dice_loss]. The default
    `smooth` of $10^{-5}$ makes the ratio continuous at an empty entry and is negligible for any
    mask of a pixel or more.

    Examples:
        One image of four pixels, two classes; the softmax of $\log 3$ and $\log 1$ is
        $3/4$ and $1/4$:

        >>> import torch
        >>> from deeplossdive.functional import jaccard_loss
        >>> logits = torch.log(torch.tensor([[[3.0, 1.0, 1.0, 1.0], [1.0, 3.0, 3.0, 3.0]]]))
        >>> target = torch.tensor([[0, 0, 1, 1]])
        >>> jaccard_loss(logits, target, smooth=0.0, reduction="none")
        tensor([[0.6000, 0.5000]])

        Class 0 has $TP = 0.75 + 0.25 = 1$, $FP = 0.5$, $FN = 1$: $1 - 1/2.5 = 0.6$.
        Class 1 has $TP = 1.5$, $FP = 1$, $FN = 0.5$: $1 - 1.5/3 = 0.5$.
    """
    options = OverlapOptions(smooth, aggregation, empty, reduction, distributed)
    classes = Classes(include_background, ignore_index)
    return overlap("jaccard_loss", _JACCARD, logits, target, options, classes)


def sigmoid_jaccard_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    smooth: float = 1e-5,
    aggregation: Aggregation = "per_image",
    empty: EmptyPolicy = "one",
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""Soft Jaccard (IoU) loss of the sigmoid of `logits`, per (image, channel).

    The loss $\ell_{nc}$ of [`jaccard_loss`][deeplossdive.functional.jaccard_loss], with each
    channel $c$ its own binary mask (the soft IoU of
    [Rahman and Wang, 2016](https://doi.org/10.1007/978-3-319-50835-1_22), per channel):
    $p = \sigma(x)$, targets $g \in [0, 1]$, and the soft counts $TP$, $FP$ and $FN$ of
    [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss], which make the loss
    smallest at $p = g$ for soft targets too.

    The arguments (`logits`, `target`, `smooth`, `aggregation`, `empty`, `reduction`,
    `distributed`), the shapes and the dtype of the result, what there is not (a background
    class, `ignore_index`) and the errors are those of
    [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss].

    Examples:
        One binary mask of four pixels with $p = (0.75, 0.5, 0.5, 0.25)$:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import sigmoid_jaccard_loss
        >>> logits = torch.tensor([[[math.log(3.0), 0.0, 0.0, -math.log(3.0)]]])
        >>> target = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> sigmoid_jaccard_loss(logits, target, smooth=0.0, reduction="none")
        tensor([[0.5455]])

        $TP = 1.25$, $FP = FN = 0.75$: $1 - 1.25/2.75 = 0.5455$.
    """
    options = OverlapOptions(smooth, aggregation, empty, reduction, distributed)
    return overlap("sigmoid_jaccard_loss", _JACCARD, logits, target, options)


class JaccardLoss(Loss[Reduction], function=jaccard_loss):
    """Module form of [`jaccard_loss`][deeplossdive.functional.jaccard_loss]."""

    def __init__(
        self,
        *,
        smooth: float = 1e-5,
        include_background: bool = True,
        aggregation: Aggregation = "per_image",
        ignore_index: int = -100,
        empty: EmptyPolicy = "one",
        reduction: Reduction = "mean",
        distributed: bool = False,
    ) -> None:
        super().__init__(locals(), smooth=NON_NEGATIVE_FINITE)


class SigmoidJaccardLoss(Loss[Reduction], function=sigmoid_jaccard_loss):
    """Module form of [`sigmoid_jaccard_loss`][deeplossdive.functional.sigmoid_jaccard_loss]."""

    def __init__(
        self,
        *,
        smooth: float = 1e-5,
        aggregation: Aggregation = "per_image",
        empty: EmptyPolicy = "one",
        reduction: Reduction = "mean",
        distributed: bool = False,
    ) -> None:
        super().__init__(locals(), smooth=NON_NEGATIVE_FINITE)


describe(
    jaccard_loss,
    family="Segmentation",
    task="Segmentation (multi-class)",
    plot=softmax_overlap_plot(jaccard_loss),
    chart=Leaf("Segment images", "C logits per pixel", "IoU is the metric", rank=3),
)
describe(
    sigmoid_jaccard_loss,
    family="Segmentation",
    task="Segmentation (binary, multi-label)",
    plot=sigmoid_overlap_plot(sigmoid_jaccard_loss),
    chart=Leaf("Segment images", "a logit per pixel and channel", "IoU is the metric", rank=3),
)
