"""Oracles for `deeplossdive/losses/asymmetric.py` (Ridnik et al., 2021).

`asymmetric` writes the paper's formula element by element. `reference_terms` transcribes the
authors' code, Alibaba-MIIL/ASL,
`src/loss_functions/losses.py` at commit 8c9e0bd8d5d450cf19093363fc08aa7244ad4408
(`AsymmetricLoss.forward` and `AsymmetricLossOptimized.forward`), returning the elements whose
sum, negated, the reference returns (`-loss.sum()`): the reference's value is
`-reference_terms(...).sum()`. Two deviations, neither of which changes a number: the focusing
weight is computed under `torch.no_grad()` instead of `torch.set_grad_enabled(False)` followed by
an unconditional `torch.set_grad_enabled(True)` (which would turn gradients back on for a caller
inside `no_grad`), and the optimized class's in-place updates work on local tensors instead of
attributes of the module (`self.targets`, `self.loss`, ...).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from tests.oracles import positions, reduce_literal


def asymmetric(
    logits: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = -(1 - p)^γ+ log max(p, ε) for t = 1; -p_m^γ- log max(1 - p_m, ε), p_m = max(p - m, 0),
    for t = 0 (paper, eqs. 4-5 and 7; the floor ε as in the authors' code)."""
    x = logits.detach().double()
    losses = []
    for index in positions(target):
        p = 1 / (1 + math.exp(-float(x[index])))
        if float(target[index]) == 1:
            losses.append(-((1 - p) ** gamma_pos) * math.log(max(p, eps)))
        else:
            p_m = max(p - clip, 0.0)
            losses.append(-(p_m**gamma_neg) * math.log(max(1 - p_m, eps)))
    return reduce_literal(losses, [1.0] * len(losses), target.shape, reduction)


def reference_terms(
    x: Tensor,
    y: Tensor,
    *,
    optimized: bool = False,
    gamma_neg: float = 4,
    gamma_pos: float = 1,
    clip: float | None = 0.05,
    eps: float = 1e-8,
    disable_torch_grad_focal_loss: bool | None = None,
) -> Tensor:
    """`AsymmetricLoss.forward`, or `AsymmetricLossOptimized.forward` if `optimized`, without the
    final `-loss.sum()`; defaults as there (`disable_torch_grad_focal_loss`: None is the class's
    default, True for `AsymmetricLoss`, False for `AsymmetricLossOptimized`)."""
    detach = (
        not optimized if disable_torch_grad_focal_loss is None else disable_torch_grad_focal_loss
    )
    self = _Settings(gamma_neg, gamma_pos, clip, eps, detach)
    return _optimized_forward(self, x, y) if optimized else _forward(self, x, y)


class _Settings(NamedTuple):
    """The attributes that the reference's `forward` reads from `self`."""

    gamma_neg: float
    gamma_pos: float
    clip: float | None
    eps: float
    disable_torch_grad_focal_loss: bool


def _forward(self: _Settings, x: Tensor, y: Tensor) -> Tensor:
    # Calculating Probabilities
    x_sigmoid = torch.sigmoid(x)
    xs_pos = x_sigmoid
    xs_neg = 1 - x_sigmoid

    # Asymmetric Clipping
    if self.clip is not None and self.clip > 0:
        xs_neg = (xs_neg + self.clip).clamp(max=1)

    # Basic CE calculation
    los_pos = y * torch.log(xs_pos.clamp(min=self.eps))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=self.eps))
    loss = los_pos + los_neg

    # Asymmetric Focusing
    if self.gamma_neg > 0 or self.gamma_pos > 0:
        with torch.set_grad_enabled(
            not self.disable_torch_grad_focal_loss and torch.is_grad_enabled()
        ):
            pt0 = xs_pos * y
            pt1 = xs_neg * (1 - y)  # pt = p if t > 0 else 1-p
            pt = pt0 + pt1
            one_sided_gamma = self.gamma_pos * y + self.gamma_neg * (1 - y)
            one_sided_w = torch.pow(1 - pt, one_sided_gamma)
        loss = loss * one_sided_w
    return loss


def _optimized_forward(self: _Settings, x: Tensor, y: Tensor) -> Tensor:
    targets = y
    anti_targets = 1 - y

    # Calculating Probabilities
    xs_pos = torch.sigmoid(x)
    xs_neg = 1.0 - xs_pos

    # Asymmetric Clipping
    if self.clip is not None and self.clip > 0:
        xs_neg.add_(self.clip).clamp_(max=1)

    # Basic CE calculation
    loss = targets * torch.log(xs_pos.clamp(min=self.eps))
    loss.add_(anti_targets * torch.log(xs_neg.clamp(min=self.eps)))

    # Asymmetric Focusing
    if self.gamma_neg > 0 or self.gamma_pos > 0:
        with torch.set_grad_enabled(
            not self.disable_torch_grad_focal_loss and torch.is_grad_enabled()
        ):
            xs_pos = xs_pos * targets
            xs_neg = xs_neg * anti_targets
            asymmetric_w = torch.pow(
                1 - xs_pos - xs_neg, self.gamma_pos * targets + self.gamma_neg * anti_targets
            )
        loss *= asymmetric_w
    return loss
