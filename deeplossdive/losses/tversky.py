"""Tversky and focal Tversky loss: softmax (multi-class) and sigmoid (binary / multi-label)."""

from __future__ import annotations

from torch import Tensor

from deeplossdive._base import Loss
from deeplossdive._reduction import Reduction
from deeplossdive._validation import check_positive_finite
from deeplossdive.losses._overlap import (
    Aggregation,
    EmptyPolicy,
    OverlapStatistics,
    aggregate,
    check_overlap_options,
    overlap_loss,
    sigmoid_statistics,
    softmax_statistics,
)


def _tversky_ratio(
    stats: OverlapStatistics, smooth: float, alpha: float, beta: float
) -> tuple[Tensor, Tensor]:
    """Numerator and denominator of the smoothed Tversky index."""
    tp, fp, fn = stats.tp, stats.fp, stats.fn
    return tp + smooth, tp + alpha * fp + beta * fn + smooth


def _check_tversky_options(
    function: str, alpha: float, beta: float, gamma: float
) -> tuple[float, float, float]:
    return (
        check_positive_finite(function, "alpha", alpha),
        check_positive_finite(function, "beta", beta),
        check_positive_finite(function, "gamma", gamma),
    )


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
    counts of image $n$ and class $c$ summed over its valid pixels $i$,
    $TP_{nc} = \sum_i p_{nci}\, g_{nci}$, $FP_{nc} = \sum_i p_{nci} (1 - g_{nci})$ and
    $FN_{nc} = \sum_i (1 - p_{nci})\, g_{nci}$, the unreduced loss is

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

    `smooth`, `include_background`, `aggregation`, `ignore_index`, `empty` and the reductions
    are those of [`dice_loss`][deeplossdive.functional.dice_loss]; an empty entry's score sets
    its loss to $(1 - \text{score})^\gamma$. float16 and bfloat16 inputs are computed in float32
    and the result is returned in the input dtype.

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$, $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, shape $(N, d_1, \dots)$.
        alpha: Weight $\alpha > 0$ of the false positives.
        beta: Weight $\beta > 0$ of the false negatives.
        gamma: Exponent $\gamma > 0$ of the focal Tversky loss; 1 is the Tversky loss.
        smooth: $s \ge 0$, added to the numerator and the denominator.
        include_background: Whether class 0 takes part; `False` drops it ($C' = C - 1$).
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
        ValueError: Shapes disagree, $C < 2$, `alpha`, `beta` or `gamma` not a finite number $> 0$,
            `smooth` negative or infinite, an unknown `aggregation`, `empty` or `reduction`,
            `reduction="none"` with `distributed=True`, or (with value checks on) a label outside
            $[0, C)$ that is not `ignore_index`.

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
    alpha, beta, gamma = _check_tversky_options(fn, alpha, beta, gamma)
    smooth = check_overlap_options(
        fn,
        smooth=smooth,
        aggregation=aggregation,
        empty=empty,
        reduction=reduction,
        distributed=distributed,
    )
    stats = softmax_statistics(
        fn, logits, target, include_background=include_background, ignore_index=ignore_index
    )
    stats = aggregate(stats, aggregation, distributed=distributed)
    numerator, denominator = _tversky_ratio(stats, smooth, alpha, beta)
    loss = overlap_loss(
        numerator,
        denominator,
        stats,
        empty=empty,
        reduction=reduction,
        gamma=gamma,
        over_ranks=distributed and aggregation == "per_image",
    )
    return loss.to(logits.dtype)


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

    Each channel $c$ is its own binary mask (the loss of
    [Salehi et al., 2017](https://arxiv.org/abs/1706.05721), per channel). With
    $p = \sigma(x)$, targets $g \in [0, 1]$ and the soft counts of image $n$ and channel $c$
    summed over its pixels $i$,
    $TP_{nc} = \sum_i \min(p_{nci}, g_{nci})$, $FP_{nc} = \sum_i \max(p_{nci} - g_{nci}, 0)$
    and $FN_{nc} = \sum_i \max(g_{nci} - p_{nci}, 0)$ (for hard targets, $\sum_i p g$,
    $\sum_i p (1 - g)$ and $\sum_i (1 - p) g$; for soft ones, the counts of
    [Wang et al., 2023](https://arxiv.org/abs/2303.16296), so that the loss is smallest at
    $p = g$), the unreduced loss is

    $$
    \ell_{nc} = \left(1 - \frac{TP_{nc} + s}{TP_{nc} + \alpha\, FP_{nc} + \beta\, FN_{nc} + s}
    \right)^{\gamma}.
    $$

    $\alpha$, $\beta$ and $\gamma$ are those of
    [`tversky_loss`][deeplossdive.functional.tversky_loss]; `aggregation`, `empty` and the
    reductions those of [`sigmoid_dice_loss`][deeplossdive.functional.sigmoid_dice_loss].
    float16 and bfloat16 inputs are computed in float32 and the result is returned in the input
    dtype.

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$; $C = 1$ for a
            binary mask.
        target: Targets in $[0, 1]$ (hard or soft), floating point, the shape of `logits`.
        alpha: Weight $\alpha > 0$ of the false positives.
        beta: Weight $\beta > 0$ of the false negatives.
        gamma: Exponent $\gamma > 0$ of the focal Tversky loss; 1 is the Tversky loss.
        smooth: $s \ge 0$, added to the numerator and the denominator.
        aggregation: `"per_image"` (a ratio per image and channel) or `"batch"` (counts summed
            over the images, a ratio per channel).
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
        The loss: shape $(N, C)$ for `"none"` with `"per_image"`, $(C)$ for `"none"` with
        `"batch"`, a scalar otherwise.

    Raises:
        TypeError: `logits` or `target` is not floating point.
        ValueError: Shapes differ, `logits` has fewer than 2 dimensions, `alpha`, `beta` or `gamma`
            not a finite number $> 0$, `smooth` negative or infinite, an unknown `aggregation`,
            `empty` or `reduction`, `reduction="none"` with `distributed=True`, or (with value
            checks on) a target outside $[0, 1]$.

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
    alpha, beta, gamma = _check_tversky_options(fn, alpha, beta, gamma)
    smooth = check_overlap_options(
        fn,
        smooth=smooth,
        aggregation=aggregation,
        empty=empty,
        reduction=reduction,
        distributed=distributed,
    )
    stats = aggregate(sigmoid_statistics(fn, logits, target), aggregation, distributed=distributed)
    numerator, denominator = _tversky_ratio(stats, smooth, alpha, beta)
    loss = overlap_loss(
        numerator,
        denominator,
        stats,
        empty=empty,
        reduction=reduction,
        gamma=gamma,
        over_ranks=distributed and aggregation == "per_image",
    )
    return loss.to(logits.dtype)


class TverskyLoss(Loss[Reduction]):
    """Module form of [`tversky_loss`][deeplossdive.functional.tversky_loss].

    Args:
        alpha: Weight $\\alpha > 0$ of the false positives.
        beta: Weight $\\beta > 0$ of the false negatives.
        gamma: Exponent $\\gamma > 0$ (focal Tversky); 1 is the Tversky loss.
        smooth: $s \\ge 0$, added to the numerator and the denominator.
        include_background: Whether class 0 takes part.
        aggregation: `"per_image"` or `"batch"`.
        ignore_index: Target value to ignore.
        empty: `"one"`, `"zero"`, `"ignore"` or `"ignore_absent"`.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: The loss of the global batch of the process group (`"mean"`, `"sum"`).

    Shape:
        - logits: $(N, C, d_1, \\dots)$ or $(N, C)$.
        - target: $(N, d_1, \\dots)$ or $(N)$, integer class indices.
        - output: scalar; for `"none"`, $(N, C')$ per image or $(C')$ per batch.
    """

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
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.alpha, self.beta, self.gamma = _check_tversky_options(name, alpha, beta, gamma)
        self.smooth = check_overlap_options(
            name,
            smooth=smooth,
            aggregation=aggregation,
            empty=empty,
            reduction=reduction,
            distributed=distributed,
        )
        self.include_background = include_background
        self.aggregation: Aggregation = aggregation
        self.ignore_index = ignore_index
        self.empty: EmptyPolicy = empty
        self.distributed = distributed

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return tversky_loss(
            logits,
            target,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            smooth=self.smooth,
            include_background=self.include_background,
            aggregation=self.aggregation,
            ignore_index=self.ignore_index,
            empty=self.empty,
            reduction=self.reduction,
            distributed=self.distributed,
        )

    def extra_repr(self) -> str:
        distributed = ", distributed=True" if self.distributed else ""
        return (
            f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, smooth={self.smooth}, "
            f"include_background={self.include_background}, aggregation={self.aggregation!r}, "
            f"ignore_index={self.ignore_index}, empty={self.empty!r}, "
            f"{super().extra_repr()}{distributed}"
        )


class SigmoidTverskyLoss(Loss[Reduction]):
    """Module form of [`sigmoid_tversky_loss`][deeplossdive.functional.sigmoid_tversky_loss].

    Args:
        alpha: Weight $\\alpha > 0$ of the false positives.
        beta: Weight $\\beta > 0$ of the false negatives.
        gamma: Exponent $\\gamma > 0$ (focal Tversky); 1 is the Tversky loss.
        smooth: $s \\ge 0$, added to the numerator and the denominator.
        aggregation: `"per_image"` or `"batch"`.
        empty: `"one"`, `"zero"`, `"ignore"` or `"ignore_absent"`.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: The loss of the global batch of the process group (`"mean"`, `"sum"`).

    Shape:
        - logits: $(N, C, d_1, \\dots)$ or $(N, C)$.
        - target: the shape of `logits`, floating point in $[0, 1]$.
        - output: scalar; for `"none"`, $(N, C)$ per image or $(C)$ per batch.
    """

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
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.alpha, self.beta, self.gamma = _check_tversky_options(name, alpha, beta, gamma)
        self.smooth = check_overlap_options(
            name,
            smooth=smooth,
            aggregation=aggregation,
            empty=empty,
            reduction=reduction,
            distributed=distributed,
        )
        self.aggregation: Aggregation = aggregation
        self.empty: EmptyPolicy = empty
        self.distributed = distributed

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return sigmoid_tversky_loss(
            logits,
            target,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            smooth=self.smooth,
            aggregation=self.aggregation,
            empty=self.empty,
            reduction=self.reduction,
            distributed=self.distributed,
        )

    def extra_repr(self) -> str:
        distributed = ", distributed=True" if self.distributed else ""
        return (
            f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, smooth={self.smooth}, "
            f"aggregation={self.aggregation!r}, empty={self.empty!r}, "
            f"{super().extra_repr()}{distributed}"
        )
