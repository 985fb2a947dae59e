"""Binary cross-entropy: from probabilities and from logits."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import compute_dtype
from deeplossdive._reduction import Reduction, check_reduction, weighted_mean
from deeplossdive._validation import (
    check_broadcasts_to,
    check_floating,
    check_in_unit_interval,
    check_same_shape,
)

# torch.nn.functional.binary_cross_entropy clamps each log at -100; so do we.
_LOG_FLOOR = -100.0
_SMALLEST_UNCLAMPED = math.exp(_LOG_FLOOR)
"""Below this probability log(p) is clamped at -100: the term is flat, its derivative 0."""


def _bce_terms(probs: Tensor, target: Tensor) -> Tensor:
    r"""$t \min(-\log p, 100) + (1 - t) \min(-\log(1 - p), 100)$, elementwise.

    As a `lerp` between the two clamped logs: exact for hard targets, and $+0.0$ (never $-0.0$)
    at a perfect prediction.
    """
    neg_log_p = torch.log(probs).neg_().clamp_max_(-_LOG_FLOOR)
    neg_log_1mp = torch.log1p(-probs).neg_().clamp_max_(-_LOG_FLOOR)
    return torch.lerp(neg_log_1mp, neg_log_p, target)


class _BinaryCrossEntropy(torch.autograd.Function):
    r"""The loss with the gradient of the value it returns, written by hand.

    The value is torch's (each log clamped at $-100$); the gradient is
    $w\,[(1 - t)/(1 - p) - t/p]$ with each term 0 where its log is clamped, where torch's
    divides by $\max(p(1 - p), 10^{-12})$. torch's kernel is not used: it checks that every
    probability is in $[0, 1]$, which on a GPU is a device-side assertion even with the value
    checks off. `reduction` is `"none"`, `"sum"` or the plain `"mean"`. Saves the inputs, no
    intermediate; second derivatives are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any, probs: Tensor, target: Tensor, weight: Tensor | None, reduction: str
    ) -> Tensor:
        loss = _bce_terms(probs, target)
        if weight is not None:
            loss.mul_(weight)
        ctx.save_for_backward(probs, target, weight)
        ctx.reduction = reduction
        if reduction == "sum":
            return loss.sum()
        if reduction == "mean":
            return loss.mean()
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        probs, target, weight = ctx.saved_tensors
        if ctx.reduction == "mean":
            grad = grad / max(probs.numel(), 1)
        grad_probs = grad_target = grad_weight = None
        if ctx.needs_input_grad[0]:
            negative = torch.where(probs < 1, (1 - target) / (1 - probs), 0.0)
            positive = torch.where(probs >= _SMALLEST_UNCLAMPED, target / probs, 0.0)
            grad_probs = negative.sub_(positive).mul_(grad)
            if weight is not None:
                grad_probs.mul_(weight)
        if ctx.needs_input_grad[1]:
            log_p = torch.log(probs).clamp_min_(_LOG_FLOOR)
            log_1mp = torch.log1p(-probs).clamp_min_(_LOG_FLOOR)
            grad_target = log_1mp.sub_(log_p).mul_(grad)
            if weight is not None:
                grad_target.mul_(weight)
        if ctx.needs_input_grad[2]:
            grad_weight = _bce_terms(probs, target).mul_(grad)
        return grad_probs, grad_target, grad_weight, None


def _expanded_weight(
    fn: str, name: str, weight: Tensor, ref_name: str, ref: Tensor, dtype: torch.dtype
) -> Tensor:
    check_floating(fn, name, weight)
    check_broadcasts_to(fn, name, weight, ref_name, ref)
    return weight.to(device=ref.device, dtype=dtype).expand(ref.shape)


def _checked(
    fn: str, name: str, input: Tensor, target: Tensor, weight: Tensor | None, reduction: Reduction
) -> tuple[torch.dtype, Tensor | None]:
    """The checks of `input` (named `name`), `target`, `weight` and `reduction` that both forms
    share; returns the compute dtype and the weights, in it, expanded to the shape of `input`."""
    check_floating(fn, name, input)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, name, input)
    check_reduction(fn, reduction)
    dtype = compute_dtype(input)
    weights = None if weight is None else _expanded_weight(fn, "weight", weight, name, input, dtype)
    return dtype, weights


