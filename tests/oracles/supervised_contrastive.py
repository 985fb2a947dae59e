"""SupCon written from eq. (2) (L_out) of Khosla et al. (2020), https://arxiv.org/abs/2004.11362."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal


def _unit(v: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(a * a for a in v))
    return [a / norm for a in v]


def supervised_contrastive(
    embeddings: Tensor, labels: Tensor, *, temperature: float = 0.1, reduction: str = "mean"
) -> Tensor:
    """ℓ_i = −1/|P(i)| Σ_{p∈P(i)} log[exp(z_i·z_p/τ) / Σ_{a∈A(i)} exp(z_i·z_a/τ)], z unit rows,
    A(i) every other index, P(i) those with label y_i. An anchor with P(i) = ∅ has loss 0 and
    weight 0 in the mean (the documented policy)."""
    z = [_unit(row.tolist()) for row in embeddings.double()]
    y = labels.tolist()
    n = len(z)
    losses, weights = [], []
    for i in range(n):
        others = [a for a in range(n) if a != i]
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            losses.append(0.0)
            weights.append(0.0)
            continue

        def sim(a: int, i: int = i) -> float:
            return math.fsum(x * w for x, w in zip(z[i], z[a], strict=True)) / temperature

        denominator = math.fsum(math.exp(sim(a)) for a in others)
        total = math.fsum(math.log(math.exp(sim(p)) / denominator) for p in positives)
        losses.append(-total / len(positives))
        weights.append(1.0)
    return reduce_literal(losses, weights, (n,), reduction)
