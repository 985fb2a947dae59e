"""Slow, formula-literal reference implementations: the specification every loss is tested against.

Each oracle loops over elements and writes the paper's formula with Python floats, in float64,
with no log-space tricks and no shared code with the package. It returns the reduced value as a
float64 tensor. Use moderate inputs: these are literal, not stable.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor


def reduce_literal(
    losses: Sequence[float], weights: Sequence[float], shape: Sequence[int], reduction: str
) -> Tensor:
    """`none`: w·ℓ reshaped; `sum`: Σ w·ℓ; `mean`: Σ w·ℓ / Σ w (0 when Σ w = 0)."""
    weighted = [w * loss for w, loss in zip(weights, losses, strict=True)]
    if reduction == "none":
        return torch.tensor(weighted, dtype=torch.float64).reshape(tuple(shape))
    total = math.fsum(weighted)
    if reduction == "sum":
        return torch.tensor(total, dtype=torch.float64)
    denominator = math.fsum(weights)
    return torch.tensor(total / denominator if denominator else 0.0, dtype=torch.float64)


def _positions(target: Tensor) -> Iterator[tuple[int, ...]]:
    """Every index of a (N, d1, ...) target, in row-major order."""
    return itertools.product(*(range(size) for size in target.shape))


def focal(
    logits: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = -α_y (1 - p_y)^γ log p_y with p = softmax over dim 1 (Lin et al., 2017, eq. 5)."""
    x = logits.detach().double()
    losses, weights = [], []
    for index in _positions(target):
        n, rest = index[0], index[1:]
        y = int(target[index])
        if y == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        scores = [float(x[(n, c, *rest)]) for c in range(x.shape[1])]
        exps = [math.exp(s) for s in scores]
        p_y = exps[y] / sum(exps)
        losses.append(-((1 - p_y) ** gamma) * math.log(p_y))
        weights.append(1.0 if alpha is None else float(alpha[y]))
    return reduce_literal(losses, weights, target.shape, reduction)


def sigmoid_focal(
    logits: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = α_t (1 - p_t)^γ BCE(x, t), p = σ(x), p_t = p t + (1 - p)(1 - t) (torchvision's form)."""
    losses = []
    xs = logits.detach().double().flatten().tolist()
    for x, t in zip(xs, target.double().flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-x))
        p_t = p * t + (1 - p) * (1 - t)
        bce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
        alpha_t = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
        losses.append(alpha_t * (1 - p_t) ** gamma * bce)
    return reduce_literal(losses, [1.0] * len(losses), logits.shape, reduction)
