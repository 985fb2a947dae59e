"""Kernel path of the focal losses: launchers and autograd Functions.

Softmax focal: the forward pass reads the logits once (an online log-sum-exp over the classes)
and keeps three numbers per position; the backward pass reads the logits once more and writes
the gradient. Sigmoid focal: element-wise, the forward pass reads logits and targets and writes
one partial sum per block (or the unreduced loss), the backward pass recomputes the terms and
writes the gradient. Called by `focal_loss` and
`sigmoid_focal_loss` when
`use_kernels` says so.
"""

from __future__ import annotations

import math
from typing import Any, Final

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._kernels import _jit
from deeplossdive._kernels.overlap import accumulator, next_power_of_2, triton_cdiv
from deeplossdive._reduction import Reduction

_MAX_BLOCK_C: Final = 1024
"""Classes per chunk of the loop over the classes of a row."""

_TILE: Final = 4096

_ELEMENTS: Final = 4096
"""Elements per program of the sigmoid focal kernels."""


def _rows_view(
    logits: Tensor, target: Tensor
) -> tuple[int, int, int, tuple[int, ...], tuple[int, ...]]:
    """`(outer, C, inner, logits strides, target strides)`: $(N, C, S)$ as (outer, C, inner).

    Positions are (outer, inner) pairs whose classes are strided in the logits. With spatial
    dimensions that is $(N, C, S)$ itself; without ($S = 1$) the rows of $(N, C)$ become the
    inner dimension of $(1, C, N)$, so that a program takes a block of rows, not one.
    """
    batch, num_classes = logits.shape[:2]
    spatial = math.prod(logits.shape[2:])
    x = logits.reshape(batch, num_classes, spatial)
    y = target.reshape(batch, spatial)
    if spatial == 1:
        return 1, num_classes, batch, (0, x.stride(1), x.stride(0)), (0, y.stride(0))
    return batch, num_classes, spatial, tuple(x.stride()), tuple(y.stride())


