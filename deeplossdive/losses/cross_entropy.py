"""Cross-entropy (from logits) and negative log-likelihood (from log-probabilities)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import P_T, TWO_CLASSES, Axis, Leaf, Plot, class0, describe, two_class
from deeplossdive._base import Loss
from deeplossdive._numerics import LOW_PRECISION, upcast
from deeplossdive._reduction import Reduction, check_reduction, weighted_mean
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    UNIT,
    check_class_indices,
    check_class_or_probability_target,
    check_class_scores,
    check_class_weight,
    check_floating,
    check_interval,
    check_min_ndim,
    check_non_positive_log_probabilities,
    check_num_classes,
    check_probability_rows,
)

_BINARY_HINT = "one logit per sample is a binary problem: use binary_cross_entropy_with_logits"


def _as(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    # `.to` costs a few microseconds even when it does nothing; this is the hot path.
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def _class_weight_total(target: Tensor, weight: Tensor | None, ignore_index: int) -> Tensor:
    r"""$\sum_n w_{y_n}$ over the elements whose target is not `ignore_index` (a count without
    `weight`): the denominator of the weighted mean."""
    valid = target != ignore_index
    if weight is None:
        return torch.count_nonzero(valid)
    safe = torch.where(valid, target, torch.zeros_like(target))
    return (weight[safe] * valid).sum()


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy between the softmax of `logits` and a target class or distribution.

    With $\log p_n = \operatorname{log\_softmax}(x_n)$ over the $C$ classes, class weights
    $w_c$ (1 without `weight`) and the target distribution $y_n$ (one-hot for a class index),
    smoothed as $q_n = (1 - \varepsilon)\, y_n + \varepsilon / C$, the unreduced loss is

    $$
    \ell_n = -\sum_{c=1}^{C} w_c\, q_{n,c} \log p_{n,c},
    $$

    which for a class index $y_n$ and $\varepsilon = 0$ is $-w_{y_n} \log p_{n, y_n}$. The
    smoothed target gives $\varepsilon / C$ to *every* class, the true one included (not
    $\varepsilon / (C - 1)$ to the others). `"mean"` is
    $\sum_n \ell_n / \sum_n \bar w_n$ with $\bar w_n = \sum_c w_c\, y_{n,c}$ the weight of the
    *unsmoothed* target: $w_{y_n}$ for a class index, 0 for an element whose target is
    `ignore_index`, 1 for any probability target without `weight`. An all-ignored batch gives 0.

    For class indices every reduction equals
    [`torch.nn.functional.cross_entropy`](https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html),
    label smoothing and `weight` included, except that torch's all-ignored `"mean"` is NaN. For
    probability targets with `weight`, torch's `"mean"` divides by the number of elements $N$
    instead of $\sum_n \bar w_n$; ours makes a one-hot probability target give the same mean as
    its class index. Without `weight` the two agree.

    `z_loss` $= \zeta \ge 0$ adds PaLM's auxiliary loss (Chowdhery et al., 2022, section 5;
    see the page), which pulls the
    log-partition $z_n = \operatorname{logsumexp}_c x_{n,c}$ towards 0 so that the logits do not
    drift upwards: the unreduced loss becomes $\ell_n + \zeta\, m_n z_n^2$ with $m_n = 0$ for an
    element whose target is `ignore_index` and 1 otherwise, and `"mean"` adds
    $\zeta \sum_n m_n z_n^2 / \sum_n m_n$: a plain mean over the counted elements, *not* weighted
    by `weight` (the cross-entropy term keeps its weighted mean). That is Liger-Kernel's
    `lse_square_scale` $= \zeta$, with its reduction. With $\zeta = 0$ (the default) nothing is
    added and the computation is torch's kernel alone; with $\zeta > 0$, float16 and bfloat16
    logits get a float32 copy for $z_n$, held until the backward pass (for logits over a
    vocabulary, [`linear_cross_entropy`][deeplossdive.functional.linear_cross_entropy] computes
    $z_n$ chunk by chunk).

    The computation is torch's fused kernel; this function adds the checks. float16 and bfloat16
    logits go to it as they are, without a float32 copy (which would double the memory): its
    log-softmax and NLL accumulate in float32 and round only what they return, and the mean is
    taken in float32. The result has the input dtype.

    Args:
        logits: Unnormalised scores (not probabilities), shape $(N, C)$ or
            $(N, C, d_1, \dots)$, $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, an integer tensor of shape $(N)$ or
            $(N, d_1, \dots)$; or class probabilities, a floating-point tensor of the shape of
            `logits` whose entries along dimension 1 sum to 1 (within 0.01).
        weight: Optional per-class weights $w_c$, shape $(C)$.
        ignore_index: Class-index target value whose elements contribute nothing, neither to the
            sum nor to the mean's denominator. Probability targets accept only the default.
        label_smoothing: $\varepsilon \in [0, 1]$.
        z_loss: $\zeta \ge 0$, the weight of the auxiliary loss $z_n^2$.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ or $(N, d_1, \dots)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits` or `weight` is not floating point, a target of class-index shape is
            not integer.
        ValueError: `target` has neither shape, an integer target has the shape of `logits`
            (one-hot), $C < 2$, `label_smoothing` outside $[0, 1]$, `z_loss` negative or not
            finite, `ignore_index` with
            probability targets, an unknown `reduction`, or (with value checks on) a label
            outside $[0, C)$ that is not `ignore_index`, or probabilities outside $[0, 1]$ or
            not summing to 1.

    Examples:
        An undecided sample and a sample that gives its class $p = 3/5$:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import cross_entropy
        >>> logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(3.0), 0.0, 0.0]])
        >>> cross_entropy(logits, torch.tensor([2, 0]), reduction="none")
        tensor([1.0986, 0.5108])

        That is $\log 3$ and $-\log 0.6$. The same targets as probabilities, and label
        smoothing $\varepsilon = 0.3$ on two classes ($q = (0.85, 0.15)$, $p = (2/3, 1/3)$):

        >>> probs = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
        >>> cross_entropy(logits, probs, reduction="none")
        tensor([1.0986, 0.5108])
        >>> two = torch.tensor([[math.log(2.0), 0.0]])
        >>> cross_entropy(two, torch.tensor([0]), label_smoothing=0.3)
        tensor(0.5094)

        which is $-(0.85 \log \tfrac23 + 0.15 \log \tfrac13)$. With `z_loss`, the undecided
        sample's $z = \log 3$ adds $\zeta (\log 3)^2 = 0.1 \times 1.2069$:

        >>> cross_entropy(logits[:1], torch.tensor([2]), z_loss=0.1)
        tensor(1.2193)
    """
    fn = "cross_entropy"
    check_floating(fn, "logits", logits)
    check_min_ndim(fn, "logits", logits, 2, "(N, C, ...)")
    num_classes = check_num_classes(fn, "logits", logits, _BINARY_HINT)
    probabilities = check_class_or_probability_target(fn, "logits", logits, target)
    check_interval(fn, "label_smoothing", label_smoothing, UNIT)
    check_interval(fn, "z_loss", z_loss, NON_NEGATIVE_FINITE)
    check_reduction(fn, reduction)
    if weight is not None:
        check_class_weight(fn, "weight", weight, num_classes)
    if probabilities:
        if ignore_index != -100:
            raise ValueError(
                f"{fn}: ignore_index must be the default -100 with probability targets (it "
                f"applies to class indices only), got {ignore_index}"
            )
        check_probability_rows(fn, "target", target)
    else:
        check_class_indices(fn, target, num_classes, ignore_index)

    # No float32 copy of float16/bfloat16 logits: torch's log-softmax and NLL kernels accumulate
    # in float32 and round only their outputs.
    work_weight = None if weight is None else _as(weight, logits.dtype)
    if probabilities:
        target = _as(target, logits.dtype)
    elif target.dtype != torch.long:
        target = target.long()

    def torch_ce(torch_reduction: str) -> Tensor:
        return F.cross_entropy(
            logits,
            target,
            weight=work_weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=torch_reduction,
        )

    if z_loss == 0.0:
        return _cross_entropy(torch_ce, logits, target, weight, ignore_index, reduction)
    loss = _cross_entropy(torch_ce, logits, target, weight, ignore_index, reduction)
    return loss + _as(_z_loss(logits, target, ignore_index, z_loss, reduction), loss.dtype)


