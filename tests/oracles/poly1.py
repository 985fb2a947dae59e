"""Oracle for `deeplossdive/losses/poly1.py`: Poly-1 (Leng et al., 2022, eq. 3)."""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import positions, reduce_literal


def poly1(
    logits: Tensor, target: Tensor, *, epsilon: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """ℓ = -log p_t + ε (1 - p_t), p = softmax over dim 1."""
    x = logits.detach().double()
    losses = []
    for index in positions(target):
        n, rest = index[0], index[1:]
        exps = [math.exp(float(x[(n, c, *rest)])) for c in range(x.shape[1])]
        p_t = exps[int(target[index])] / sum(exps)
        losses.append(-math.log(p_t) + epsilon * (1 - p_t))
    return reduce_literal(losses, [1.0] * len(losses), target.shape, reduction)
