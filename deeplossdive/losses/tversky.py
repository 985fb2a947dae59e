"""Tversky and focal Tversky loss: softmax (multi-class) and sigmoid (binary / multi-label)."""

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
from deeplossdive._validation import NON_NEGATIVE_FINITE, POSITIVE_FINITE, check_interval
from deeplossdive.losses._overlap import Aggregation, EmptyPolicy
from deeplossdive.losses._overlap_pipeline import Classes, OverlapOptions, Ratio, overlap


def _tversky(function: str, alpha: float, beta: float, gamma: float) -> tuple[Ratio, float]:
    """The ratio of the smoothed Tversky index, and the exponent, from checked options."""
    alpha, beta, gamma = (
        check_interval(function, name, value, POSITIVE_FINITE)
        for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma))
    )

    return Ratio(1.0, 1.0, alpha, beta), gamma


_INTERVALS = {
    "smooth": NON_NEGATIVE_FINITE,
    **dict.fromkeys(("alpha", "beta", "gamma"), POSITIVE_FINITE),
}
"""The intervals of the modules' real options."""


def tversky_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    smooth: float = 1e-5,
    include_background: bool = True,
    aggregation: Aggregation = "per_image",
    ignore_index: int = -100,
    empty: EmptyPolicy = "one",
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""(Focal) Tversky loss of the softmax of `logits` against class indices, per (image, class).

    With $p = \operatorname{softmax}(x)$ over the classes, $g$ the one-hot target and the soft
    counts $TP_{nc}$, $FP_{nc}$ and $FN_{nc}$ of image $n$ and class $c$ of
    [`dice_loss`][deeplossdive.functional.dice_loss], the unreduced loss is

    $$
    \ell_{nc} = \left(1 - \frac{TP_{nc} + s}{TP_{nc} + \alpha\, FP_{nc} + \beta\, FN_{nc} + s}
    \right)^{\gamma}.
    $$

    The ratio is the Tversky index of
    [Salehi et al., 2017](https://arxiv.org/abs/1706.05721): $\alpha$ weighs the false
    positives, $\beta$ the false negatives; $\beta > \alpha$ favours recall (small lesions).
    $\alpha = \beta = 1/2$ is the Dice coefficient (with the smoothing halved: Dice's
    $(2\,TP + s)/(\dots + s)$ is $(TP + s/2)/(\dots + s/2)$), and $\alpha = \beta = 1$ the
    Jaccard index.

    The exponent is the focal Tversky loss of
    [Abraham and Khan, 2019](https://arxiv.org/abs/1810.07842), who write it
    $(1 - TI)^{1/\gamma}$: their $\gamma = 4/3$ is `gamma=0.75` here (the exponent itself,
    as in their code and in segmentation_models_pytorch). $\gamma < 1$ raises the loss (and the
    gradient) of entries that are nearly right. They also swap the letters: their $\alpha = 0.7$
    weighs false negatives, so their setting is `alpha=0.3, beta=0.7` here. At a perfect entry,
    $1 - TI = 0$, the gradient is taken as 0 (its true value is infinite for $\gamma < 1$).

    The other arguments (`smooth`, `include_background`, `aggregation`, `ignore_index`, `empty`,
    `reduction`, `distributed`), the entries left out, the shapes and the dtypes are those of
    [`dice_loss`][deeplossdive.functional.dice_loss]; an empty entry's score sets its loss to
    $(1 - \text{score})^\gamma$.

    Args:
        alpha: Weight $\alpha > 0$ of the false positives.
        beta: Weight $\beta > 0$ of the false negatives.
        gamma: Exponent $\gamma > 0$ of the focal Tversky loss; 1 is the Tversky loss.

    Raises:
        TypeError: As for [`dice_loss`][deeplossdive.functional.dice_loss].
        ValueError: As for [`dice_loss`][deeplossdive.functional.dice_loss], or `alpha`, `beta`
            or `gamma` is not a finite number $> 0$.

    Examples:
        One image of four pixels, two classes; the softmax of $\log 3$ and $\log 1$ is
        $3/4$ and $1/4$. False negatives weigh more than false positives:

        >>> import torch
        >>> from deeplossdive.functional import tversky_loss
        >>> logits = torch.log(torch.tensor([[[3.0, 1.0, 1.0, 1.0], [1.0, 3.0, 3.0, 3.0]]]))
        >>> target = torch.tensor([[0, 0, 1, 1]])
        >>> tversky_loss(logits, target, alpha=0.3, beta=0.7, smooth=0.0, reduction="none")
        tensor([[0.4595, 0.3023]])

        Class 0 has $TP = 1$, $FP = 0.5$, $FN = 1$: $1 - 1/(1 + 0.15 + 0.7) = 0.4595$.
        Class 1 has $TP = 1.5$, $FP = 1$, $FN = 0.5$: $1 - 1.5/(1.5 + 0.3 + 0.35) = 0.3023$.
    """
    fn = "tversky_loss"
    ratio, gamma = _tversky(fn, alpha, beta, gamma)
    options = OverlapOptions(smooth, aggregation, empty, reduction, distributed)
    classes = Classes(include_background, ignore_index)
    return overlap(fn, ratio, logits, target, options, classes, gamma=gamma)


def sigmoid_tversky_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    smooth: float = 1e-5,
    aggregation: Aggregation = "per_image",
    empty: EmptyPolicy = "one",
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""(Focal) Tversky loss of the sigmoid of `logits`, per (image, channel).

    The loss $\ell_{nc}$ of [`tversky_loss`][deeplossdive.functional.tversky_loss], with its
    $\alpha$, $\beta$ and $\gamma$, and with each channel $c$ its own binary mask (the loss of
    [Salehi et al., 2017](https://arxiv.org/abs/1706.05721), per channel): $p = \sigma(x)$,
    targets $g \in [0, 1]$, and the soft counts $TP$, $FP$ and $FN$ of
    [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss], which make the loss
    smallest at $p = g$ for soft targets too.

    `alpha`, `beta` and `gamma` are those of
    [`tversky_loss`][deeplossdive.functional.tversky_loss]; the other arguments (`logits`,
    `target`, `smooth`, `aggregation`, `empty`, `reduction`, `distributed`), the shapes and the
    dtype of the result, and what there is not (a background class, `ignore_index`) are those of
    [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss].

    Raises:
        TypeError: As for [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss].
        ValueError: As for [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss], or
            `alpha`, `beta` or `gamma` is not a finite number $> 0$.

    Examples:
        One binary mask of four pixels with $p = (0.75, 0.5, 0.5, 0.25)$, the focal Tversky
        setting of Abraham and Khan:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import sigmoid_tversky_loss
        >>> logits = torch.tensor([[[math.log(3.0), 0.0, 0.0, -math.log(3.0)]]])
        >>> target = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> sigmoid_tversky_loss(
        ...     logits, target, alpha=0.3, beta=0.7, gamma=0.75, smooth=0.0, reduction="none"
        ... )
        tensor([[0.4792]])

        $TP = 1.25$, $FP = FN = 0.75$: $TI = 1.25/(1.25 + 0.225 + 0.525) = 0.625$ and
        $0.375^{0.75} = 0.4792$.
    """
    fn = "sigmoid_tversky_loss"
    ratio, gamma = _tversky(fn, alpha, beta, gamma)
    options = OverlapOptions(smooth, aggregation, empty, reduction, distributed)
    return overlap(fn, ratio, logits, target, options, gamma=gamma)


class TverskyLoss(Loss[Reduction], function=tversky_loss):
    """Module form of [`tversky_loss`][deeplossdive.functional.tversky_loss]."""

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        smooth: float = 1e-5,
        include_background: bool = True,
        aggregation: Aggregation = "per_image",
        ignore_index: int = -100,
        empty: EmptyPolicy = "one",
        reduction: Reduction = "mean",
        distributed: bool = False,
    ) -> None:
        super().__init__(locals(), **_INTERVALS)


class SigmoidTverskyLoss(Loss[Reduction], function=sigmoid_tversky_loss):
    """Module form of [`sigmoid_tversky_loss`][deeplossdive.functional.sigmoid_tversky_loss]."""

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        smooth: float = 1e-5,
        aggregation: Aggregation = "per_image",
        empty: EmptyPolicy = "one",
        reduction: Reduction = "mean",
        distributed: bool = False,
    ) -> None:
        super().__init__(locals(), **_INTERVALS)


# The settings of the plots: Dice's, then Abraham and Khan's, without and with the exponent.
_SETTINGS = {
    "α = β = 0.5": {},
    "α = 0.3, β = 0.7": {"alpha": 0.3, "beta": 0.7},
    "α = 0.3, β = 0.7, γ = 0.75": {"alpha": 0.3, "beta": 0.7, "gamma": 0.75},
}
describe(
    tversky_loss,
    family="Segmentation",
    task="Imbalanced segmentation (multi-class)",
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " Two classes (softmax), the foreground class only "
        "(`include_background=False`).",
        {
            label: softmax_small_object(tversky_loss, include_background=False, **options)
            for label, options in _SETTINGS.items()
        },
    ),
    chart=Leaf("Segment images", "C logits per pixel", "misses cost more", rank=2),
)
describe(
    sigmoid_tversky_loss,
    family="Segmentation",
    task="Imbalanced segmentation (binary, multi-label)",
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " One channel; $\\alpha$ weighs false positives, $\\beta$ false "
        "negatives.",
        {
            label: sigmoid_small_object(sigmoid_tversky_loss, **options)
            for label, options in _SETTINGS.items()
        },
    ),
    chart=Leaf("Segment images", "a logit per pixel and channel", "misses cost more", rank=2),
)