def _cross_entropy(
    torch_ce: Callable[[str], Tensor],
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: Reduction,
) -> Tensor:
    """The reduced cross-entropy (without the z-loss), `target` and `weight` checked."""
    probabilities = target.is_floating_point()
    if reduction != "mean":
        return torch_ce(reduction)
    if probabilities and weight is None:
        return torch_ce("mean")
    total = _total(torch_ce, logits)
    wide = None if weight is None else _as(weight, total.dtype)
    if probabilities and wide is not None:
        denominator = (target.movedim(1, -1) * wide).sum(dtype=total.dtype)
    else:
        denominator = _class_weight_total(target, wide, ignore_index)
    return _as(weighted_mean(total, denominator), logits.dtype)


def _z_loss(
    logits: Tensor, target: Tensor, ignore_index: int, z_loss: float, reduction: Reduction
) -> Tensor:
    r"""$\zeta\, m_n z_n^2$ reduced (the mean over the counted elements), in float32 for
    float16/bfloat16 logits: their log-sum-exp is taken on a float32 copy, because its rounding
    to float16 (a step of 0.06 at $z = 100$) would shift the softmax of its gradient by 6%."""
    square = torch.logsumexp(upcast(logits), dim=1).square()
    if target.is_floating_point():
        counted = None
    else:
        counted = target != ignore_index
        square = torch.where(counted, square, torch.zeros_like(square))
    if reduction == "none":
        return z_loss * square
    total = square.sum()
    if reduction == "sum":
        return z_loss * total
    count = torch.count_nonzero(counted) if counted is not None else square.numel()
    return z_loss * weighted_mean(total, torch.as_tensor(count, device=total.device))


