r"""The one place that defines reductions.

A weighted mean is always $\sum_n w_n \ell_n / \sum_n w_n$. An ignored element has weight 0, so
"ignoring an element" and "removing it" give the same mean.
"""

from __future__ import annotations

from typing import Final, Literal

import torch
from torch import Tensor

from deeplossdive._validation import check_choice

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS: Final[tuple[Reduction, ...]] = ("none", "mean", "sum")


def check_reduction(function: str, reduction: object) -> Reduction:
    """Return `reduction` if it is `"none"`, `"mean"` or `"sum"`; raise `ValueError` otherwise."""
    return check_choice(function, "reduction", reduction, REDUCTIONS)


def reduce_loss(loss: Tensor, reduction: Reduction, *, weight: Tensor | None = None) -> Tensor:
    r"""Apply `reduction` to the unreduced loss $\ell_n$, with optional per-element weights $w_n$.

    - `"none"`: $w_n \ell_n$ (or $\ell_n$), same shape as `loss`;
    - `"sum"`: $\sum_n w_n \ell_n$;
    - `"mean"`: $\sum_n w_n \ell_n / \sum_n w_n$ (or the plain mean). When every weight is zero
      (every element ignored) the mean is 0, not NaN, and its gradient is 0.

    `weight` must already have the shape of `loss`: broadcasting is the caller's explicit choice.
    """
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if weight is None:
        return loss.mean()
    total = weight.sum()
    # An all-ignored batch has total == 0 and a numerator of exactly 0: divide by 1 instead of 0.
    return loss.sum() / torch.where(total == 0, torch.ones_like(total), total)
