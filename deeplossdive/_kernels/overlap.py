"""Kernel path of the overlap losses' soft counts: launchers and autograd Functions.

Forward: one read of the logits (and labels or targets), partial sums per block of positions,
one `torch.sum` over the blocks. Backward: the probabilities are recomputed from the logits
(nothing of the input's size is saved but the inputs themselves) and the gradient is written
once. Called by `softmax_statistics` and
`sigmoid_statistics` when
`use_kernels` says so.
"""

from __future__ import annotations

from typing import Any, Final

import torch
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._kernels import _jit

_TILE: Final = 4096
"""Elements of a program's tile: enough work per program, few registers per thread."""


def next_power_of_2(value: int) -> int:
    return 1 << max(value - 1, 0).bit_length()


def accumulator(dtype: torch.dtype) -> tuple[torch.dtype, Any]:
    """The compute dtype for inputs of `dtype`, as a torch and as a Triton dtype."""
    if dtype == torch.float64:
        return torch.float64, tl.float64
    return torch.float32, tl.float32


def _warps(elements: int) -> int:
    return 8 if elements >= 2048 else 4


def _softmax_blocks(num_classes: int, spatial: int) -> tuple[int, int, int]:
    block_c = next_power_of_2(num_classes)
    block_s = min(max(_TILE // block_c, 16), max(next_power_of_2(spatial), 16))
    return block_c, block_s, triton_cdiv(spatial, block_s)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


class SoftmaxOverlapCounts(torch.autograd.Function):
    r"""$TP$, $FP$, $FN$ and the label count per (image, class) of `softmax(logits)`, $(N, C)$.

    Inputs: `logits` $(N, C, S)$ (any strides, any floating dtype), `labels` $(N, S)$ (any
    integer dtype), `ignore_index`. A position whose label is `ignore_index` counts nowhere;
    a label outside $[0, C)$ matches no class. The counts are in float32 (float64 for float64
    logits); the count has no gradient. Saves only its inputs. Second derivatives are not
    implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any, logits: Tensor, labels: Tensor, ignore_index: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        batch, num_classes, spatial = logits.shape
        block_c, block_s, blocks = _softmax_blocks(num_classes, spatial)
        dtype, acc = accumulator(logits.dtype)
        partial = torch.empty((4, batch, num_classes, blocks), dtype=dtype, device=logits.device)
        _jit.softmax_overlap_fwd[(batch * blocks,)](
            logits,
            labels,
            partial,
            num_classes,
            spatial,
            blocks,
            batch * num_classes * blocks,
            ignore_index,
            *logits.stride(),
            *labels.stride(),
            ACC=acc,
            BLOCK_C=block_c,
            BLOCK_S=block_s,
            num_warps=_warps(block_c * block_s),
        )
        tp, fp, fn, count = partial.sum(dim=3).unbind(0)
        ctx.save_for_backward(logits, labels)
        ctx.ignore_index = ignore_index
        ctx.mark_non_differentiable(count)
        return tp, fp, fn, count

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_tp: Tensor, grad_fp: Tensor, grad_fn: Tensor, _grad_count: Tensor
    ) -> tuple[Tensor | None, ...]:
        logits, labels = ctx.saved_tensors
        batch, num_classes, spatial = logits.shape
        block_c, block_s, blocks = _softmax_blocks(num_classes, spatial)
        dtype, acc = accumulator(logits.dtype)
        grads = torch.stack((grad_tp, grad_fp, grad_fn)).to(dtype).contiguous()
        grad_logits = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        _jit.softmax_overlap_bwd[(batch * blocks,)](
            logits,
            labels,
            grads,
            grad_logits,
            num_classes,
            spatial,
            blocks,
            batch * num_classes,
            ctx.ignore_index,
            *logits.stride(),
            *labels.stride(),
            ACC=acc,
            BLOCK_C=block_c,
            BLOCK_S=block_s,
            num_warps=_warps(block_c * block_s),
        )
        return grad_logits, None, None


def softmax_overlap_counts(
    logits: Tensor, labels: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """`SoftmaxOverlapCounts`, typed."""
    counts: tuple[Tensor, Tensor, Tensor, Tensor] = SoftmaxOverlapCounts.apply(  # type: ignore[no-untyped-call]
        logits, labels, ignore_index
    )
    return counts


def _sigmoid_blocks(spatial: int) -> tuple[int, int]:
    block = min(_TILE, max(next_power_of_2(spatial), 16))
    return block, triton_cdiv(spatial, block)


class SigmoidOverlapCounts(torch.autograd.Function):
    r"""$TP = \sum \min(p, g)$, $FP = \sum \max(p - g, 0)$, $FN = \sum \max(g - p, 0)$ per
    (image, channel) of `sigmoid(logits)` against `target` in $[0, 1]$, $(N, C)$.

    Inputs: `logits` and `target` $(N, C, S)$, any strides and floating dtypes. $g - p$ is
    $g\,\sigma(-x) - (1 - g)\,\sigma(x)$ as on the PyTorch path. No gradient for `target` (the
    caller takes the PyTorch path when it needs one). Saves only its inputs. Second derivatives
    are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        batch, channels, spatial = logits.shape
        block, blocks = _sigmoid_blocks(spatial)
        dtype, acc = accumulator(logits.dtype)
        rows = batch * channels
        partial = torch.empty((3, rows, blocks), dtype=dtype, device=logits.device)
        _jit.sigmoid_overlap_fwd[(rows * blocks,)](
            logits,
            target,
            partial,
            channels,
            spatial,
            blocks,
            rows * blocks,
            *logits.stride(),
            *target.stride(),
            ACC=acc,
            BLOCK=block,
            num_warps=_warps(block),
        )
        tp, fp, fn = partial.sum(dim=2).view(3, batch, channels).unbind(0)
        ctx.save_for_backward(logits, target)
        return tp, fp, fn

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_tp: Tensor, grad_fp: Tensor, grad_fn: Tensor
    ) -> tuple[Tensor | None, ...]:
        logits, target = ctx.saved_tensors
        batch, channels, spatial = logits.shape
        block, blocks = _sigmoid_blocks(spatial)
        dtype, acc = accumulator(logits.dtype)
        rows = batch * channels
        grads = torch.stack((grad_tp, grad_fp, grad_fn)).to(dtype).contiguous()
        grad_logits = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        _jit.sigmoid_overlap_bwd[(rows * blocks,)](
            logits,
            target,
            grads,
            grad_logits,
            channels,
            spatial,
            blocks,
            rows,
            *logits.stride(),
            *target.stride(),
            ACC=acc,
            BLOCK=block,
            num_warps=_warps(block),
        )
        return grad_logits, None


def sigmoid_overlap_counts(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`SigmoidOverlapCounts`, typed."""
    counts: tuple[Tensor, Tensor, Tensor] = SigmoidOverlapCounts.apply(  # type: ignore[no-untyped-call]
        logits, target
    )
    return counts
