"""Soft Jaccard (IoU) loss: softmax (multi-class) and sigmoid (binary / multi-label)."""

from __future__ import annotations

from torch import Tensor

from deeplossdive._about import (
    OVERLAP,
    SEGMENTATION_SETUP,
    Leaf,
    Plot,
    describe,
    sigmoid_small_object,
    softmax_small_object,
)
from deeplossdive._base import Loss
from deeplossdive._reduction import Reduction
from deeplossdive._validation import NON_NEGATIVE_FINITE
from deeplossdive.losses._overlap import Aggregation, EmptyPolicy
from deeplossdive.losses._overlap_pipeline import (
    Classes,
    OverlapOptions,
    Ratio,
    overlap,
)

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
    counts of image $n$ and class $c$ summed over its valid pixels $i$,
    $TP_{nc} = \sum_i p_{nci}\, g_{nci}$, $FP_{nc} = \sum_i p_{nci} (1 - g_{nci})$ and
    $FN_{nc} = \sum_i (1 - p_{nci})\, g_{nci}$, the unreduced loss is

    $$
    \ell_{nc} = 1 - \frac{TP_{nc} + s}{TP_{nc} + FP_{nc} + FN_{nc} + s},
    $$

    one minus the soft Jaccard index (intersection over union) $|P \cap G| / |P \cup G|$, since
    $TP + FP + FN = \sum_i p_i + \sum_i g_i - \sum_i p_i g_i$: the soft IoU of
    [Rahman and Wang, 2016](https://doi.org/10.1007/978-3-319-50835-1_22). For the same counts
    $J = D / (2 - D)$ with $D$ the Dice coefficient, so the two losses rank single predictions
    alike; they differ in how they weigh entries against each other in a mean.

    - `aggregation="batch"` sums $TP$, $FP$ and $FN$ over the images before the ratio: one
      $\ell_c$ per class.
    - An entry whose target and prediction are both empty, $TP + FP + FN = 0$, has the ratio
      $0/0$ without smoothing. Its score is set by `empty`: `"one"` (a perfect score, loss 0, the
      limit of the smoothed ratio), `"zero"` (loss 1), or `"ignore"` (left out of the mean).
      An entry whose target is empty but whose prediction is not gets the smoothed ratio
      $s / (FP + s)$, a loss of about 1 with a vanishing gradient, unless
      `empty="ignore_absent"` leaves out every entry with an empty target.
      An image whose pixels are all `ignore_index` is always left out. The result is never NaN.
    - `"mean"` averages $\ell$ over the entries kept, `"sum"` adds them; `"none"` returns them
      all, left-out entries as 0.

    float16 and bfloat16 inputs are computed in float32 and the result is returned in the input
    dtype.

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$, $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, shape $(N, d_1, \dots)$.
        smooth: $s \ge 0$, added to the numerator and the denominator. The default $10^{-5}$
            makes the ratio continuous at an empty entry and is negligible for any mask of a
            pixel or more.
        include_background: Whether class 0 takes part; `False` drops it from the output and
            the mean ($C' = C - 1$).
        aggregation: `"per_image"` (a ratio per image and class) or `"batch"` (counts summed
            over the images, a ratio per class).
        ignore_index: Target value whose pixels contribute to no count.
        empty: Score of an entry with empty target and empty prediction: `"one"`, `"zero"` or
            `"ignore"`; or `"ignore_absent"`: leave out every entry whose target is empty,
            whatever is predicted.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: Compute the loss of the global batch of a `torch.distributed` process
            group, on every rank: `"batch"` sums the counts over the ranks before the ratio,
            `"per_image"` averages over the images of every rank. The value is that of one
            process given the concatenated batch, and DDP's averaging of the gradients makes
            them that process's too (the "Losses under DDP" guide). Only `"mean"` and `"sum"`;
            outside a process group (or with one process) the ordinary loss.

    Returns:
        The loss: shape $(N, C')$ for `"none"` with `"per_image"`, $(C')$ for `"none"` with
        `"batch"`, a scalar otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, `smooth` negative or infinite, an unknown
            `aggregation`, `empty` or `reduction`, `reduction="none"` with `distributed=True`, or
            (with value checks on) a label outside $[0, C)$ that is not `ignore_index`.

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

    `smooth`, `aggregation`, `empty`, `reduction` and `distributed`, the shapes and the dtype of
    the result, and what there is not (a background class, `ignore_index`) are those of
    [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss].

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$; $C = 1$ for a
            binary mask.
        target: Targets in $[0, 1]$ (hard or soft), floating point, the shape of `logits`.

    Raises:
        TypeError: `logits` or `target` is not floating point.
        ValueError: As for [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss].

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
    chart=Leaf("Segment images", "C logits per pixel", "IoU is the metric", rank=3),
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " Two classes (softmax): the curves differ by whether the "
        "background class takes part in the mean.",
        {
            f"include_background={flag}": softmax_small_object(
                jaccard_loss, include_background=flag
            )
            for flag in (False, True)
        },
    ),
)
describe(
    sigmoid_jaccard_loss,
    family="Segmentation",
    task="Segmentation (binary, multi-label)",
    chart=Leaf("Segment images", "a logit per pixel and channel", "IoU is the metric", rank=3),
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " One channel.",
        {
            "smooth = 1e-5": sigmoid_small_object(sigmoid_jaccard_loss),
            "smooth = 1": sigmoid_small_object(sigmoid_jaccard_loss, smooth=1.0),
        },
    ),
)
