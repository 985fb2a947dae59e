"""Oracles for `deeplossdive/losses/cross_entropy.py`: cross-entropy and NLL, written literally.

The smoothed target is built explicitly, q = (1 - ε)·y + ε/C for every class (the true one
included), and the loss is ℓ = -Σ_c w_c q_c log p_c with p = softmax(x) (Szegedy et al., 2016,
section 7, with torch's per-class weights). The weighted mean divides by Σ_n Σ_c w_c y_{n,c},
the weight of the unsmoothed target.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tests.oracles import positions, reduce_literal


def _softmax(scores: list[float]) -> list[float]:
    exps = [math.exp(s) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _reduce(
    losses: list[float], weights: list[float], shape: tuple[int, ...], reduction: str
) -> Tensor:
    """`losses` already carry their class weights; `weights` only form the mean's denominator."""
    if reduction in ("none", "sum"):
        return reduce_literal(losses, [1.0] * len(losses), shape, reduction)
    denominator = math.fsum(weights)
    return torch.tensor(
        math.fsum(losses) / denominator if denominator else 0.0, dtype=torch.float64
    )


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Class indices (integer target) or probabilities (floating target of the logits' shape).

    `z_loss` ζ adds PaLM's ζ·z² with z = log Σ_c exp(x_c) (Chowdhery et al., 2022, section 5)
    to each counted element; its mean is a plain mean over the counted elements (Liger-Kernel's
    `lse_square_scale`, not weighted by the class weights).
    """
    x = logits.detach().double()
    num_classes = x.shape[1]
    w = [1.0] * num_classes if weight is None else [float(v) for v in weight]
    probabilities = target.is_floating_point()
    element_shape = (x.shape[0], *x.shape[2:])
    losses, weights = [], []
    squares: list[float | None] = []
    for index in positions(torch.empty(element_shape)):
        n, rest = index[0], index[1:]
        if probabilities:
            y = [float(target[(n, c, *rest)]) for c in range(num_classes)]
        else:
            label = int(target[index])
            if label == ignore_index:
                losses.append(0.0)
                weights.append(0.0)
                squares.append(None)
                continue
            y = [1.0 if c == label else 0.0 for c in range(num_classes)]
        q = [(1 - label_smoothing) * y_c + label_smoothing / num_classes for y_c in y]
        scores = [float(x[(n, c, *rest)]) for c in range(num_classes)]
        p = _softmax(scores)
        losses.append(-sum(w[c] * q[c] * math.log(p[c]) for c in range(num_classes)))
        weights.append(sum(w[c] * y[c] for c in range(num_classes)) if weight is not None else 1.0)
        squares.append(math.log(math.fsum(math.exp(s) for s in scores)) ** 2)
    loss = _reduce(losses, weights, element_shape, reduction)
    if not z_loss:
        return loss
    counted = [z_loss * s for s in squares if s is not None]
    if reduction == "none":
        terms = [0.0 if s is None else z_loss * s for s in squares]
        return loss + torch.tensor(terms, dtype=torch.float64).reshape(element_shape)
    if reduction == "sum":
        return loss + math.fsum(counted)
    return loss + (math.fsum(counted) / len(counted) if counted else 0.0)


def nll(
    log_probs: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = -w_y · log_probs[y]: pick the target's entry and negate it."""
    x = log_probs.detach().double()
    losses, weights = [], []
    for index in positions(target):
        n, rest = index[0], index[1:]
        label = int(target[index])
        if label == ignore_index:
            losses.append(0.0)
            weights.append(0.0)
            continue
        losses.append(-float(x[(n, label, *rest)]))
        weights.append(1.0 if weight is None else float(weight[label]))
    return reduce_literal(losses, weights, target.shape, reduction)
