"""Cosine-similarity logits shared by the contrastive losses of a batch: NT-Xent and SupCon."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import COSINE, Leaf, Plot, describe, each
from deeplossdive._reduction import Reduction, check_reduction
from deeplossdive._validation import POSITIVE_FINITE, check_distributed_reduction, check_interval


def _check_options(fn: str, temperature: float, reduction: Reduction, distributed: bool) -> None:
    """The options of a contrastive loss of a batch: temperature, reduction, distributed."""
    check_interval(fn, "temperature", temperature, POSITIVE_FINITE)
    check_distributed_reduction(fn, check_reduction(fn, reduction), distributed)


def _unit_rows(embeddings: Tensor, dtype: torch.dtype) -> Tensor:
    """Each row divided by its L2 norm (a zero row stays zero), computed in `dtype`."""
    return F.normalize(embeddings.to(dtype), p=2.0, dim=1)


def _self_masked_logits(
    anchors: Tensor, candidates: Tensor, self_index: Tensor, temperature: float
) -> Tensor:
    r"""Row $i$: $\langle u_i, v_k \rangle / T$ for every candidate $k$, with $k =$
    `self_index[i]` masked out.

    `anchors` (M, D) and `candidates` (K, D) are unit rows; anchor $i$ is candidate
    `self_index[i]` and is left out of its own softmax: its logit is the most negative finite
    number rather than -inf, so the row's log-sum-exp and its backward stay finite. Keeping
    anchors and candidates apart lets the candidates be a larger set than the anchors, such as a
    batch gathered from every process, with `self_index` offset to each anchor's place in it.
    """
    logits = anchors @ candidates.T / temperature
    columns = torch.arange(candidates.shape[0], device=candidates.device)
    is_self = self_index.unsqueeze(1) == columns.unsqueeze(0)
    return logits.masked_fill(is_self, torch.finfo(logits.dtype).min)


def _candidate_log_probs(
    anchors: Tensor, candidates: Tensor, self_index: Tensor, temperature: float
) -> Tensor:
    r"""Row $i$: $\log \operatorname{softmax}_k(\langle u_i, v_k \rangle / T)$ over the candidates
    $k \ne$ `self_index[i]` (whose entry is the most negative finite number; callers never
    select it)."""
    logits = _self_masked_logits(anchors, candidates, self_index, temperature)
    return torch.log_softmax(logits, dim=1)


def _describe(
    function: Callable[..., Tensor],
    task: str,
    setup: str,
    anchor_loss: Callable[[float, Tensor], Tensor],
    chart: Leaf,
) -> None:
    """The catalogue entry of a contrastive loss of a batch: `anchor_loss(temperature, c)`, the
    loss of one anchor whose positive is at cosine `c`, at three temperatures."""
    curves = {f"τ = {t:g}": each(partial(anchor_loss, t)) for t in (0.1, 0.5, 1.0)}
    describe(
        function,
        family="Metric learning",
        task=task,
        chart=chart,
        plot=Plot(COSINE, setup, curves, points=61),
    )
