"""Generalized Dice loss (Sudre et al., 2017): softmax (multi-class) and sigmoid (multi-label)."""

from __future__ import annotations

import math
from typing import Final, Literal

import torch
from torch import Tensor

from deeplossdive._about import (
    OVERLAP,
    SEGMENTATION_SETUP,
    Curve,
    Leaf,
    Plot,
    describe,
    softmax_small_object,
)
from deeplossdive._base import Loss
from deeplossdive._reduction import Reduction, check_reduction
from deeplossdive._validation import NON_NEGATIVE_FINITE, check_choice, check_interval
from deeplossdive.losses._overlap import (
    OverlapStatistics,
    overlap_tail,
    sigmoid_statistics,
    softmax_statistics,
)

WeightType = Literal["square", "simple", "uniform"]
"""The class weight of an image as a function of the class's volume $V$: $1/V^2$, $1/V$ or 1."""
WEIGHT_TYPES: Final[tuple[WeightType, ...]] = ("square", "simple", "uniform")

_DICE: Final = (2.0, 2.0, 1.0, 1.0)
"""The ratio $(2\\,TP + s) / (2\\,TP + FP + FN + s)$, as the coefficients of `overlap_tail`."""


def class_weights(volume: Tensor, weight_type: WeightType) -> Tensor:
    r"""The weights $w_{nc}$ of the volumes $V_{nc} = \sum_i g_{nci}$, shape $(N, C)$.

    A weight that is not finite (an absent class, $V = 0$, or a volume so small that $1/V^2$
    overflows) becomes the largest finite weight of its image, 0 if it has none: MONAI's rule.
    Masked operations only: no host sync.
    """
    if weight_type == "uniform":
        return torch.ones_like(volume)
    weight = (volume * volume if weight_type == "square" else volume).reciprocal()
    infinite = weight.isinf()
    finite = weight.masked_fill(infinite, 0.0)
    return torch.where(infinite, finite.amax(dim=1, keepdim=True), finite)


def _generalized_dice(
    stats: OverlapStatistics, weight_type: WeightType, smooth: float, reduction: Reduction
) -> Tensor:
    """The per-image loss of the counts `stats` $(N, C')$, reduced over the images."""
    # V = TP + FN, exactly 0 for an absent class on every path; a function of the target only,
    # so it carries no gradient.
    weight = class_weights((stats.tp + stats.fn).detach(), weight_type)
    # Sum_c w_c TP_c, Sum_c w_c FP_c and Sum_c w_c FN_c in one product: (3, N) -> three (N, 1).
    pooled = torch.linalg.vecdot(torch.stack(stats[:3]), weight, dim=-1).unsqueeze(-1)
    tp, fp, fn = pooled.unbind(0)
    # An image without a valid pixel has support 0 in every class: left out of the mean.
    image = OverlapStatistics(tp, fp, fn, support=stats.support[:, :1])
    loss = overlap_tail(image, _DICE, smooth, empty="one", reduction=reduction)
    return loss.squeeze(1) if reduction == "none" else loss


def _check_options(function: str, weight_type: object, smooth: float, reduction: object) -> float:
    check_choice(function, "weight_type", weight_type, WEIGHT_TYPES)
    smooth = check_interval(function, "smooth", smooth, NON_NEGATIVE_FINITE)
    check_reduction(function, reduction)
    return smooth


