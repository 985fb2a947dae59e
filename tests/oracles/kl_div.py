"""Oracle for `deeplossdive/losses/kl_div.py`: KL(p ‖ q) = Σ p log(p / q), term by term."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tests.oracles import reduce_literal


def kl_div(
    log_probs: Tensor,
    target: Tensor,
    *,
    log_target: bool = False,
    reduction: str = "batchmean",
) -> Tensor:
    """ℓ = p log(p / q) per element with q = exp(log_probs), 0 log 0 = 0 (Kullback & Leibler, 1951).

    `batchmean` is Σ ℓ / N (N the size of dimension 0), `mean` is Σ ℓ / (number of elements).
    """
    qs = [math.exp(x) for x in log_probs.detach().double().flatten().tolist()]
    ts = target.detach().double().flatten().tolist()
    ps = [math.exp(t) for t in ts] if log_target else ts
    losses = [p * math.log(p / q) if p > 0 else 0.0 for p, q in zip(ps, qs, strict=True)]
    if reduction == "batchmean":
        return torch.tensor(math.fsum(losses) / log_probs.shape[0], dtype=torch.float64)
    return reduce_literal(losses, [1.0] * len(losses), log_probs.shape, reduction)