def _focal_blocks(num_classes: int, inner: int) -> tuple[int, int, int]:
    block_c = min(next_power_of_2(num_classes), _MAX_BLOCK_C)
    block_s = min(max(_TILE // block_c, 2), max(next_power_of_2(inner), 2))
    return block_c, block_s, triton_cdiv(inner, block_s)


class SoftmaxFocal(torch.autograd.Function):
    r"""Softmax focal loss with the weights and reduction of
    `focal_loss`, in float32 (float64 for float64).

    Inputs: `logits` $(N, C, \dots)$ in any floating dtype and any strides, `target`
    $(N, \dots)$ of any integer dtype, `ignore_index`, `gamma`, `alpha` (per-class weights
    $(C)$ or None) and `reduction`. Each position's loss carries its weight
    $w = \alpha_{y}$ (or 1), 0 where ignored; `"none"` returns $w\,\ell$ in the shape of
    `target`, `"sum"` its sum, `"mean"` $\sum w \ell / \sum w$ (0 when every weight is 0), each
    summed from one partial sum per program: no tensor of the loss's size. A label outside
    $[0, C)$ that is not ignored gives NaN. Ignored positions get a zero gradient whatever their
    logits. The gradient is that of `docs/losses/focal.md`, $w\,s\,(p_j - [j = y])$, written
    in the logits' dtype. Saves the inputs and three numbers per position. Second derivatives
    are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: Tensor,
        target: Tensor,
        ignore_index: int,
        gamma: float,
        alpha: Tensor | None,
        reduction: Reduction,
    ) -> Tensor:
        outer, num_classes, inner, x_strides, y_strides = _rows_view(logits, target)
        block_c, block_s, blocks = _focal_blocks(num_classes, inner)
        dtype, acc = accumulator(logits.dtype)
        rows, programs = outer * inner, outer * blocks
        reduce = reduction != "none"
        loss = torch.empty(0 if reduce else rows, dtype=dtype, device=logits.device)
        partial = torch.empty((2, programs) if reduce else 0, dtype=dtype, device=logits.device)
        stats = torch.empty((3, rows), dtype=dtype, device=logits.device)
        weights = None if alpha is None else alpha.to(device=logits.device, dtype=dtype)
        _jit.softmax_focal_fwd[(programs,)](
            logits,
            target,
            stats if weights is None else weights,
            loss,
            partial,
            stats,
            num_classes,
            inner,
            blocks,
            rows,
            ignore_index,
            float(gamma),
            *x_strides,
            *y_strides,
            HAS_ALPHA=weights is not None,
            REDUCE=reduce,
            ACC=acc,
            BLOCK_C=block_c,
            BLOCK_S=block_s,
            num_warps=4 if block_c * block_s <= 2048 else 8,
        )
        ctx.ignore_index = ignore_index
        ctx.reduction = reduction
        if not reduce:
            ctx.save_for_backward(logits, target, stats)
            return loss.view(target.shape)
        total, weight_sum = partial.sum(dim=1).unbind(0)
        if reduction == "sum":
            ctx.save_for_backward(logits, target, stats)
            return total
        denominator = torch.where(weight_sum == 0, 1.0, weight_sum)
        ctx.save_for_backward(logits, target, stats, denominator)
        return total / denominator

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        logits, target, stats, *denominator = ctx.saved_tensors
        outer, num_classes, inner, x_strides, y_strides = _rows_view(logits, target)
        block_c, block_s, blocks = _focal_blocks(num_classes, inner)
        _, acc = accumulator(logits.dtype)
        batch, spatial = logits.shape[0], math.prod(logits.shape[2:])
        grad_logits = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        if ctx.reduction != "none":
            # One number for every position (stride 0), divided by the mean's denominator.
            flat_grad = (grad / denominator[0] if denominator else grad).reshape(1, 1)
            grad_strides: tuple[int, ...] = (0, 0)
        else:
            flat_grad = grad.reshape(batch, spatial)
            # (N, C): the rows are the inner dimension, as in _rows_view.
            grad_strides = (0, flat_grad.stride(0)) if spatial == 1 else tuple(flat_grad.stride())
        out_strides = (0, 1, num_classes) if spatial == 1 else (num_classes * spatial, spatial, 1)
        _jit.softmax_focal_bwd[(outer * blocks,)](
            logits,
            target,
            stats,
            flat_grad,
            grad_logits,
            num_classes,
            inner,
            blocks,
            outer * inner,
            ctx.ignore_index,
            *x_strides,
            *y_strides,
            *grad_strides,
            *out_strides,
            ACC=acc,
            BLOCK_C=block_c,
            BLOCK_S=block_s,
            num_warps=4 if block_c * block_s <= 2048 else 8,
        )
        return grad_logits, None, None, None, None, None


def softmax_focal(
    logits: Tensor,
    target: Tensor,
    ignore_index: int,
    gamma: float,
    alpha: Tensor | None = None,
    reduction: Reduction = "none",
) -> Tensor:
    """`SoftmaxFocal`, typed."""
    loss: Tensor = SoftmaxFocal.apply(  # type: ignore[no-untyped-call]
        logits, target, ignore_index, gamma, alpha, reduction
    )
    return loss


class SigmoidFocal(torch.autograd.Function):
    """Sigmoid focal loss, reduced by `reduction` (`"none"`: the shape of `logits`), in float32
    (float64 for float64 inputs).

    `"sum"` and `"mean"` add up one partial sum per block: no tensor of the loss's size. The
    backward pass recomputes the terms from the logits and targets (saved as they are) and
    writes the gradient of
    `_sigmoid_focal_terms` once. No gradient
    for `target`. Second derivatives are not implemented (`once_differentiable`).
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
        x, t = logits.reshape(-1).contiguous(), target.reshape(-1).contiguous()
        numel = x.numel()
        blocks = triton_cdiv(numel, _ELEMENTS)
        dtype, acc = accumulator(logits.dtype)
        reduce = reduction != "none"
        out = torch.empty(blocks if reduce else numel, dtype=dtype, device=logits.device)
        _jit.sigmoid_focal_fwd[(blocks,)](
            x,
            t,
            out,
            numel,
            float(gamma),
            0.0 if alpha is None else float(alpha),
            torch.finfo(dtype).tiny,
            HAS_ALPHA=alpha is not None,
            REDUCE=reduce,
            ACC=acc,
            BLOCK=_ELEMENTS,
            num_warps=8,
        )
        ctx.save_for_backward(x, t)
        ctx.options = (float(gamma), alpha, reduction, logits.shape)
        if not reduce:
            return out.view(logits.shape)
        total = out.sum()
        return total / max(numel, 1) if reduction == "mean" else total

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, t = ctx.saved_tensors
        gamma, alpha, reduction, shape = ctx.options
        numel = x.numel()
        dtype, acc = accumulator(x.dtype)
        if reduction == "none":
            flat_grad, grad_stride, grad_scale = grad.reshape(-1).contiguous(), 1, 1.0
        else:
            flat_grad, grad_stride = grad.reshape(()), 0
            grad_scale = 1.0 / max(numel, 1) if reduction == "mean" else 1.0
        grad_logits = torch.empty(numel, dtype=x.dtype, device=x.device)
        _jit.sigmoid_focal_bwd[(triton_cdiv(numel, _ELEMENTS),)](
            x,
            t,
            flat_grad,
            grad_logits,
            numel,
            grad_stride,
            grad_scale,
            gamma,
            0.0 if alpha is None else float(alpha),
            torch.finfo(dtype).tiny,
            HAS_ALPHA=alpha is not None,
            ACC=acc,
            BLOCK=_ELEMENTS,
            num_warps=8,
        )
        return grad_logits.view(shape), None, None, None, None


def sigmoid_focal(
    logits: Tensor, target: Tensor, gamma: float, alpha: float | None, reduction: Reduction
) -> Tensor:
    """`SigmoidFocal`, typed."""
    loss: Tensor = SigmoidFocal.apply(logits, target, gamma, alpha, reduction)  # type: ignore[no-untyped-call]
    return loss
