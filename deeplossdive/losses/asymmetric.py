"""Asymmetric loss (ASL) for multi-label classification."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction
from deeplossdive._validation import (
    NON_NEGATIVE,
    Interval,
    check_floating,
    check_interval,
    check_same_shape,
    check_zero_one_labels,
    check_zero_one_labels_dtype,
)
from deeplossdive.losses.focal import elementwise_in_chunks, keep_gradient, kept_gradient

BELOW_ONE = Interval(0, 1, high_open=True)
"""$[0, 1)$: the interval of `clip` and `eps`."""


def asymmetric_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Asymmetric loss of [Ridnik et al., 2021](https://arxiv.org/abs/2009.14119) for
    multi-label classification: one logit per label, positives and negatives focused apart.

    With $p = \sigma(x)$ and the probability shifted by the margin $m$ (`clip`) for the
    negatives, $p_m = \max(p - m, 0)$, the unreduced loss of an element with label $t$ is

    $$
    \ell = \begin{cases}
        -(1 - p)^{\gamma_+} \log \max(p, \epsilon) & t = 1, \\
        -p_m^{\gamma_-} \log \max(1 - p_m, \epsilon) & t = 0.
    \end{cases}
    $$

    A negative whose probability is at most $m$ costs exactly 0 (hard thresholding of easy
    negatives); above it, $p_m^{\gamma_-}$ down-weights the easy ones (soft thresholding).
    With $m = 0$, $\gamma_+ = \gamma_- = \gamma$ and $\epsilon = 0$ this is
    [`sigmoid_focal_loss`][deeplossdive.functional.sigmoid_focal_loss] with `alpha=None`.
    `"mean"` averages over every element (sample × label), `"sum"` is the reference code's value
    (it returns the sum).

    The gradient is that of $\ell$ as written, through the focusing weights too (the reference's
    `AsymmetricLossOptimized` by default; its `AsymmetricLoss` detaches the weights by default,
    `disable_torch_grad_focal_loss=True`, and so gives smaller gradients: see the page). As in
    the reference, the probabilities are floored at $\epsilon$ inside the logarithm: an element
    costs at most $-\log \epsilon$ (18.42 for $10^{-8}$) and gets no gradient from the logarithm
    beyond; `eps=0` removes the floor. Computed from $\log \sigma(\pm x)$, finite at
    $|x| = 100$; float16 and bfloat16 inputs are computed in float32 and the result is returned
    in the input dtype.

    Args:
        logits: Unnormalised scores, one per label, any shape (usually $(N, C)$).
        target: Labels 0 or 1 (boolean, integer or floating point), the shape of `logits`. Soft
            targets are not accepted: the loss is asymmetric on purpose, and with a soft target
            it would not be smallest where the prediction equals the target.
        gamma_pos: Focusing exponent $\gamma_+ \ge 0$ of the positives. The paper uses 0.
        gamma_neg: Focusing exponent $\gamma_- \ge 0$ of the negatives. The paper uses 4.
        clip: Probability margin $m \in [0, 1)$ subtracted for the negatives. The paper uses 0.05.
        eps: Floor $\epsilon \in [0, 1)$ of the probabilities inside the logarithm.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `logits` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `target` is complex.
        ValueError: Shapes differ, `gamma_pos` or `gamma_neg` < 0, `clip` or `eps` outside
            $[0, 1)$, an unknown `reduction`, or (with value checks on) a label other than 0
            and 1.

    Examples:
        An undecided positive, an undecided negative and an easy negative ($p = 0.047 < m$):

        >>> import torch
        >>> from deeplossdive.functional import asymmetric_loss
        >>> logits = torch.tensor([0.0, 0.0, -3.0])
        >>> target = torch.tensor([1.0, 0.0, 0.0])
        >>> asymmetric_loss(logits, target, reduction="none")
        tensor([0.6931, 0.0245, 0.0000])

        The positive is $\log 2$ ($\gamma_+ = 0$: its cross-entropy); the undecided negative is
        $0.45^4 \cdot (-\log 0.55) = 0.0410 \cdot 0.5978$, 28 times less than its cross-entropy.
    """
    fn = "asymmetric_loss"
    check_floating(fn, "logits", logits)
    check_zero_one_labels_dtype(fn, "target", target)
    check_same_shape(fn, "target", target, "logits", logits)
    check_interval(fn, "gamma_pos", gamma_pos, NON_NEGATIVE)
    check_interval(fn, "gamma_neg", gamma_neg, NON_NEGATIVE)
    check_interval(fn, "clip", clip, BELOW_ONE)
    check_interval(fn, "eps", eps, BELOW_ONE)
    check_reduction(fn, reduction)
    check_zero_one_labels(fn, "target", target)

    work = upcast(logits)
    positive = target != 0
    floor = math.log(eps) if eps > 0 else -math.inf
    options = (float(gamma_pos), float(gamma_neg), float(clip), floor)
    if torch.is_grad_enabled() and work.requires_grad:
        reduced: Tensor = _Asymmetric.apply(  # type: ignore[no-untyped-call]
            work, positive, options, reduction
        )
    else:
        reduced, _ = elementwise_in_chunks(
            lambda x, t: _asymmetric_terms(x, t, *options, with_gradient=False),
            work,
            positive,
            reduction,
            with_gradient=False,
        )
    return reduced.to(logits.dtype)


