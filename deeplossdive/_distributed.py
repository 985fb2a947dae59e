r"""The collectives behind the losses' opt-in `distributed=True`: `torch.distributed` alone.

A loss called with `distributed=True` in a process group of $W > 1$ processes returns, on every
rank, the loss $L$ of the *global* batch (the concatenation of every rank's batch in rank
order): the value one process computes from the whole batch. The two collectives it uses are
differentiable, and each one's backward is its adjoint, as in `torch.distributed.nn` (whose
functions are deprecated since torch 2.13, hence the two small autograd functions here, on
`dist.all_reduce` and `dist.all_gather` only):

- all-reduce (sum): the backward sums the incoming gradients over the ranks;
- all-gather: the backward sums, over the ranks, the gradient of each rank's block and returns
  it to the rank that owns the block (a reduce-scatter).

So when every rank backpropagates its $L_r = L$, rank $r$ receives the gradient of
$\sum_q L_q = W L$ with respect to its own inputs. DDP averages the parameter gradients over the
$W$ ranks, and the two factors cancel:

$$
\frac{1}{W} \sum_{r} \nabla_\theta L_r = \frac{1}{W}\, \nabla_\theta (W L) = \nabla_\theta L.
$$

Outside a process group (not initialised, or $W = 1$) nothing is communicated and the losses
are the ordinary ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from deeplossdive._reduction import Reduction, weighted_mean


def world_size(distributed: bool) -> int:
    """The number of processes a `distributed=True` loss combines: 1 unless a group is running."""
    if not distributed or not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size()


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; its adjoint is the same sum (`y = sum_r x_r` on every rank)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total


class _AllGather(torch.autograd.Function):
    r"""Every rank's equally shaped `tensor`, stacked in rank order: shape $(W, \dots)$.

    Its adjoint sums, over the ranks, the gradient of each rank's block and returns block $r$
    to rank $r$: a reduce-scatter, written as an all-reduce of the whole gradient followed by
    taking this rank's block, which every backend supports (gloo has no reduce-scatter).
    """

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        tensor = tensor.contiguous()
        blocks = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(blocks, tensor)
        return torch.stack(blocks)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total[dist.get_rank()]


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """The sum over the ranks of `tensor`, differentiable (its backward sums over the ranks too)."""
    # Function.apply carries no annotations.
    total: Tensor = _AllReduceSum.apply(tensor)  # type: ignore[no-untyped-call]
    return total


def row_counts(rows: Tensor) -> tuple[list[int], int]:
    """The number of rows of every rank, and the index of this rank's first row in rank order."""
    count = torch.tensor([rows.shape[0]], device=rows.device)
    buffers = [torch.empty_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(buffers, count)
    counts = [int(buffer.item()) for buffer in buffers]
    return counts, sum(counts[: dist.get_rank()])


def all_gather_rows(rows: Tensor, counts: list[int], *, differentiable: bool = True) -> Tensor:
    """Every rank's `rows` (`counts[r]` of them on rank r) concatenated in rank order.

    Differentiable: the backward sums, over the ranks, the gradients of each rank's slice and
    returns them to the rank that owns it. `differentiable=False` (labels) gathers without
    autograd. Ranks may hold different numbers of rows: each pads to the longest, and the
    padding is cut off again.
    """
    longest = max(counts)
    padding = rows.new_zeros((longest - rows.shape[0], *rows.shape[1:]))
    padded = torch.cat([rows, padding])
    if differentiable:
        blocks: Tensor = _AllGather.apply(padded)  # type: ignore[no-untyped-call]
    else:
        buffers = [torch.empty_like(padded) for _ in counts]
        dist.all_gather(buffers, padded.contiguous())
        blocks = torch.stack(buffers)
    return torch.cat([block[:count] for block, count in zip(blocks, counts, strict=True)])


def reduce_over_ranks(loss: Tensor, reduction: Reduction, *, weight: Tensor) -> Tensor:
    r"""`"sum"` or weighted `"mean"` of the entries of every rank: $\sum w \ell$ and $\sum w$
    are summed over the ranks before the ratio; 0 if no rank has an entry of nonzero weight."""
    total = (loss * weight).sum()
    if reduction == "sum":
        return all_reduce_sum(total)
    sums = all_reduce_sum(torch.stack([total, weight.sum().to(total.dtype)]))
    return weighted_mean(sums[0], sums[1])
