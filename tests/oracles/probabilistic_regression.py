"""Oracles for `deeplossdive/losses/probabilistic_regression.py`, element by element.

Written from the likelihoods: the Poisson NLL λ − y log λ (+ Stirling's log y! for y > 1, as
`torch.nn.PoissonNLLLoss` documents), and the Gaussian NLL ½(log v + (μ − y)²/v) with
v = max(σ², ε), times v^β (β-NLL, Seitzer et al., 2022), + ½ log 2π with `full`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tests.oracles import reduce_literal


def _floats(tensor: Tensor) -> list[float]:
    return [float(v) for v in tensor.detach().double().flatten().tolist()]


def poisson_nll(
    input: Tensor,
    target: Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = e^x − y·x (log-rate x) or x − y·log(x + ε) (rate x).

    With `full`, + y log y − y + ½ log(2πy) for y > 1.
    """
    losses = []
    for x, y in zip(_floats(input), _floats(target), strict=True):
        loss = math.exp(x) - y * x if log_input else x - y * math.log(x + eps)
        if full and y > 1:
            loss += y * math.log(y) - y + 0.5 * math.log(2 * math.pi * y)
        losses.append(loss)
    return reduce_literal(losses, [1.0] * len(losses), input.shape, reduction)


def gaussian_nll(
    input: Tensor,
    target: Tensor,
    var: Tensor,
    *,
    full: bool = False,
    eps: float = 1e-6,
    beta: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = ½(log v + (μ − y)²/v)·v^β (+ ½ log 2π), v = max(σ², ε); var broadcast as torch does."""
    if var.dim() == input.dim() - 1:
        var = var.unsqueeze(-1)
    variances = _floats(torch.broadcast_to(var, input.shape))
    losses = []
    for mu, y, sigma2 in zip(_floats(input), _floats(target), variances, strict=True):
        v = max(sigma2, eps)
        loss = 0.5 * (math.log(v) + (mu - y) ** 2 / v) * v**beta
        if full:
            loss += 0.5 * math.log(2 * math.pi)
        losses.append(loss)
    return reduce_literal(losses, [1.0] * len(losses), input.shape, reduction)