def _total(loss: Callable[[str], Tensor], scores: Tensor) -> Tensor:
    """The sum of the unreduced loss, in float32 for float16/bfloat16 scores: a float16 sum of
    a large map overflows (65504), a bfloat16 one is rounded to 3 digits before the division."""
    if scores.dtype in LOW_PRECISION:
        return loss("none").sum(dtype=torch.float32)
    return loss("sum")


def nll_loss(
    log_probs: Tensor,
    target: Tensor,
    /,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Negative log-likelihood of the target class, from log-probabilities.

    With $\log p_{n,c}$ given (for example by `log_softmax`) and class weights $w_c$ (1 without
    `weight`), the unreduced loss is

    $$
    \ell_n = -w_{y_n} \log p_{n, y_n},
    $$

    and `"mean"` is $\sum_n \ell_n / \sum_n w_{y_n}$ over the elements whose target is not
    `ignore_index` (0 when all are ignored). `nll_loss(log_softmax(x), y)` is
    [`cross_entropy`][deeplossdive.functional.cross_entropy]`(x, y)`. Every reduction equals
    [`torch.nn.functional.nll_loss`](https://pytorch.org/docs/stable/generated/torch.nn.functional.nll_loss.html),
    except that torch's all-ignored `"mean"` is NaN. The loss only picks an entry and negates
    it: given probabilities instead of log-probabilities it would minimise $-p_{y_n}$, so the
    value checks reject positive entries. float16 and bfloat16 inputs go to torch's kernel as
    they are (it picks entries and sums in float32); the mean is taken in float32 and the result
    has the input dtype.

    Args:
        log_probs: Log-probabilities (values $\le 0$), shape $(N, C)$ or $(N, C, d_1, \dots)$,
            $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, an integer tensor of shape $(N)$ or
            $(N, d_1, \dots)$.
        weight: Optional per-class weights $w_c$, shape $(C)$.
        ignore_index: Target value whose elements contribute nothing, neither to the sum nor to
            the mean's denominator.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `target` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `log_probs` or `weight` is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, an unknown `reduction`, or (with value checks on)
            a label outside $[0, C)$ that is not `ignore_index`, or a positive entry of
            `log_probs`.

    Examples:
        Log-probabilities $\log(0.5, 0.25, 0.25)$ and $\log(0.1, 0.8, 0.1)$:

        >>> import torch
        >>> from deeplossdive.functional import nll_loss
        >>> log_probs = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]).log()
        >>> nll_loss(log_probs, torch.tensor([0, 1]), reduction="none")
        tensor([0.6931, 0.2231])
        >>> nll_loss(log_probs, torch.tensor([0, 1]), weight=torch.tensor([1.0, 3.0, 1.0]))
        tensor(0.3406)

        The second is $(0.6931 + 3 \times 0.2231) / (1 + 3)$.
    """
    fn = "nll_loss"
    num_classes = check_class_scores(fn, "log_probs", log_probs, target)
    check_reduction(fn, reduction)
    if weight is not None:
        check_class_weight(fn, "weight", weight, num_classes)
    check_class_indices(fn, target, num_classes, ignore_index)
    check_non_positive_log_probabilities(fn, "log_probs", log_probs)

    # torch's CPU backward of nll_loss on (N, C, d1, d2, ...) raises "grad_input must be
    # contiguous" for a permuted input such as log_softmax(out, -1).permute(0, 3, 1, 2). No
    # float32 copy of float16/bfloat16 input: the kernel picks entries and sums in float32.
    work = log_probs.contiguous()
    work_weight = None if weight is None else _as(weight, work.dtype)
    if target.dtype != torch.long:
        target = target.long()

    def torch_nll(torch_reduction: str) -> Tensor:
        return F.nll_loss(
            work, target, weight=work_weight, ignore_index=ignore_index, reduction=torch_reduction
        )

    if reduction != "mean":
        return torch_nll(reduction)
    total = _total(torch_nll, work)
    wide = None if weight is None else _as(weight, total.dtype)
    denominator = _class_weight_total(target, wide, ignore_index)
    return _as(weighted_mean(total, denominator), log_probs.dtype)


class CrossEntropyLoss(Loss[Reduction], function=cross_entropy):
    """Module form of [`cross_entropy`][deeplossdive.functional.cross_entropy]."""

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), label_smoothing=UNIT, z_loss=NON_NEGATIVE_FINITE)

    def extra_repr(self) -> str:
        # `z_loss` only when set, so that the representation of every other use stays as it was.
        return self.describe(() if self.z_loss else ("z_loss",))


class NLLLoss(Loss[Reduction], function=nll_loss):
    """Module form of [`nll_loss`][deeplossdive.functional.nll_loss]."""

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals())


def _nll(log_p: Tensor) -> Tensor:
    log_probs = torch.stack([log_p, torch.log1p(-torch.exp(log_p))], dim=1)
    return nll_loss(log_probs, class0(log_p), reduction="none")


describe(
    cross_entropy,
    family="Classification",
    task="Multi-class, segmentation",
    torch="`F.cross_entropy`",
    plot=Plot(
        P_T,
        TWO_CLASSES,
        {
            "cross-entropy": two_class(cross_entropy),
            "label_smoothing = 0.1": two_class(cross_entropy, label_smoothing=0.1),
        },
    ),
    chart=Leaf("Classify: one class per example", "C logits", "start here", rank=1),
)
describe(
    nll_loss,
    family="Classification",
    task="Multi-class, segmentation",
    torch="`F.nll_loss`",
    plot=Plot(
        Axis("$p_t$", (0.01, 0.99), "$\\log p_t$", torch.log),
        "Two classes, log-probabilities $(\\log p_t, \\log(1 - p_t))$, target class 0.",
        {"nll_loss": _nll},
    ),
    chart=Leaf("Classify: one class per example", "C log-probabilities"),
)
