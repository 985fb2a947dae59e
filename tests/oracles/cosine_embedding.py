"""Oracle for `deeplossdive/losses/cosine_embedding.py` (torch.nn.CosineEmbeddingLoss's formula)."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal


def cosine_embedding(
    x1: Tensor,
    x2: Tensor,
    target: Tensor,
    *,
    margin: float = 0.0,
    eps: float = 1e-12,
    reduction: str = "mean",
) -> Tensor:
    """ℓ_n = 1 − cos_n if y_n = 1, max(0, cos_n − m) if y_n = −1; cos_n with ε in each ‖·‖²."""
    a, b = x1.detach().double(), x2.detach().double()
    losses = []
    for n in range(a.shape[0]):
        u, v = a[n].tolist(), b[n].tolist()
        dot = math.fsum(p * q for p, q in zip(u, v, strict=True))
        norm_u = math.fsum(p * p for p in u) + eps
        norm_v = math.fsum(q * q for q in v) + eps
        cos = dot / math.sqrt(norm_u * norm_v)
        y = float(target[n])
        assert y in (1.0, -1.0), y
        losses.append(1.0 - cos if y == 1.0 else max(0.0, cos - margin))
    return reduce_literal(losses, [1.0] * len(losses), (a.shape[0],), reduction)
