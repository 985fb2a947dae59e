"""Soft Dice loss: softmax (multi-class) and sigmoid (binary / multi-label)."""

from __future__ import annotations

from torch import Tensor

from deeplossdive._about import Leaf, describe, sigmoid_overlap_plot, softmax_overlap_plot
from deeplossdive._base import Loss
from deeplossdive._reduction import Reduction
from deeplossdive._validation import NON_NEGATIVE_FINITE
from deeplossdive.losses._overlap import Aggregation, EmptyPolicy
from deeplossdive.losses._overlap_pipeline import Classes, OverlapOptions, Ratio, overlap

_DICE = Ratio(2.0, 2.0, 1.0, 1.0)
"""The smoothed Dice coefficient: $(2 TP + s) / (2 TP + FP + FN + s)$."""


def dice_loss(
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
    r"""Soft Dice loss of the softmax of `logits` against class indices, per (image, class).

    With $p = \operatorname{softmax}(x)$ over the classes, $g$ the one-hot target and the soft
    counts of image $n$ and class $c$ summed over its valid pixels $i$,
    $TP_{nc} = \sum_i p_{nci}\, g_{nci}$, $FP_{nc} = \sum_i p_{nci} (1 - g_{nci})$ and
    $FN_{nc} = \sum_i (1 - p_{nci})\, g_{nci}$, the unreduced loss is

    $$
    \ell_{nc} = 1 - \frac{2\,TP_{nc} + s}{2\,TP_{nc} + FP_{nc} + FN_{nc} + s},
    $$

    one minus the soft Dice coefficient $2|P \cap G| / (|P| + |G|)$, since
    $2\,TP + FP + FN = \sum_i p_i + \sum_i g_i$. This is the linear form of MONAI's default and
    nnU-Net; the V-Net paper ([Milletari et al., 2016](https://arxiv.org/abs/1606.04797)) squares
    $p$ and $g$ in the denominator.

    - `aggregation="batch"` sums $TP$, $FP$ and $FN$ over the images before the ratio: one
      $\ell_c$ per class (nnU-Net's "batch Dice").
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
            (MONAI's and nnU-Net's) makes the ratio continuous at an empty entry and changes
            the loss of a mask of one pixel by less than $10^{-5}$; $s = 1$ is not negligible
            for small objects.
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
        >>> from deeplossdive.functional import dice_loss
        >>> logits = torch.log(torch.tensor([[[3.0, 1.0, 1.0, 1.0], [1.0, 3.0, 3.0, 3.0]]]))
        >>> target = torch.tensor([[0, 0, 1, 1]])
        >>> dice_loss(logits, target, smooth=0.0, reduction="none")
        tensor([[0.4286, 0.3333]])

        Class 0 has $TP = 0.75 + 0.25 = 1$, $FP = 0.5$, $FN = 1$: $1 - 2/3.5 = 0.4286$.
        Class 1 has $TP = 1.5$, $FP = 1$, $FN = 0.5$: $1 - 3/4.5 = 0.3333$.
    """
    options = OverlapOptions(smooth, aggregation, empty, reduction, distributed)
    classes = Classes(include_background, ignore_index)
    return overlap("dice_loss", _DICE, logits, target, options, classes)


def sigmoid_dice_loss(
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
    r"""Soft Dice loss of the sigmoid of `logits`, per (image, channel): binary and multi-label.

    The loss $\ell_{nc}$ of [`dice_loss`][deeplossdive.functional.dice_loss], with each channel
    $c$ its own binary mask (the V-Net loss of
    [Milletari et al., 2016](https://arxiv.org/abs/1606.04797), linear form, per channel):
    $p = \sigma(x)$, targets $g \in [0, 1]$, and these soft counts of image $n$ and channel $c$,
    summed over its pixels $i$:

    $$
    TP_{nc} = \sum_i \min(p_{nci}, g_{nci}), \quad FP_{nc} = \sum_i \max(p_{nci} - g_{nci}, 0),
    \quad FN_{nc} = \sum_i \max(g_{nci} - p_{nci}, 0).
    $$

    For hard targets they are $\sum_i p g$, $\sum_i p (1 - g)$ and $\sum_i (1 - p) g$; for soft
    ones, the counts of [Wang et al., 2023](https://arxiv.org/abs/2303.16296), so that the loss
    is smallest at $p = g$. $1 - p$ is computed as $\sigma(-x)$, exact where $p$ rounds to 1.

    `smooth`, `aggregation`, `empty`, `reduction` and `distributed`, the shapes and the dtype of
    the result are those of [`dice_loss`][deeplossdive.functional.dice_loss], with the $C$
    channels in place of its $C'$ classes. There is no background class (every channel is a
    label: select channels by slicing) and no `ignore_index` (the target is a float mask).

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$; $C = 1$ for a
            binary mask.
        target: Targets in $[0, 1]$ (hard or soft), floating point, the shape of `logits`.

    Raises:
        TypeError: `logits` or `target` is not floating point.
        ValueError: Shapes differ, `logits` has fewer than 2 dimensions, an option is invalid
            (as for `dice_loss`), or (with value checks on) a target is outside $[0, 1]$.

    Examples:
        One binary mask of four pixels with $p = (0.75, 0.5, 0.5, 0.25)$:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import sigmoid_dice_loss
        >>> logits = torch.tensor([[[math.log(3.0), 0.0, 0.0, -math.log(3.0)]]])
        >>> target = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> sigmoid_dice_loss(logits, target, smooth=0.0, reduction="none")
        tensor([[0.3750]])

        $TP = 1.25$, $FP = FN = 0.75$: $1 - 2.5/4 = 0.375$.
    """
    options = OverlapOptions(smooth, aggregation, empty, reduction, distributed)
    return overlap("sigmoid_dice_loss", _DICE, logits, target, options)


class DiceLoss(Loss[Reduction], function=dice_loss):
    """Module form of [`dice_loss`][deeplossdive.functional.dice_loss]."""

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


class SigmoidDiceLoss(Loss[Reduction], function=sigmoid_dice_loss):
    """Module form of [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss]."""

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
    dice_loss,
    family="Segmentation",
    task="Segmentation (multi-class)",
    plot=softmax_overlap_plot(dice_loss),
    chart=Leaf("Segment images", "C logits per pixel", "with cross_entropy", rank=1),
)
describe(
    sigmoid_dice_loss,
    family="Segmentation",
    task="Segmentation (binary, multi-label)",
    plot=sigmoid_overlap_plot(sigmoid_dice_loss),
    chart=Leaf("Segment images", "a logit per pixel and channel", "binary, multi-label", rank=1),
)
