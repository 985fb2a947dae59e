"""Slow, formula-literal reference implementations: the specification every loss is tested against.

One module per loss family, named like the loss (`tests/oracles/focal.py` for
`deeplossdive/losses/focal.py`). Each oracle loops over elements and writes the paper's formula
with Python floats, in float64, with no log-space tricks and no code shared with the package, and
returns the reduced value as a float64 tensor. Use moderate inputs: these are literal, not stable.
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
    """`none`: w·ℓ reshaped; `sum`: Σ w·ℓ; `mean`: Σ w·ℓ / Σ w (0 when Σ w = 0).

    `counted`, which no loss offers: Σ w, how many entries the mean counts (the shared tester's
    invariant `sum = mean × counted` for the losses that leave entries out of the mean).
    """
    weighted = [w * loss for w, loss in zip(weights, losses, strict=True)]
    if reduction == "counted":
        return torch.tensor(math.fsum(weights), dtype=torch.float64)
    if reduction == "none":
        return torch.tensor(weighted, dtype=torch.float64).reshape(tuple(shape))
    total = math.fsum(weighted)
    if reduction == "sum":
        return torch.tensor(total, dtype=torch.float64)
    denominator = math.fsum(weights)
    return torch.tensor(total / denominator if denominator else 0.0, dtype=torch.float64)


def positions(target: Tensor) -> Iterator[tuple[int, ...]]:
    """Every index of a (N, d1, ...) target, in row-major order."""
    return itertools.product(*(range(size) for size in target.shape))
