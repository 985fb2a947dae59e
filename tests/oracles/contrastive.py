"""Oracle for `deeplossdive/losses/contrastive.py` (Hadsell, Chopra & LeCun 2006)."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal


def contrastive(
    x1: Tensor, x2: Tensor, target: Tensor, *, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """The paper's L = (1 − Y)·½·D² + Y·½·max(0, m − D)², with the paper's Y = 1 − target.

    The paper's Y is 0 for a similar pair and 1 for a dissimilar one; `target` is 1 for similar.
    """
    a, b = x1.detach().double(), x2.detach().double()
    losses = []
    for n in range(a.shape[0]):
        pairs = zip(a[n].tolist(), b[n].tolist(), strict=True)
        big_d = math.sqrt(math.fsum((u - v) ** 2 for u, v in pairs))
        y = 1.0 - float(target[n])  # the paper's label
        losses.append((1 - y) * 0.5 * big_d**2 + y * 0.5 * max(0.0, margin - big_d) ** 2)
    return reduce_literal(losses, [1.0] * len(losses), (a.shape[0],), reduction)
