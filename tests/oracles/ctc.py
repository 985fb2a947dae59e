"""Oracle for `deeplossdive/losses/ctc.py`: the CTC forward algorithm, written literally.

Graves et al. (2006), section 4.1, in log space: the label sequence l with blanks interleaved,
l' = (b, l₁, b, l₂, …, b), of length 2S + 1;
α₁(1) = log y₁(b), α₁(2) = log y₁(l₁), α₁(s) = −∞ otherwise;
αₜ(s) = log Σ of αₜ₋₁ at s, s − 1, and s − 2 when l'ₛ ≠ b and l'ₛ ≠ l'ₛ₋₂; plus log yₜ(l'ₛ);
ℓ = −log(exp αₜ(2S + 1) + exp αₜ(2S)) at t = T_n. One loop per frame and per position.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _log_sum(values: list[float]) -> float:
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))


def _sequence_loss(log_y: list[list[float]], labels: list[int], blank: int) -> float:
    extended = [blank]
    for label in labels:
        extended += [label, blank]
    positions = len(extended)
    alpha = [-math.inf] * positions
    alpha[0] = log_y[0][blank]
    if positions > 1:
        alpha[1] = log_y[0][extended[1]]
    for t in range(1, len(log_y)):
        previous = alpha
        alpha = []
        for s in range(positions):
            terms = [previous[s]]
            if s >= 1:
                terms.append(previous[s - 1])
            if s >= 2 and extended[s] != blank and extended[s] != extended[s - 2]:
                terms.append(previous[s - 2])
            alpha.append(_log_sum(terms) + log_y[t][extended[s]])
    ends = [alpha[-1]] + ([alpha[-2]] if positions > 1 else [])
    return -_log_sum(ends)


def ctc(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    *,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """ℓₙ by the forward algorithm; mean = (1/N) Σ ℓₙ / max(Sₙ, 1), as torch.nn.CTCLoss."""
    values = log_probs.detach().double().tolist()
    frames = [int(v) for v in input_lengths.tolist()]
    sizes = [int(v) for v in target_lengths.tolist()]
    flat = [int(v) for v in targets.flatten().tolist()]
    losses = []
    offset = 0
    for n, (length, size) in enumerate(zip(frames, sizes, strict=True)):
        if targets.dim() == 2:
            labels = flat[n * targets.shape[1] : n * targets.shape[1] + size]
        else:
            labels = flat[offset : offset + size]
            offset += size
        log_y = [values[t][n] for t in range(length)]
        if length > 0:
            loss = _sequence_loss(log_y, labels, blank)
        else:  # no frame: the empty alignment, only for an empty target
            loss = 0.0 if size == 0 else math.inf
        if zero_infinity and loss == math.inf:
            loss = 0.0
        losses.append(loss)
    if reduction == "none":
        return torch.tensor(losses, dtype=torch.float64)
    if reduction == "sum":
        return torch.tensor(math.fsum(losses), dtype=torch.float64)
    per_label = [loss / max(size, 1) for loss, size in zip(losses, sizes, strict=True)]
    return torch.tensor(math.fsum(per_label) / max(len(losses), 1), dtype=torch.float64)