class _Asymmetric(torch.autograd.Function):
    """The asymmetric loss, reduced, whose gradient is computed alongside the value.

    As [`_SigmoidFocal`][deeplossdive.losses.focal._SigmoidFocal]: the gradient w.r.t. the
    logits ([`_asymmetric_terms`][deeplossdive.losses.asymmetric._asymmetric_terms]) is formed
    in the forward pass, chunk by chunk on the CPU, and is the only tensor kept for the backward
    pass. Second derivatives are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: Tensor,
        positive: Tensor,
        options: tuple[float, float, float, float],
        reduction: Reduction,
    ) -> Tensor:
        loss, gradient = elementwise_in_chunks(
            lambda x, t: _asymmetric_terms(x, t, *options, with_gradient=True),
            logits,
            positive,
            reduction,
            with_gradient=True,
        )
        keep_gradient(ctx, gradient, reduction)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return kept_gradient(ctx, grad), None, None, None


def _asymmetric_terms(
    logits: Tensor,
    positive: Tensor,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    floor: float,
    *,
    with_gradient: bool,
) -> tuple[Tensor, Tensor | None]:
    r"""The unreduced asymmetric loss and (optionally) its derivative w.r.t. `logits`.

    With $p = \sigma(x)$, $\bar p = \sigma(-x) = 1 - p$, $\lambda = \max(\log p, \log \epsilon)$
    and weight $w_+ = \bar p^{\gamma_+}$, a positive's $\ell = -w_+ \lambda$ has

    $$
    \frac{\partial \ell}{\partial x} = w_+ \bigl(\gamma_+\, p\, \lambda
        - \bar p\, [\log p \ge \log \epsilon]\bigr).
    $$

    A negative, with $\mu = \max(\log(1 - p_m), \log \epsilon)$ and $w_- = p_m^{\gamma_-}$,
    $\ell = -w_- \mu$: for $m = 0$ ($\log(1 - p_m) = \log \bar p$)
    $\partial \ell / \partial x = w_- (p\, [\log \bar p \ge \log \epsilon]
    - \gamma_-\, \bar p\, \mu)$; for $m > 0$ ($\log(1 - p_m) = \min(\log(\bar p + m), 0)$)

    $$
    \frac{\partial \ell}{\partial x} = p\, \bar p \Bigl(
        w_- \frac{[\log(\bar p + m) \le 0]\,[\log(1 - p_m) \ge \log \epsilon]}{\bar p + m}
        - \gamma_-\, \mu\, \frac{w_-}{p_m}\Bigr),
    $$

    with $w_- / p_m = p_m^{\gamma_- - 1}$ finite for $p_m > 0$ and the term 0 for $p \le m$
    ($w_- = 0$), so also finite at $p = m$ for $\gamma_- < 1$. The indicator brackets are where
    autograd's `clamp_min` / `clamp_max` of the composite pass the gradient (at equality too).
    The values are computed with the operations of the composite formula, in the same order.
    """
    log_p, log_q = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_log = log_p.clamp_min(floor)
    # 0 - log(...) rather than neg(): a loss of exactly 0 prints as 0, not -0.
    pos_loss = 0.0 - pos_log
    pos_weight = None if gamma_pos == 0 else torch.exp(gamma_pos * log_q)
    if pos_weight is not None:
        pos_loss = pos_loss * pos_weight

    p = q = above_shifted = None
    if clip == 0:
        # p_m = p: log(1 - p_m) = log sigma(-x), and p_m^gamma = exp(gamma log sigma(x)).
        log_keep = log_q
        neg_weight = None if gamma_neg == 0 else torch.exp(gamma_neg * log_p)
    else:
        # 1 - p_m = min(1 - p + m, 1) = min(sigma(-x) + m, 1): log 0 = no loss wherever p <= m.
        # (sigma(-x) + m >= m keeps its relative precision; no tensor made from m, which on a
        # GPU would be a copy from the host.)
        p, q = torch.sigmoid(logits), torch.sigmoid(-logits)
        q_plus_clip = q + clip
        log_unclamped = torch.log(q_plus_clip)
        log_keep = log_unclamped.clamp_max(0.0)
        neg_weight = None
        if gamma_neg != 0:
            shifted = p - clip
            above = shifted > 0
            # p_m where p > m, else 1: the divisor of p_m^gamma / p_m (0 there, as the weight).
            above_shifted = torch.where(above, shifted, 1.0)
            neg_weight = torch.where(above, above_shifted.pow(gamma_neg), 0.0)
    neg_log = log_keep.clamp_min(floor)
    neg_loss = 0.0 - neg_log
    if neg_weight is not None:
        neg_loss = neg_loss * neg_weight
    loss = torch.where(positive, pos_loss, neg_loss)
    if not with_gradient:
        return loss, None

    if p is None or q is None:
        p, q = torch.sigmoid(logits), torch.sigmoid(-logits)
    pos_grad = torch.where(log_p >= floor, q, 0.0).neg_()
    if pos_weight is not None:
        pos_grad = pos_grad.addcmul_(p, pos_log, value=gamma_pos).mul_(pos_weight)
    if clip == 0:
        neg_grad = torch.where(log_q >= floor, p, 0.0)
        if neg_weight is not None:
            neg_grad = neg_grad.addcmul_(q, neg_log, value=-gamma_neg).mul_(neg_weight)
    else:
        passed = (log_unclamped <= 0.0) & (log_keep >= floor)
        neg_grad = torch.where(passed, torch.reciprocal(q_plus_clip), 0.0)
        if neg_weight is not None and above_shifted is not None:
            neg_grad = neg_grad.mul_(neg_weight).sub_(
                neg_log.mul(neg_weight).div_(above_shifted), alpha=gamma_neg
            )
        neg_grad = neg_grad.mul_(p).mul_(q)
    return loss, torch.where(positive, pos_grad, neg_grad)


class AsymmetricLoss(Loss[Reduction], function=asymmetric_loss):
    """Module form of [`asymmetric_loss`][deeplossdive.functional.asymmetric_loss]."""

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(
            locals(), gamma_pos=NON_NEGATIVE, gamma_neg=NON_NEGATIVE, clip=BELOW_ONE, eps=BELOW_ONE
        )


def _one_label(label: float, **options: float) -> Curve:
    return lambda z: asymmetric_loss(z, torch.full_like(z, label), **options, reduction="none")


describe(
    asymmetric_loss,
    family="Classification",
    task="Multi-label with many negatives",
    torch="— (sum of `F.binary_cross_entropy_with_logits` when $\\gamma_\\pm = m = 0$)",
    plot=Plot(
        Axis("$z$", (-6.0, 6.0), "$z$"),
        "One label with logit $z$, $p = \\sigma(z)$; positives with $\\gamma_+ = 0$, negatives "
        "with the paper's $\\gamma_- = 4$ with and without the margin $m$.",
        {
            "positive, γ+ = 0": _one_label(1.0),
            "negative, γ− = 0, m = 0 (BCE)": _one_label(0.0, gamma_neg=0.0, clip=0.0),
            "negative, γ− = 4, m = 0": _one_label(0.0, clip=0.0),
            "negative, γ− = 4, m = 0.05": _one_label(0.0),
        },
    ),
    chart=Leaf("Binary or multi-label", "one logit per label", "many negatives per sample", rank=3),
)
