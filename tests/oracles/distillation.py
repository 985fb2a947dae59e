"""Oracle for `deeplossdive/losses/distillation.py` (Hinton et al., 2015)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tests.oracles import positions, reduce_literal


def distillation(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
) -> Tensor:
    """ℓ_n = T² Σ_c p_c log(p_c / q_c), p = softmax(t / T), q = softmax(s / T) at each position n.

    `none` is one value per distribution (shape without dimension 1), `batchmean` is Σ ℓ / N,
    `mean` is Σ ℓ / (number of distributions).
    """
    s = student_logits.detach().double()
    t = teacher_logits.detach().double()
    grid = torch.empty((s.shape[0], *s.shape[2:]))
    losses = []
    for index in positions(grid):
        n, rest = index[0], index[1:]
        classes = range(s.shape[1])
        exp_s = [math.exp(float(s[(n, c, *rest)]) / temperature) for c in classes]
        exp_t = [math.exp(float(t[(n, c, *rest)]) / temperature) for c in classes]
        q = [e / sum(exp_s) for e in exp_s]
        p = [e / sum(exp_t) for e in exp_t]
        kl = sum(p_c * math.log(p_c / q_c) for p_c, q_c in zip(p, q, strict=True) if p_c > 0)
        losses.append(temperature**2 * kl)
    if reduction == "batchmean":
        return torch.tensor(math.fsum(losses) / s.shape[0], dtype=torch.float64)
    return reduce_literal(losses, [1.0] * len(losses), grid.shape, reduction)
