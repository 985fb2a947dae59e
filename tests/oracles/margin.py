"""Oracles for `deeplossdive/losses/margin.py`, element by element (sample by sample for the
multi-label pair), written from torch.nn's definitions of its margin losses."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal


def _floats(tensor: Tensor) -> list[float]:
    return [float(v) for v in tensor.detach().double().flatten().tolist()]


def _reduce(losses: list[float], shape: tuple[int, ...], reduction: str) -> Tensor:
    return reduce_literal(losses, [1.0] * len(losses), shape, reduction)


def margin_ranking(
    input1: Tensor, input2: Tensor, target: Tensor, *, margin: float = 0.0, reduction: str = "mean"
) -> Tensor:
    """ℓ = max(0, m − y·(x₁ − x₂))."""
    losses = [
        max(0.0, margin - y * (x1 - x2))
        for x1, x2, y in zip(_floats(input1), _floats(input2), _floats(target), strict=True)
    ]
    return _reduce(losses, tuple(input1.shape), reduction)


def soft_margin(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """ℓ = log(1 + e^(−y·x))."""
    losses = [
        math.log(1 + math.exp(-y * x)) for x, y in zip(_floats(input), _floats(target), strict=True)
    ]
    return _reduce(losses, tuple(input.shape), reduction)


def hinge_embedding(
    input: Tensor, target: Tensor, *, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """ℓ = d for y = 1, max(0, Δ − d) for y = −1."""
    losses = [
        d if y == 1 else max(0.0, margin - d)
        for d, y in zip(_floats(input), _floats(target), strict=True)
    ]
    return _reduce(losses, tuple(input.shape), reduction)


def multilabel_soft_margin(
    logits: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """ℓₙ = (1/C) Σ_c w_c (−y log σ(x) − (1 − y) log(1 − σ(x)))."""
    n, c = logits.shape
    weights = [1.0] * c if weight is None else _floats(weight)
    xs, ys = _floats(logits), _floats(target)
    losses = []
    for row in range(n):
        total = 0.0
        for k in range(c):
            x, y = xs[row * c + k], ys[row * c + k]
            p = 1 / (1 + math.exp(-x))
            total += weights[k] * (-y * math.log(p) - (1 - y) * math.log(1 - p))
        losses.append(total / c)
    return _reduce(losses, (n,), reduction)


def multilabel_margin(scores: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """ℓₙ = (1/C) Σ_{j ∈ Y} Σ_{i ∉ Y} max(0, 1 − (x_j − x_i)), Y the indices before the first −1."""
    n, c = scores.shape
    xs = _floats(scores)
    labels = [int(v) for v in target.flatten().tolist()]
    losses = []
    for row in range(n):
        listed: list[int] = []
        for k in range(c):
            label = labels[row * c + k]
            if label < 0:
                break
            listed.append(label)
        x = xs[row * c : (row + 1) * c]
        total = 0.0
        for j in listed:
            for i in range(c):
                if i not in listed:
                    total += max(0.0, 1 - (x[j] - x[i]))
        losses.append(total / c)
    return _reduce(losses, (n,), reduction)
