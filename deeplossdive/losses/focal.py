"""Focal loss: softmax (multi-class) and sigmoid (binary / multi-label)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._about import P_T, TWO_CLASSES, Curve, Leaf, Plot, describe, two_class
from deeplossdive._base import Loss
from deeplossdive._kernels import KERNEL_DTYPES, use_kernels
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE,
    UNIT,
    check_class_indices,
    check_class_scores,
    check_class_weight,
    check_floating,
    check_in_unit_interval,
    check_interval,
    check_same_shape,
)


def focal_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    gamma: float = 2.0,
    alpha: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-class (softmax) focal loss of [Lin et al., 2017](https://arxiv.org/abs/1708.02002).

    With $p_n = \operatorname{softmax}(x_n)$ over the classes and $p_{t} = p_{n, y_n}$ the
    probability of the true class, the unreduced loss is

    $$
    \ell_n = -\alpha_{y_n}\,(1 - p_{t})^{\gamma}\,\log p_{t},
    $$

    cross-entropy scaled down by $(1 - p_t)^\gamma$ for examples the model already gets right.
    The mean is $\sum_n \ell_n / \sum_n \alpha_{y_n}$ (each $\ell_n$ already carries its
    $\alpha_{y_n}$: the weighted mean of the unweighted losses) over the elements
    whose target is not `ignore_index`, exactly as
    [`torch.nn.functional.cross_entropy`](https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html)
    weighs `weight`; with $\gamma = 0$ the two are equal. An all-ignored batch gives 0.

    Both $\log p_t$ and $\log(1 - p_t) = \operatorname{logsumexp}_{j \ne y_n} x_{n,j} -
    \operatorname{logsumexp}_j x_{n,j}$ are computed in log space, so values and gradients stay
    finite at saturated logits and for $0 < \gamma < 1$. float16 and bfloat16 inputs are computed
    in float32 and the result is returned in the input dtype. `ignore_index`, `reduction` and the
    shape of the result are those of
    [`cross_entropy`][deeplossdive.functional.cross_entropy] with class indices.

    Args:
        logits: Unnormalised scores, shape $(N, C)$ or $(N, C, d_1, \dots)$, $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, shape $(N)$ or $(N, d_1, \dots)$.
        gamma: Focusing parameter $\gamma \ge 0$; $\gamma = 0$ is cross-entropy.
        alpha: Optional per-class weights $\alpha_c$, shape $(C)$. A scalar multiplying every
            class would only rescale the loss (a learning-rate factor), so it is not offered.

    Raises:
        TypeError: `logits` (or `alpha`) is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, `gamma` < 0, an unknown `reduction`, or (with
            value checks on) a label outside $[0, C)$ that is not `ignore_index`.

    Examples:
        Two samples whose true class is 0, one undecided, one confident:

        >>> import torch
        >>> from deeplossdive.functional import focal_loss
        >>> logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
        >>> target = torch.tensor([0, 0])
        >>> focal_loss(logits, target, gamma=2.0, reduction="none")
        tensor([0.1733, 0.0018])

        The first is $0.5^2 \cdot \log 2$; the second, with $p_t = e^2/(e^2+1) = 0.8808$, is
        $0.1192^2 \cdot 0.1269$, about 70 times less than its cross-entropy share.
    """
    fn = "focal_loss"
    num_classes = check_class_scores(fn, "logits", logits, target)
    check_interval(fn, "gamma", gamma, NON_NEGATIVE)
    check_reduction(fn, reduction)
    if alpha is not None:
        check_class_weight(fn, "alpha", alpha, num_classes)
    every_position_labelled = check_class_indices(fn, target, num_classes, ignore_index)

    if use_kernels(logits, target) and logits.dtype in KERNEL_DTYPES and logits.numel() > 0:
        from deeplossdive._kernels.focal import softmax_focal

        # One kernel reads the logits as they are (no float32 copy of half-precision ones),
        # skips ignored positions, weighs by alpha and reduces; one more writes the gradient.
        return softmax_focal(logits, target, ignore_index, float(gamma), alpha, reduction).to(
            logits.dtype
        )

    work = upcast(logits)
    if every_position_labelled:
        # Verified: nothing is ignored, so no mask is needed.
        valid, safe_target = None, target.long().unsqueeze(1)
    else:
        valid = (target != ignore_index).unsqueeze(1)
        safe_target = torch.where(valid, target.unsqueeze(1), 0).long()
    unreduced: Tensor = _SoftmaxFocal.apply(  # type: ignore[no-untyped-call]
        work, safe_target, valid, float(gamma)
    )
    loss = unreduced.squeeze(1)

    if alpha is None:
        # The loss is already 0 at ignored positions: their weight of 0 only changes the
        # mean's denominator, the number of valid positions.
        if valid is None or reduction != "mean":
            return reduce_loss(loss, reduction).to(logits.dtype)
        return (loss.sum() / valid.sum().clamp_(min=1)).to(logits.dtype)
    weight = None if valid is None else valid.squeeze(1).to(work.dtype)
    class_weight = alpha.to(work)[safe_target.squeeze(1)]
    weight = class_weight if weight is None else weight * class_weight
    return reduce_loss(loss, reduction, weight=weight).to(logits.dtype)


