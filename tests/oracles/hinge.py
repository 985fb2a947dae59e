"""Oracles for `deeplossdive/losses/hinge.py` (Cortes & Vapnik 1995; Weston & Watkins 1999;
Crammer & Singer 2001)."""

from __future__ import annotations

from torch import Tensor

from tests.oracles import positions, reduce_literal


def hinge(
    scores: Tensor,
    target: Tensor,
    *,
    margin: float = 1.0,
    squared: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """ℓ = max(0, m − t·s), squared: ℓ², with t ∈ {−1, +1}."""
    losses = []
    xs = scores.detach().double().flatten().tolist()
    for s, t in zip(xs, target.double().flatten().tolist(), strict=True):
        shortfall = margin - t * s
        term = shortfall if shortfall > 0 else 0.0
        losses.append(term**2 if squared else term)
    return reduce_literal(losses, [1.0] * len(losses), scores.shape, reduction)


def multiclass_hinge(
    scores: Tensor,
    target: Tensor,
    *,
    margin: float = 1.0,
    squared: bool = False,
    variant: str = "weston_watkins",
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge, `squared` squaring each max(0, ·) term.

    Weston–Watkins: Σ_{j≠y} max(0, m − s_y + s_j); Crammer–Singer: max(0, m + max_{j≠y} s_j − s_y).
    """
    x = scores.detach().double()
    losses = []
    for index in positions(target):
        n, rest = index[0], index[1:]
        y = int(target[index])
        s = [float(x[(n, c, *rest)]) for c in range(x.shape[1])]
        if variant == "weston_watkins":
            total = 0.0
            for j in range(len(s)):
                if j == y:
                    continue
                term = max(0.0, margin - s[y] + s[j])
                total += term**2 if squared else term
            losses.append(total)
        elif variant == "crammer_singer":
            rival = max(s[j] for j in range(len(s)) if j != y)
            term = max(0.0, margin + rival - s[y])
            losses.append(term**2 if squared else term)
        else:
            raise AssertionError(variant)
    return reduce_literal(losses, [1.0] * len(losses), target.shape, reduction)
