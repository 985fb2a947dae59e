"""Oracles for `deeplossdive/losses/binary_cross_entropy.py`.

Binary cross-entropy, element by element: ℓ = -w [q t log p + (1 - t) log(1 - p)]. The
probability form clamps each log at -100, as torch documents for `BCELoss`.
"""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal


def _floats(tensor: Tensor | None, like: Tensor) -> list[float]:
    """Every element of `tensor` broadcast to `like`'s shape (1.0 where no tensor is given)."""
    if tensor is None:
        return [1.0] * like.numel()
    return [float(v) for v in tensor.detach().double().expand(like.shape).flatten().tolist()]


def _log_clamped(value: float) -> float:
    """max(log value, -100), with log 0 = -inf."""
    return max(math.log(value), -100.0) if value > 0 else -100.0


def binary_cross_entropy(
    probs: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = -[t max(log p, -100) + (1 - t) max(log(1 - p), -100)], weighted mean Σ w ℓ / Σ w."""
    ps = probs.detach().double().flatten().tolist()
    ts = target.detach().double().flatten().tolist()
    losses = [
        -(t * _log_clamped(p) + (1 - t) * _log_clamped(1 - p)) for p, t in zip(ps, ts, strict=True)
    ]
    return reduce_literal(losses, _floats(weight, probs), probs.shape, reduction)


def binary_cross_entropy_with_logits(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = -[q t log σ(x) + (1 - t) log(1 - σ(x))], σ(x) = 1 / (1 + e^{-x}); weights as above."""
    xs = logits.detach().double().flatten().tolist()
    ts = target.detach().double().flatten().tolist()
    qs = _floats(pos_weight, logits)
    losses = []
    for x, t, q in zip(xs, ts, qs, strict=True):
        p = 1 / (1 + math.exp(-x))
        losses.append(-(q * t * math.log(p) + (1 - t) * math.log(1 - p)))
    return reduce_literal(losses, _floats(weight, logits), logits.shape, reduction)
