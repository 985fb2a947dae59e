"""Oracle for `deeplossdive/losses/triplet.py` (Schroff et al. 2015; Balntas et al. 2016 swap)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from tests.oracles import reduce_literal


def _p_norm_distance(x: list[float], y: list[float], p: float, eps: float) -> float:
    """‖x − y + ε‖_p, the ε added to every coordinate of the difference (torch's convention)."""
    terms = [abs(xi - yi + eps) for xi, yi in zip(x, y, strict=True)]
    if math.isinf(p):
        return float(max(terms))
    return float(math.fsum(t**p for t in terms) ** (1.0 / p))


def triplet_margin(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    swap: bool = False,
    distance: Callable[[Tensor, Tensor], Tensor] | None = None,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """ℓ_n = max(0, m + d(a_n, p_n) − d(a_n, n_n)); swap: d(a_n, n_n) → min(d(a, n), d(p, n))."""
    rows = [t.detach().double() for t in (anchor, positive, negative)]

    def d(x: int, y: int, n: int) -> float:
        if distance is None:
            return _p_norm_distance(rows[x][n].tolist(), rows[y][n].tolist(), p, eps)
        # A user-supplied distance is a tensor function: call it on one row at a time.
        with torch.no_grad():
            return float(distance(rows[x][n : n + 1], rows[y][n : n + 1])[0])

    losses = []
    for n in range(anchor.shape[0]):
        d_pos = d(0, 1, n)
        d_neg = d(0, 2, n)
        if swap:
            d_neg = min(d_neg, d(1, 2, n))
        losses.append(max(0.0, margin + d_pos - d_neg))
    return reduce_literal(losses, [1.0] * len(losses), (anchor.shape[0],), reduction)