def sigmoid_focal_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Binary / multi-label (sigmoid) focal loss, the definition torchvision uses.

    Each element is an independent binary problem. With $p = \sigma(x)$,
    $p_t = p\,t + (1 - p)(1 - t)$ and $\alpha_t = \alpha\,t + (1 - \alpha)(1 - t)$, the unreduced
    loss is

    $$
    \ell = \alpha_t\,(1 - p_t)^{\gamma}\,\operatorname{BCE}(x, t), \qquad
    \operatorname{BCE}(x, t) = -t \log p - (1 - t) \log(1 - p),
    $$

    which for a hard target $t \in \{0, 1\}$ is $-\alpha_t (1 - p_t)^\gamma \log p_t$
    ([Lin et al., 2017](https://arxiv.org/abs/1708.02002)). `"mean"` averages over every element,
    as torchvision's `sigmoid_focal_loss` does; `alpha=None` drops $\alpha_t$ (torchvision's
    `alpha=-1`), and then $\gamma = 0$ is
    [`binary_cross_entropy_with_logits`](https://pytorch.org/docs/stable/generated/torch.nn.functional.binary_cross_entropy_with_logits.html).

    The factor is computed as $\exp(\gamma \log(1 - p_t))$ with
    $\log(1 - p_t) = \operatorname{logaddexp}(\log t + \log\sigma(-x),\ \log(1-t) + \log\sigma(x))$,
    so values and gradients stay finite at $|x| = 100$ and for $0 < \gamma < 1$, where
    torchvision's `(1 - p_t) ** gamma` has infinite slope at $1 - p_t = 0$ and gives NaN gradients.
    float16 and bfloat16 inputs are computed in float32 and returned in the input dtype.

    Args:
        logits: Unnormalised scores, any shape.
        target: Targets in $[0, 1]$ (hard or soft), floating point, the shape of `logits`.
        gamma: Focusing parameter $\gamma \ge 0$.
        alpha: Weight $\alpha \in [0, 1]$ of the positive class (negatives get $1 - \alpha$), or
            `None` for no balancing. The default 0.25 is the paper's, tuned together with
            $\gamma = 2$ for dense detection: it down-weights positives.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `logits` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits` or `target` is not floating point.
        ValueError: Shapes differ, `gamma` < 0, `alpha` outside $[0, 1]$, an unknown
            `reduction`, or (with value checks on) a target outside $[0, 1]$.

    Examples:
        A confident correct positive, an undecided positive, a confident wrong negative:

        >>> import torch
        >>> from deeplossdive.functional import sigmoid_focal_loss
        >>> logits = torch.tensor([3.0, 0.0, 3.0])
        >>> target = torch.tensor([1.0, 1.0, 0.0])
        >>> sigmoid_focal_loss(logits, target, gamma=2.0, alpha=None, reduction="none")
        tensor([1.0928e-04, 1.7329e-01, 2.7663e+00])

        The middle one is $0.5^2 \log 2$; the last, with $1 - p_t = \sigma(3) = 0.9526$, keeps
        91% of its cross-entropy $3.0486$.
    """
    fn = "sigmoid_focal_loss"
    check_floating(fn, "logits", logits)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "logits", logits)
    check_interval(fn, "gamma", gamma, NON_NEGATIVE)
    if alpha is not None:
        check_interval(fn, "alpha", alpha, UNIT)
    check_reduction(fn, reduction)
    check_in_unit_interval(fn, "target", target)

    if (
        use_kernels(logits, target)
        and logits.dtype in KERNEL_DTYPES
        and logits.numel() > 0
        and not (target.requires_grad and torch.is_grad_enabled())
    ):
        from deeplossdive._kernels.focal import sigmoid_focal

        # One kernel reads logits and targets as they are, value and (backward) gradient fused.
        return sigmoid_focal(logits, target, float(gamma), alpha, reduction).to(logits.dtype)
    work = upcast(logits)
    target = target.to(work.dtype)
    if target.requires_grad:
        # A target that carries a gradient (distillation) takes the differentiable composite.
        loss = _sigmoid_focal_composite(work, target, gamma, alpha)
    elif torch.is_grad_enabled() and work.requires_grad:
        reduced: Tensor = _SigmoidFocal.apply(  # type: ignore[no-untyped-call]
            work, target, float(gamma), alpha, reduction
        )
        return reduced.to(logits.dtype)
    else:
        reduced, _ = _sigmoid_focal_in_chunks(
            work, target, float(gamma), alpha, reduction, with_gradient=False
        )
        return reduced.to(logits.dtype)
    return reduce_loss(loss, reduction).to(logits.dtype)


def _sigmoid_focal_composite(
    work: Tensor, target: Tensor, gamma: float, alpha: float | None
) -> Tensor:
    """The unreduced sigmoid focal loss in differentiable operations (also w.r.t. `target`)."""
    log_p = F.logsigmoid(work)
    log_1mp = F.logsigmoid(-work)
    bce = -(target * log_p + (1 - target) * log_1mp)
    loss = torch.exp(gamma * _log_one_minus_pt(target, log_p, log_1mp)) * bce
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss


def _log_one_minus_pt(target: Tensor, log_p: Tensor, log_1mp: Tensor) -> Tensor:
    r"""$\log(1 - p_t) = \log(t\,\sigma(-x) + (1 - t)\,\sigma(x))$, exact at $|x| = 100$."""
    fixed = target.detach()
    log_1m_pt = torch.logaddexp(torch.log(fixed) + log_1mp, torch.log1p(-fixed) + log_p)
    if target.requires_grad:
        # Through log(t) the t-gradient at a hard target is 0 · inf. Add a term worth zero whose
        # t-gradient is the exact one, (sigma(-x) - sigma(x)) / (1 - p_t).
        one_minus_pt = torch.exp(log_1m_pt).clamp_min(torch.finfo(log_1m_pt.dtype).tiny)
        slope = ((torch.exp(log_1mp) - torch.exp(log_p)) / one_minus_pt).detach()
        log_1m_pt = log_1m_pt + slope * (target - fixed)
    return log_1m_pt


class _SoftmaxFocal(torch.autograd.Function):
    r"""Unreduced softmax focal loss with the hand-derived gradient of `docs/losses/focal.md`.

    Inputs: `logits` $(N, C, \dots)$ in the compute dtype, `target` $(N, 1, \dots)$ int64 with
    ignored positions set to 0, `valid` $(N, 1, \dots)$ bool, or None when no position is
    ignored. Output $(N, 1, \dots)$, 0 where not `valid`. The gradient is
    $s\,(p_j - [j = y])$ with the per-position scale
    $s = (1 - p_t)^\gamma \bigl(1 + \gamma\, p_t \tfrac{-\log p_t}{1 - p_t}\bigr)$, written
    as $(1 - p_t)^\gamma (1 + \gamma u)$ with $u = \tfrac{-\log p_t}{e^{-\log p_t} - 1}$
    (1 at $p_t = 1$), so that it stays finite at saturation and for $0 < \gamma < 1$. The
    autograd graph of the composite formula would keep and revisit a dozen $(N, C)$ tensors;
    this keeps one, the probabilities. Second derivatives are not implemented
    (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any, logits: Tensor, target: Tensor, valid: Tensor | None, gamma: float
    ) -> Tensor:
        if logits.shape[1] > 64:
            # Long rows: one softmax pass; the largest probability is 1 / sum_j exp(x_j - max),
            # so logsumexp = max - log(max_j p_j) costs two cheap reductions.
            probs = torch.softmax(logits, dim=1)
            log_norm = logits.amax(dim=1, keepdim=True) - probs.amax(dim=1, keepdim=True).log()
            neg_log_pt = log_norm - logits.gather(1, target)
        else:
            # Short rows: reductions over a few classes are slow; log_softmax gives log p_t.
            log_probs = torch.log_softmax(logits, dim=1)
            neg_log_pt = log_probs.gather(1, target).neg_()
            probs = torch.exp(log_probs)
            del log_probs
        # 1 - p_t as the sum of the other probabilities: exact where p_t is close to 1, and 0
        # (not negative) when the other classes are masked with -inf.
        # (The target's entry stays 0: the backward pass writes the gradient there directly.)
        probs.scatter_(1, target, 0.0)
        if valid is not None:
            # Ignored positions may hold NaN or inf: keep their probabilities finite so that
            # their zero gradient stays 0 instead of 0 * NaN.
            probs.nan_to_num_(0.0)
        one_minus_pt = probs.sum(dim=1, keepdim=True)
        factor = one_minus_pt.pow(gamma)
        ctx.save_for_backward(probs, target, valid, factor, neg_log_pt, one_minus_pt)
        ctx.gamma = gamma
        loss = factor * neg_log_pt
        return loss if valid is None else torch.where(valid, loss, 0.0)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        probs, target, valid, factor, neg_log_pt, one_minus_pt = ctx.saved_tensors
        gamma: float = ctx.gamma
        if gamma == 0:
            scale = grad
        else:
            # u = p_t (-log p_t) / (1 - p_t), in (0, 1]; 0 / 0 at p_t = 1 is its limit 1.
            u = torch.div(neg_log_pt, torch.expm1(neg_log_pt)).nan_to_num_(1.0)
            scale = torch.addcmul(factor, factor, u, value=gamma).mul_(grad)
        coef = scale if valid is None else torch.where(valid, scale, 0.0)
        out = probs * coef
        # At the target class: coef * (p_t - 1) = -coef * (1 - p_t).
        out.scatter_(1, target, torch.mul(coef, one_minus_pt).neg_())
        return out, None, None, None


class _SigmoidFocal(torch.autograd.Function):
    """Unreduced sigmoid focal loss whose gradient is computed alongside the value.

    The gradient w.r.t. the logits is formed in the forward pass from the same intermediates
    and is the only tensor kept for the backward pass: at most four tensors of the input's size
    are alive at any time (the composite formula keeps about ten for its backward pass). The
    output is already reduced with [`reduce_loss`][deeplossdive._reduction.reduce_loss].
    Second derivatives are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: Tensor,
        target: Tensor,
        gamma: float,
        alpha: float | None,
        reduction: Reduction,
    ) -> Tensor:
        # Reduced here, so that the backward pass scales the kept gradient by one number
        # instead of receiving the mean's gradient as a full tensor.
        loss, gradient = _sigmoid_focal_in_chunks(
            logits, target, gamma, alpha, reduction, with_gradient=True
        )
        keep_gradient(ctx, gradient, reduction)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return kept_gradient(ctx, grad), None, None, None, None


def keep_gradient(ctx: Any, gradient: Tensor | None, reduction: Reduction) -> None:
    """Keep the unreduced gradient formed in the forward pass of a loss reduced there."""
    ctx.save_for_backward(gradient)
    ctx.reduction = reduction


def kept_gradient(ctx: Any, grad: Tensor) -> Tensor:
    """The kept gradient times the incoming one (divided by the count for `"mean"`)."""
    (gradient,) = ctx.saved_tensors
    if ctx.reduction == "mean":
        grad = grad / max(gradient.numel(), 1)
    result: Tensor = gradient * grad
    return result


_CHUNK = 1 << 16
"""Elements per chunk on the CPU: the few buffers of one chunk (256 KiB each in float32) stay in
the L2 cache, where the same passes over the whole tensor would go to memory each time."""


def _sigmoid_focal_in_chunks(
    logits: Tensor,
    target: Tensor,
    gamma: float,
    alpha: float | None,
    reduction: Reduction,
    *,
    with_gradient: bool,
) -> tuple[Tensor, Tensor | None]:
    """The reduced loss and (optionally) its unreduced gradient:
    [`_sigmoid_focal_terms`][deeplossdive.losses.focal._sigmoid_focal_terms], chunk by chunk
    on the CPU ([`elementwise_in_chunks`][deeplossdive.losses.focal.elementwise_in_chunks])."""
    return elementwise_in_chunks(
        lambda x, t: _sigmoid_focal_terms(x, t, gamma, alpha, with_gradient=with_gradient),
        logits,
        target,
        reduction,
        with_gradient=with_gradient,
    )


def elementwise_in_chunks(
    terms: Callable[[Tensor, Tensor], tuple[Tensor, Tensor | None]],
    logits: Tensor,
    target: Tensor,
    reduction: Reduction,
    *,
    with_gradient: bool,
) -> tuple[Tensor, Tensor | None]:
    """The reduced loss and (optionally) its unreduced gradient of an element-wise loss whose
    `terms(logits, target)` give the unreduced loss and gradient (None without the gradient),
    chunk by chunk on the CPU. Shared by the sigmoid focal and the asymmetric loss.

    Their dozen element-wise passes each read and write every buffer; over the whole of a large
    tensor they run at memory speed, chunk by chunk at cache speed (about twice as fast for
    (65536, 80) on two cores). Elsewhere (CUDA: one kernel launch per pass and chunk), for small
    inputs and under `torch.compile` (which fuses the passes itself) the terms are computed in
    one piece. `"sum"` and `"mean"` add up the chunks' sums: no tensor of the loss's size.
    """
    if logits.device.type != "cpu" or logits.numel() <= _CHUNK or torch.compiler.is_compiling():
        loss, gradient = terms(logits, target)
        return reduce_loss(loss, reduction), gradient
    flat_logits, flat_target = logits.reshape(-1), target.reshape(-1)
    unreduced = torch.empty_like(flat_logits) if reduction == "none" else None
    sums = []
    gradient = torch.empty_like(flat_logits) if with_gradient else None
    for start in range(0, flat_logits.numel(), _CHUNK):
        part = slice(start, start + _CHUNK)
        part_loss, part_gradient = terms(flat_logits[part], flat_target[part])
        if unreduced is None:
            sums.append(part_loss.sum())
        else:
            unreduced[part] = part_loss
        if gradient is not None and part_gradient is not None:
            gradient[part] = part_gradient
    grad_out = None if gradient is None else gradient.view_as(logits)
    if unreduced is not None:
        return unreduced.view_as(logits), grad_out
    # reduce_loss's plain sum and mean, from the chunks' sums (numel > _CHUNK: never empty).
    total = torch.stack(sums).sum()
    if reduction == "sum":
        return total, grad_out
    return total / flat_logits.numel(), grad_out


def _sigmoid_focal_terms(
    logits: Tensor, target: Tensor, gamma: float, alpha: float | None, *, with_gradient: bool
) -> tuple[Tensor, Tensor | None]:
    r"""The unreduced sigmoid focal loss and (optionally) its derivative w.r.t. `logits`.

    With $p = \sigma(x)$, $\bar p = \sigma(-x)$ (each computed directly, so both keep their
    relative precision), $1 - p_t = (1 - t)\,p + t\,\bar p$ (exact at $t \in \{0, 1\}$)
    and $\operatorname{BCE} = \max(x, 0) - t x - \log \max(p, \bar p)$:

    $$
    \frac{\partial \ell}{\partial x} = \alpha_t (1 - p_t)^\gamma \Bigl[p - t
    + \gamma\,(1 - 2t)\,\frac{p\,\bar p}{1 - p_t}\,\operatorname{BCE}\Bigr],
    $$

    where $p \bar p / (1 - p_t) \le 1$, so the bracket is finite for every $\gamma \ge 0$, also
    at $|x| = 100$. Buffers are reused in place to keep at most four of them alive.
    """
    p = torch.sigmoid(logits)
    p_neg = torch.neg(logits)
    torch.sigmoid(p_neg, out=p_neg)
    buffer = torch.maximum(p, p_neg)
    torch.log(buffer, out=buffer)
    bce = torch.clamp_min(logits, 0.0).addcmul_(target, logits, value=-1.0).sub_(buffer)
    # 1 - p_t = (1 - t) p + t p_neg: a sum of two non-negative terms, exact at t in {0, 1}.
    factor = torch.addcmul(p, target, p, value=-1.0, out=buffer).addcmul_(target, p_neg)
    factor.clamp_min_(torch.finfo(p.dtype).tiny)
    slope = None
    if with_gradient and gamma != 0:
        slope = p_neg.mul_(p).mul_(bce)  # (1 - 2t) p p_neg BCE, divided by 1 - p_t below
        slope.addcmul_(slope, target, value=-2.0)
    gradient = p.sub_(target) if with_gradient else None
    if gradient is not None and slope is not None:
        gradient.addcdiv_(slope, factor, value=gamma)
    del slope, p_neg
    if gamma == 0:
        factor.fill_(1.0)
    elif gamma == 2:
        factor.mul_(factor)
    elif gamma != 1:
        factor.pow_(gamma)
    if alpha is not None:
        # alpha_t = (1 - alpha) + (2 alpha - 1) t
        if alpha == 1:
            factor.mul_(target)
        else:
            factor.mul_(1 - alpha).addcmul_(factor, target, value=(2 * alpha - 1) / (1 - alpha))
    loss = bce.mul_(factor)
    if gradient is None:
        return loss, None
    return loss, gradient.mul_(factor)


class FocalLoss(Loss[Reduction], function=focal_loss):
    """Module form of [`focal_loss`][deeplossdive.functional.focal_loss]."""

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), gamma=NON_NEGATIVE)


class SigmoidFocalLoss(Loss[Reduction], function=sigmoid_focal_loss):
    """Module form of [`sigmoid_focal_loss`][deeplossdive.functional.sigmoid_focal_loss]."""

    def __init__(
        self, *, gamma: float = 2.0, alpha: float | None = 0.25, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), gamma=NON_NEGATIVE, alpha=UNIT)


def _sigmoid_focal(gamma: float) -> Curve:
    return lambda z: sigmoid_focal_loss(
        z, torch.ones_like(z), gamma=gamma, alpha=None, reduction="none"
    )


describe(
    focal_loss,
    family="Classification",
    task="Imbalanced multi-class, segmentation",
    plot=Plot(
        P_T,
        TWO_CLASSES + " $\\gamma = 0$ is cross-entropy.",
        {f"γ = {g:g}": two_class(focal_loss, gamma=g) for g in (0.0, 0.5, 1.0, 2.0, 5.0)},
    ),
    chart=Leaf("Classify: one class per example", "C logits", "many easy examples", rank=2),
)
describe(
    sigmoid_focal_loss,
    family="Classification",
    task="Imbalanced binary, multi-label, detection",
    torch="— (`torchvision.ops.sigmoid_focal_loss`)",
    plot=Plot(
        replace(P_T, wrt="$z$"),
        "One logit $z$ with target 1, so that $p_t = \\sigma(z)$; `alpha=None`.",
        {f"γ = {g:g}": _sigmoid_focal(g) for g in (0.0, 1.0, 2.0, 5.0)},
    ),
    chart=Leaf("Binary or multi-label", "one logit per label", "easy negatives dominate", rank=2),
)
