"""Binary cross-entropy: from probabilities and from logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import Axis, Curve, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import compute_dtype
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    check_broadcasts_to,
    check_floating,
    check_in_unit_interval,
    check_same_shape,
)

# torch.nn.functional.binary_cross_entropy clamps each log at -100; so do we.
_LOG_FLOOR = -100.0


def _clamped_log(value: Tensor, positive: Tensor, log_of_safe: Tensor) -> Tensor:
    # max(log(value), -100) whose gradient is never NaN: where value == 0 the log is taken of a
    # stand-in (1), so autograd never divides 0 by 0; the clamp then makes the term flat there.
    return torch.where(positive, log_of_safe, _LOG_FLOOR).clamp_min(_LOG_FLOOR)


def _expanded_weight(
    fn: str, name: str, weight: Tensor, ref_name: str, ref: Tensor, dtype: torch.dtype
) -> Tensor:
    check_floating(fn, name, weight)
    check_broadcasts_to(fn, name, weight, ref_name, ref)
    return weight.to(device=ref.device, dtype=dtype).expand(ref.shape)


def binary_cross_entropy(
    probs: Tensor,
    target: Tensor,
    /,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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
    returns $(p - t)/10^{-12}$ instead. float16 and bfloat16 inputs are computed in float32 and
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
    check_floating(fn, "probs", probs)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "probs", probs)
    check_reduction(fn, reduction)
    dtype = compute_dtype(probs)
    weights = (
        None if weight is None else _expanded_weight(fn, "weight", weight, "probs", probs, dtype)
    )
    check_in_unit_interval(fn, "probs", probs)
    check_in_unit_interval(fn, "target", target)

    p = probs.to(dtype)
    t = target.to(dtype)
    above_zero = p > 0
    below_one = p < 1
    log_p = _clamped_log(p, above_zero, torch.log(torch.where(above_zero, p, 1.0)))
    log_1mp = _clamped_log(1 - p, below_one, torch.log1p(-torch.where(below_one, p, 0.0)))
    # Written as a difference so that a perfect prediction gives +0.0, not -0.0.
    loss = -t * log_p - (1 - t) * log_1mp
    return reduce_loss(loss, reduction, weight=weights).to(probs.dtype)


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
    check_floating(fn, "logits", logits)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "logits", logits)
    check_reduction(fn, reduction)
    dtype = compute_dtype(logits)
    weights = (
        None if weight is None else _expanded_weight(fn, "weight", weight, "logits", logits, dtype)
    )
    pos_weights = (
        None
        if pos_weight is None
        else _expanded_weight(fn, "pos_weight", pos_weight, "logits", logits, dtype)
    )
    check_in_unit_interval(fn, "target", target)

    x = logits.to(dtype)
    t = target.to(dtype)
    positive_term = t * F.logsigmoid(x)
    if pos_weights is not None:
        positive_term = pos_weights * positive_term
    loss = -(positive_term + (1 - t) * F.logsigmoid(-x))
    return reduce_loss(loss, reduction, weight=weights).to(logits.dtype)


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
)