def _as(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def binary_cross_entropy(
    probs: Tensor, target: Tensor, /, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Binary cross-entropy of probabilities $p \in [0, 1]$ against targets $t \in [0, 1]$.

    Each element is an independent binary problem. With the log clamped at $-100$, as
    [`torch.nn.functional.binary_cross_entropy`](https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy.html)
    does, the unreduced loss is

    $$
    \ell = -w\,\bigl[t \max(\log p, -100) + (1 - t) \max(\log(1 - p), -100)\bigr],
    $$

    so a probability of exactly 0 or 1 on the wrong side costs 100 instead of $\infty$. With
    weights, `"mean"` is DeepLossDive's weighted mean $\sum w \ell / \sum w$, where torch divides
    by the number of elements; `"none"` and `"sum"` equal torch's. An empty input gives
    0 for `"mean"`.

    Prefer
    [`binary_cross_entropy_with_logits`][deeplossdive.functional.binary_cross_entropy_with_logits]
    whenever the probabilities come from a sigmoid: in float32 `torch.sigmoid(x)` is exactly 1.0
    from $x \approx 16.6$ on, and the loss of a confident mistake is then stuck at 100 with a zero
    gradient.

    The gradient is the derivative of the value returned,
    $\partial \ell / \partial p = w\,[(1 - t)/(1 - p) - t/p]$, wherever the clamp is inactive
    (torch's equals it wherever $p(1 - p) \ge 10^{-12}$). Where a log is clamped, that term is
    flat and contributes 0, so values and gradients stay finite at $p \in \{0, 1\}$; there torch
    returns $(p - t)/10^{-12}$ instead. This gradient is written by hand (one pass over the saved
    inputs, where autograd through the clamped logs would take a dozen): first derivatives only,
    a second one raises an error. float16 and bfloat16 inputs are computed in float32 and
    returned in the input dtype.

    Args:
        probs: Probabilities $p \in [0, 1]$, any shape.
        target: Targets $t \in [0, 1]$ (hard or soft), floating point, exactly the shape of
            `probs`: a target of shape $(N)$ against probs of shape $(N, 1)$ is an error.
        weight: Optional non-negative weights $w$ of a shape that broadcasts to `probs` without
            enlarging it: the shape of `probs`, $(C)$ for its last dimension (one weight per
            class of $(N, C)$ multi-label probabilities), $(N, 1)$ for one weight per sample,
            $(C, 1, 1)$ for $(N, C, H, W)$. It is expanded to the shape of `probs`, and every
            element counts with its own weight in the mean.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `probs` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `probs`, `target` or `weight` is not floating point.
        ValueError: `target`'s shape differs from that of `probs`, `weight` does not broadcast
            to it, an unknown `reduction`, or (with value checks on) a probability or target
            outside $[0, 1]$.

    Examples:
        An undecided positive, a confident right negative, a confident wrong negative:

        >>> import torch
        >>> from deeplossdive.functional import binary_cross_entropy
        >>> probs = torch.tensor([0.5, 0.1, 0.9])
        >>> target = torch.tensor([1.0, 0.0, 0.0])
        >>> binary_cross_entropy(probs, target, reduction="none")
        tensor([0.6931, 0.1054, 2.3026])

        That is $-\log 0.5$, $-\log 0.9$ and $-\log 0.1$. With weights $(1, 1, 2)$ the mean is
        $(0.6931 + 0.1054 + 2 \times 2.3026) / 4 = 1.3509$; torch divides by 3 and gives 1.8012:

        >>> binary_cross_entropy(probs, target, weight=torch.tensor([1.0, 1.0, 2.0]))
        tensor(1.3509)
    """
    fn = "binary_cross_entropy"
    dtype, weights = _checked(fn, "probs", probs, target, weight, reduction)
    check_in_unit_interval(fn, "probs", probs)
    check_in_unit_interval(fn, "target", target)

    p, t = _as(probs, dtype), _as(target, dtype)
    if reduction == "mean" and weights is not None:
        total = _BinaryCrossEntropy.apply(p, t, weights, "sum")  # type: ignore[no-untyped-call]
        return _as(weighted_mean(total, weights.sum()), probs.dtype)
    if reduction == "mean" and p.numel() == 0:
        reduction = "sum"  # the mean of nothing is 0 (torch: NaN)
    loss: Tensor = _BinaryCrossEntropy.apply(p, t, weights, reduction)  # type: ignore[no-untyped-call]
    return _as(loss, probs.dtype)


def binary_cross_entropy_with_logits(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Binary cross-entropy of logits $x$ (probability $\sigma(x)$) against targets $t \in [0, 1]$.

    Each element is an independent binary problem: one sigmoid per element, no softmax, so
    multi-label targets (several classes present at once) are fine. The unreduced loss is

    $$
    \ell = -w\,\bigl[q\,t \log \sigma(x) + (1 - t) \log \sigma(-x)\bigr],
    $$

    with $q$ the `pos_weight` (1 when not given), computed with `logsigmoid`: exact and finite
    for any $x$, where $\log(\sigma(x))$ computed as written is $-\infty$ from $x \approx -88.7$
    in float32. Its gradient is
    $\partial \ell / \partial x = w\,[(1 + (q - 1)t)\,\sigma(x) - q\,t]$, which is
    $w\,(\sigma(x) - t)$ without `pos_weight`.

    `pos_weight` multiplies the positive term inside $\ell$ (a positive counts as $q$ copies of
    itself), so `"mean"` is the plain mean over the elements, exactly as in
    [`torch.nn.functional.binary_cross_entropy_with_logits`](https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy_with_logits.html).
    `weight` is a weight in DeepLossDive's sense: `"mean"` is
    $\sum w \ell / \sum w$, where torch divides by the number of elements; `"none"` and `"sum"`
    equal torch's. An empty input gives 0 for `"mean"`. float16 and bfloat16 inputs are computed
    in float32 and returned in the input dtype.

    Args:
        logits: Unnormalised scores $x$, any shape.
        target: Targets $t \in [0, 1]$ (hard or soft), floating point, exactly the shape of
            `logits`.
        weight: Optional non-negative weights $w$ of a shape that broadcasts to `logits` without
            enlarging it (the shape of `logits`, $(C)$ for its last dimension, $(N, 1)$,
            $(C, 1, 1)$ for $(N, C, H, W)$); expanded to the shape of `logits`.
        pos_weight: Optional weights $q$ of the positive term, with the same shape rule: $(C)$
            is one weight per class along the **last** dimension, as in torch; for
            $(N, C, H, W)$ logits pass $(C, 1, 1)$. A common choice is
            $q_c = \#\text{negatives}_c / \#\text{positives}_c$.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `logits` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits`, `target`, `weight` or `pos_weight` is not floating point.
        ValueError: `target`'s shape differs from that of `logits`, `weight` or `pos_weight`
            does not broadcast to it, an unknown `reduction`, or (with value checks on) a
            target outside $[0, 1]$.

    Examples:
        An undecided positive, a confident right negative, a confident wrong negative:

        >>> import torch
        >>> from deeplossdive.functional import binary_cross_entropy_with_logits
        >>> logits = torch.tensor([0.0, -3.0, 3.0])
        >>> target = torch.tensor([1.0, 0.0, 0.0])
        >>> binary_cross_entropy_with_logits(logits, target, reduction="none")
        tensor([0.6931, 0.0486, 3.0486])

        These are $\log 2$ and $\log(1 + e^{\mp 3})$. A `pos_weight` of 3 triples the positive
        only; the mean stays a plain mean, $(3 \times 0.6931 + 0.0486 + 3.0486) / 3 = 1.7255$:

        >>> binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(3.0))
        tensor(1.7255)
    """
    fn = "binary_cross_entropy_with_logits"
    dtype, weights = _checked(fn, "logits", logits, target, weight, reduction)
    pos_weights = (
        None
        if pos_weight is None
        else _expanded_weight(fn, "pos_weight", pos_weight, "logits", logits, dtype)
    )
    check_in_unit_interval(fn, "target", target)

    x, t = _as(logits, dtype), _as(target, dtype)

    def torch_bce(torch_reduction: str) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            x, t, weight=weights, pos_weight=pos_weights, reduction=torch_reduction
        )

    if reduction == "mean" and weights is not None:
        return _as(weighted_mean(torch_bce("sum"), weights.sum()), logits.dtype)
    if reduction == "mean" and x.numel() == 0:
        reduction = "sum"  # the mean of nothing is 0 (torch: NaN)
    return _as(torch_bce(reduction), logits.dtype)


class BCELoss(Loss[Reduction], function=binary_cross_entropy):
    """Module form of [`binary_cross_entropy`][deeplossdive.functional.binary_cross_entropy]."""

    def __init__(self, *, weight: Tensor | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


class BCEWithLogitsLoss(Loss[Reduction], function=binary_cross_entropy_with_logits):
    """Module form of
    [`binary_cross_entropy_with_logits`][deeplossdive.functional.binary_cross_entropy_with_logits].
    """

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        pos_weight: Tensor | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals())


def _bce(target: float) -> Curve:
    return lambda p: binary_cross_entropy(p, torch.full_like(p, target), reduction="none")


def _bce_with_logits(pos_weight: float | None) -> Curve:
    def loss(x: Tensor) -> Tensor:
        weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=x.dtype)
        return binary_cross_entropy_with_logits(
            x, torch.ones_like(x), pos_weight=weight, reduction="none"
        )

    return loss


describe(
    binary_cross_entropy,
    family="Classification",
    task="Binary, multi-label",
    torch="`F.binary_cross_entropy`",
    plot=Plot(
        Axis("$p$", (0.02, 0.98), "$p$"),
        "A predicted probability $p$ against a hard target 1 and a soft target 0.7.",
        {"t = 1": _bce(1.0), "t = 0.7": _bce(0.7)},
    ),
    chart=Leaf("Binary or multi-label", "probabilities"),
)
describe(
    binary_cross_entropy_with_logits,
    family="Classification",
    task="Binary, multi-label",
    torch="`F.binary_cross_entropy_with_logits`",
    plot=Plot(
        Axis("$y \\cdot x$", (-5.0, 5.0), "$x$"),
        "Target $t = 1$, so the margin $y \\cdot x$ with $y = 2t - 1$ is the logit $x$.",
        {"pos_weight = None": _bce_with_logits(None), "pos_weight = 4": _bce_with_logits(4.0)},
    ),
    chart=Leaf("Binary or multi-label", "one logit per label", "start here", rank=1),
)
