"""Oracles for `deeplossdive/losses/focal.py` (Lin et al., 2017)."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import positions, reduce_literal


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
    for index in positions(target):
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
