"""Oracles for `deeplossdive/losses/regression.py`: each loss of one residual, element by element.

Written from the definitions: squared and absolute error; Huber (1964); smooth L1 as in Girshick
(2015) and `torch.nn.SmoothL1Loss` (plain L1 at β = 0); log cosh with `math.cosh` (finite for
|r| < 710 only: moderate inputs); the pinball loss of Koenker & Bassett (1978) with r = y − x.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from tests.oracles import reduce_literal


def _elementwise(
    per_element: Callable[[float, float], float],
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
) -> Tensor:
    xs = input.detach().double().flatten().tolist()
    ys = target.detach().double().flatten().tolist()
    losses = [per_element(x, y) for x, y in zip(xs, ys, strict=True)]
    weights = [1.0] * len(losses) if weight is None else weight.double().flatten().tolist()
    return reduce_literal(losses, weights, input.shape, reduction)


def mse(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """ℓ = (x − y)²."""
    return _elementwise(lambda x, y: (x - y) ** 2, input, target, weight, reduction)


def l1(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """ℓ = |x − y|."""
    return _elementwise(lambda x, y: abs(x - y), input, target, weight, reduction)


def huber(
    input: Tensor,
    target: Tensor,
    *,
    delta: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond."""

    def term(x: float, y: float) -> float:
        r = x - y
        if abs(r) <= delta:
            return 0.5 * r * r
        return delta * (abs(r) - 0.5 * delta)

    return _elementwise(term, input, target, weight, reduction)


def smooth_l1(
    input: Tensor,
    target: Tensor,
    *,
    beta: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = r²/(2β) for |r| < β, |r| − β/2 beyond; |r| for β = 0."""

    def term(x: float, y: float) -> float:
        r = x - y
        if abs(r) < beta:
            return 0.5 * r * r / beta
        return abs(r) - 0.5 * beta

    return _elementwise(term, input, target, weight, reduction)


def log_cosh(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """ℓ = log cosh(x − y)."""
    return _elementwise(lambda x, y: math.log(math.cosh(x - y)), input, target, weight, reduction)


def quantile(
    input: Tensor,
    target: Tensor,
    *,
    quantile: float = 0.5,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = q·r if r ≥ 0 else (q − 1)·r, with r = y − x (target minus prediction)."""

    def term(x: float, y: float) -> float:
        r = y - x
        return quantile * r if r >= 0 else (quantile - 1) * r

    return _elementwise(term, input, target, weight, reduction)
