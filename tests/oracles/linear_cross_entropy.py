"""Oracle for `deeplossdive/losses/linear_cross_entropy.py`, written literally.

Each token's logits are the dot products x_c = Σ_k W[c, k] h[k] + b[c], its log-partition
z = log Σ_c exp(x_c), and its loss z - x_y + ζ z² (PaLM's z-loss, Chowdhery et al., 2022,
section 5); a token whose target is `ignore_index` counts for nothing, and the mean divides by
the number of the others.
"""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import positions, reduce_literal


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    target: Tensor,
    *,
    reduction: str = "mean",
    z_loss: float = 0.0,
    bias: Tensor | None = None,
    ignore_index: int = -100,
    chunk_size: int | None = None,
) -> Tensor:
    """`chunk_size` changes nothing in the value: it is accepted and ignored."""
    del chunk_size
    h, w = hidden.detach().double(), weight.detach().double()
    num_classes, features = w.shape
    b = [0.0] * num_classes if bias is None else [float(v) for v in bias]
    losses, weights = [], []
    for index in positions(target):
        label = int(target[index])
        if label == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        x = [
            math.fsum(float(w[c, k]) * float(h[(*index, k)]) for k in range(features)) + b[c]
            for c in range(num_classes)
        ]
        z = math.log(math.fsum(math.exp(v) for v in x))
        losses.append(z - x[label] + z_loss * z * z)
        weights.append(1.0)
    return reduce_literal(losses, weights, target.shape, reduction)
