"""NT-Xent written from eq. (1) of Chen et al. (2020), https://arxiv.org/abs/2002.05709."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal


def _cosine(u: list[float], v: list[float]) -> float:
    dot = math.fsum(a * b for a, b in zip(u, v, strict=True))
    return dot / (math.sqrt(math.fsum(a * a for a in u)) * math.sqrt(math.fsum(b * b for b in v)))


def nt_xent(z1: Tensor, z2: Tensor, *, temperature: float = 0.5, reduction: str = "mean") -> Tensor:
    """ℓ(i, j) = −log[exp(sim(z_i, z_j)/τ) / Σ_{k≠i} exp(sim(z_i, z_k)/τ)] for each of the 2N
    anchors i (the N rows of z1, then the N rows of z2), j the other view of the same sample."""
    n = z1.shape[0]
    z = [row.tolist() for row in z1.double()] + [row.tolist() for row in z2.double()]
    losses = []
    for i in range(2 * n):
        j = i + n if i < n else i - n
        numerator = math.exp(_cosine(z[i], z[j]) / temperature)
        denominator = math.fsum(
            math.exp(_cosine(z[i], z[k]) / temperature) for k in range(2 * n) if k != i
        )
        losses.append(-math.log(numerator / denominator))
    return reduce_literal(losses, [1.0] * len(losses), (2 * n,), reduction)
