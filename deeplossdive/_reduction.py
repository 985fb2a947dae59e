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
"""How a loss reduces its per-element values: `"none"`, `"mean"` (Σ w ℓ / Σ w) or `"sum"`."""
REDUCTIONS: Final[tuple[Reduction, ...]] = ("none", "mean", "sum")

KLReduction = Literal["none", "batchmean", "sum", "mean"]
"""The reductions of the KL losses: those of `Reduction` plus `"batchmean"` (sum / N)."""
KL_REDUCTIONS: Final[tuple[KLReduction, ...]] = ("none", "batchmean", "sum", "mean")


def check_reduction(function: str, reduction: object) -> Reduction:
    """Return `reduction` if it is one of `REDUCTIONS`; raise `ValueError` otherwise."""
    return check_choice(function, "reduction", reduction, REDUCTIONS)


def check_kl_reduction(function: str, reduction: object) -> KLReduction:
    """Return `reduction` if it is one of `KL_REDUCTIONS`; raise `ValueError` otherwise."""
    return check_choice(function, "reduction", reduction, KL_REDUCTIONS)


def weighted_mean(total: Tensor, denominator: Tensor) -> Tensor:
    """`total / denominator`, and 0 (with a zero gradient) when the denominator is 0.

    A zero denominator means every element was ignored, so `total` is 0 too; dividing by 1
    instead keeps the value and the gradient 0 rather than NaN.
    """
    if not denominator.is_floating_point():
        return total / denominator.clamp(min=1)
    return total / torch.where(denominator == 0, torch.ones_like(denominator), denominator)


def reduce_loss(
    loss: Tensor, reduction: Reduction | KLReduction, *, weight: Tensor | None = None
) -> Tensor:
    r"""Apply `reduction` to the unreduced loss $\ell_n$, with optional per-element weights $w_n$.

    - `"none"`: $w_n \ell_n$ (or $\ell_n$), same shape as `loss`;
    - `"sum"`: $\sum_n w_n \ell_n$;
    - `"mean"`: $\sum_n w_n \ell_n / \sum_n w_n$ (or the plain mean). When every weight is zero
      (every element ignored) or there is no element at all, the mean is 0, not NaN (torch's
      answer), and its gradient is 0;
    - `"batchmean"`: $\sum_n w_n \ell_n / N$ with $N$ the size of the first dimension of `loss`
      (the per-sample KL divergence); 0 for an empty batch.

    `weight` must already have the shape of `loss`: broadcasting is the caller's explicit choice.
    """
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "batchmean":
        return loss.sum() / max(loss.shape[0] if loss.dim() else 1, 1)
    if weight is None:
        return loss.sum() / max(loss.numel(), 1)
    return weighted_mean(loss.sum(), weight.sum())