def generalized_dice_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    weight_type: WeightType = "square",
    smooth: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized Dice loss of the softmax of `logits` against class indices, per image.

    The loss of [Sudre et al., 2017](https://arxiv.org/abs/1707.03237): one Dice ratio per image
    whose sums over the classes weigh each class by the inverse of its volume in that image,
    so that a small class counts as much as a large one. With $p = \operatorname{softmax}(x)$,
    the one-hot target $g$ and the soft counts $TP_{nc}$, $FP_{nc}$, $FN_{nc}$ of image $n$ and
    class $c$ of [`dice_loss`][deeplossdive.functional.dice_loss], the volume
    $V_{nc} = \sum_i g_{nci}$ (valid pixels only) and the class weights

    $$
    w_{nc} = \frac{1}{V_{nc}^2}\ (\texttt{"square"}), \quad
    \frac{1}{V_{nc}}\ (\texttt{"simple"}), \quad 1\ (\texttt{"uniform"}),
    $$

    the unreduced loss is

    $$
    \ell_n = 1 - \frac{2 \sum_c w_{nc}\, TP_{nc} + s}
    {\sum_c w_{nc}\, (2\,TP_{nc} + FP_{nc} + FN_{nc}) + s}.
    $$

    - **Absent classes.** A class absent from an image's target, $V_{nc} = 0$, has an infinite
      weight. It gets the largest finite weight of the image instead (MONAI's rule): its false
      positives cost as much as those of the image's rarest present class. An image none of
      whose classes is present (possible with `include_background=False`) has every weight 0:
      its ratio is $s / s$, a loss of 0 and no gradient whatever is predicted (0, not NaN, for
      $s = 0$ too). The same replacement applies to a weight that overflows.
    - The weights are functions of the target only and carry no gradient: the gradient is that
      of the ratio with $w$ held fixed.
    - An image whose pixels are all `ignore_index` is left out of the mean and is 0 in
      `"none"`. `"mean"` averages $\ell_n$ over the other images, `"sum"` adds them.

    float16 and bfloat16 inputs are computed in float32 and the result is returned in the input
    dtype.

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$, $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, shape $(N, d_1, \dots)$.
        weight_type: `"square"` (the paper's), `"simple"` or `"uniform"`.
        smooth: $s \ge 0$, added to the numerator and the denominator. With square weights the
            weighted sums are of the order of $\sum_c 1/V_c$, so the default $10^{-5}$ is not
            negligible for large classes: the page's pitfalls show by how much.
        include_background: Whether class 0 takes part; `False` drops it from the sums.
        ignore_index: Target value whose pixels contribute to no count and no volume.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, an unknown `weight_type` or `reduction`, `smooth`
            negative or infinite, or (with value checks on) a label outside $[0, C)$ that is not
            `ignore_index`.

    Examples:
        One image of four pixels, three of class 0 and one of class 1; the softmax of
        $\log 3$ and $\log 1$ is $3/4$ and $1/4$:

        >>> import torch
        >>> from deeplossdive.functional import generalized_dice_loss
        >>> logits = torch.log(torch.tensor([[[3.0, 1.0, 1.0, 1.0], [1.0, 3.0, 3.0, 3.0]]]))
        >>> target = torch.tensor([[0, 0, 0, 1]])
        >>> generalized_dice_loss(logits, target, smooth=0.0, reduction="none")
        tensor([0.5556])

        Class 0: $V = 3$, $w = 1/9$, $TP = 1.25$, $FP = 0.25$, $FN = 1.75$. Class 1: $V = 1$,
        $w = 1$, $TP = 0.75$, $FP = 1.75$, $FN = 0.25$. The ratio is
        $2 (1.25/9 + 0.75) / (4.5/9 + 3.5) = (16/9)/4 = 4/9$: a loss of $5/9$.
    """
    name = "generalized_dice_loss"
    smooth = _check_options(name, weight_type, smooth, reduction)
    stats = softmax_statistics(
        name, logits, target, include_background=include_background, ignore_index=ignore_index
    )
    return _generalized_dice(stats, weight_type, smooth, reduction).to(logits.dtype)


def sigmoid_generalized_dice_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    weight_type: WeightType = "square",
    smooth: float = 1e-5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized Dice loss of the sigmoid of `logits`, per image: binary and multi-label.

    The loss $\ell_n$ of
    [`generalized_dice_loss`][deeplossdive.functional.generalized_dice_loss]
    ([Sudre et al., 2017](https://arxiv.org/abs/1707.03237)), with each channel
    $c$ its own mask: $p = \sigma(x)$, targets $g \in [0, 1]$ (hard or soft), the soft counts of
    [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss] (smallest at $p = g$ for
    soft targets too) and the volumes $V_{nc} = \sum_i g_{nci}$. The weights, the rule for an
    absent channel, `smooth`, `reduction`, the shapes and the dtype of the result are those of
    `generalized_dice_loss`. There is no background class (select channels by slicing) and no
    `ignore_index`. With one channel the weight cancels out of the ratio but for `smooth`: the
    loss is the Dice loss with the smoothing $s / w$.

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$.
        target: Targets in $[0, 1]$, floating point, the shape of `logits`.

    Raises:
        TypeError: `logits` or `target` is not floating point.
        ValueError: Shapes differ, `logits` has fewer than 2 dimensions, an option is invalid
            (as for `generalized_dice_loss`), or (with value checks on) a target is outside
            $[0, 1]$.

    Examples:
        One image, two channels of four pixels, $p = 3/4$ or $1/4$:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import sigmoid_generalized_dice_loss
        >>> z = math.log(3.0)
        >>> logits = torch.tensor([[[z, z, -z, -z], [z, -z, -z, -z]]])
        >>> target = torch.tensor([[[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])
        >>> sigmoid_generalized_dice_loss(logits, target, smooth=0.0, reduction="none")
        tensor([0.3818])

        Channel 0: $V = 3$, $w = 1/9$, $TP = 1.75$, $FP = 0.25$, $FN = 1.25$. Channel 1: $V = 1$,
        $w = 1$, $TP = 0.75$, $FP = 0.75$, $FN = 0.25$. The ratio is
        $2 (1.75/9 + 0.75) / (5/9 + 2.5) = 34/55$: a loss of $21/55 = 0.3818$.
    """
    name = "sigmoid_generalized_dice_loss"
    smooth = _check_options(name, weight_type, smooth, reduction)
    stats = sigmoid_statistics(name, logits, target)
    return _generalized_dice(stats, weight_type, smooth, reduction).to(logits.dtype)


class GeneralizedDiceLoss(Loss[Reduction], function=generalized_dice_loss):
    """Module form of [`generalized_dice_loss`][deeplossdive.functional.generalized_dice_loss]."""

    def __init__(
        self,
        *,
        weight_type: WeightType = "square",
        smooth: float = 1e-5,
        include_background: bool = True,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), smooth=NON_NEGATIVE_FINITE)


class SigmoidGeneralizedDiceLoss(Loss[Reduction], function=sigmoid_generalized_dice_loss):
    """Module form of
    [`sigmoid_generalized_dice_loss`][deeplossdive.functional.sigmoid_generalized_dice_loss]."""

    def __init__(
        self,
        *,
        weight_type: WeightType = "square",
        smooth: float = 1e-5,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), smooth=NON_NEGATIVE_FINITE)


def _softmax_curve(**options: object) -> Curve:
    """`softmax_small_object` of `generalized_dice_loss`, whose `"none"` is one loss per image."""

    def loss(logits: Tensor, target: Tensor, *, reduction: Reduction) -> Tensor:
        value = generalized_dice_loss(logits, target, reduction=reduction, **options)  # type: ignore[arg-type]
        return value.unsqueeze(1)

    return softmax_small_object(loss)


def _two_channels(**options: object) -> Curve:
    """Channel 0: the small object; channel 1: a large object (3 pixels) at p = 0.5 throughout."""

    def loss(z: Tensor) -> Tensor:
        background = torch.full((z.shape[0], 3), math.log(0.05 / 0.95), dtype=z.dtype)
        small = torch.cat([z[:, None], background], dim=1)
        large = torch.zeros_like(small)  # p = 0.5
        logits = torch.stack([small, large], dim=1)  # (n, 2 channels, 4 pixels)
        target = torch.zeros_like(logits)
        target[:, 0, 0] = 1.0
        target[:, 1, 1:] = 1.0
        return sigmoid_generalized_dice_loss(logits, target, reduction="none", **options)  # type: ignore[arg-type]

    return loss


describe(
    generalized_dice_loss,
    family="Segmentation",
    task="Segmentation (multi-class, imbalanced classes)",
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " Two classes (softmax), background included: square weights make "
        "the one-pixel object weigh 9 times as much as the background of 3 pixels.",
        {f'weight_type="{kind}"': _softmax_curve(weight_type=kind) for kind in WEIGHT_TYPES},
    ),
    chart=Leaf("Segment images", "C logits per pixel", "rare classes count more", rank=1),
)
describe(
    sigmoid_generalized_dice_loss,
    family="Segmentation",
    task="Segmentation (multi-label, imbalanced channels)",
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " A second channel holds an object of the 3 other pixels, "
        "predicted at 0.5 throughout.",
        {f'weight_type="{kind}"': _two_channels(weight_type=kind) for kind in WEIGHT_TYPES},
    ),
    chart=Leaf(
        "Segment images", "a logit per pixel and channel", "rare channels count more", rank=1
    ),
)
