"""Contrastive loss of Hadsell, Chopra & LeCun (2006): pull similar pairs, push dissimilar ones."""

from __future__ import annotations

import torch
from torch import Tensor

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE,
    check_embeddings,
    check_interval,
    check_shape,
    check_zero_one_labels,
    check_zero_one_labels_dtype,
)


def contrastive_loss(
    x1: Tensor, x2: Tensor, target: Tensor, /, *, margin: float = 1.0, reduction: Reduction = "mean"
) -> Tensor:
    r"""Contrastive loss of [Hadsell, Chopra & LeCun, 2006](https://doi.org/10.1109/CVPR.2006.100).

    For the pair $(x_{1,n}, x_{2,n})$ with Euclidean distance
    $d_n = \lVert x_{1,n} - x_{2,n} \rVert_2$, a label $y_n$ (1: similar, 0: dissimilar) and a
    margin $m$, the unreduced loss is

    $$
    \ell_n = y_n\,\tfrac{1}{2}\,d_n^2 + (1 - y_n)\,\tfrac{1}{2}\max(0,\ m - d_n)^2 :
    $$

    similar pairs are pulled together with a spring of rest length 0, dissimilar pairs are pushed
    apart until they are $m$ apart, and cost nothing beyond. `"mean"` averages over the $N$ pairs.

    **Labels.** Here `target` is 1 for a *similar* pair and 0 for a dissimilar one. The paper
    uses the opposite convention ($Y = 0$ similar, $Y = 1$ dissimilar): code ported from its
    equation with labels 1 = same class trains the embedding backwards; pass `1 - Y`.

    The similar term is computed from $d_n^2 = \sum_k (x_{1,n,k} - x_{2,n,k})^2$ without a square
    root, so its gradient is exactly 0 for identical embeddings. The dissimilar term's gradient
    at $d_n = 0$ has no direction (every direction increases the distance equally); it is taken as
    0, so two identical embeddings of a dissimilar pair get a finite but zero gradient from this
    loss. float16 and bfloat16 inputs are computed in float32 and the result is returned in the
    input dtype.

    Args:
        x1: Embeddings of the first element of each pair, shape $(N, D)$.
        x2: Embeddings of the second element, shape $(N, D)$.
        target: 1 for a similar pair, 0 for a dissimilar one, shape $(N)$; boolean, integer or
            floating point. With value checks off, anything other than 1 counts as dissimilar.
        margin: The margin $m \ge 0$ beyond which dissimilar pairs cost nothing.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `x1` or `x2` is not floating point, their dtypes differ, or `target` is
            complex.
        ValueError: `x1` is not 2-D, shapes differ, `margin` < 0, an unknown `reduction`, or
            (with value checks on) a label other than 0 and 1.

    Examples:
        A similar pair 0.6 apart, a dissimilar pair 0.6 apart, a dissimilar pair 2 apart:

        >>> import torch
        >>> from deeplossdive.functional import contrastive_loss
        >>> x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        >>> x2 = torch.tensor([[0.6, 0.0], [0.0, 0.6], [2.0, 0.0]])
        >>> target = torch.tensor([1, 0, 0])
        >>> contrastive_loss(x1, x2, target, reduction="none")
        tensor([0.1800, 0.0800, 0.0000])

        By hand: $\tfrac12 \cdot 0.6^2 = 0.18$, $\tfrac12 (1 - 0.6)^2 = 0.08$, and the last pair
        is beyond the margin.
    """
    fn = "contrastive_loss"
    check_embeddings(fn, x1=x1, x2=x2)
    check_zero_one_labels_dtype(fn, "target", target)
    check_shape(fn, "target", target, (x1.shape[0],), "one label per pair")
    check_interval(fn, "margin", margin, NON_NEGATIVE)
    check_reduction(fn, reduction)
    check_zero_one_labels(fn, "target", target)

    diff = upcast(x1) - upcast(x2)
    squared = (diff * diff).sum(dim=-1)
    # vector_norm's gradient at a zero difference is 0, where sqrt(squared) would give NaN.
    dist = torch.linalg.vector_norm(diff, ord=2, dim=-1)
    similar = 0.5 * squared
    dissimilar = 0.5 * torch.clamp_min(margin - dist, 0) ** 2
    loss = torch.where(target == 1, similar, dissimilar)
    return reduce_loss(loss, reduction).to(x1.dtype)


class ContrastiveLoss(Loss[Reduction], function=contrastive_loss):
    """Module form of [`contrastive_loss`][deeplossdive.functional.contrastive_loss]."""

    def __init__(self, *, margin: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__(locals(), margin=NON_NEGATIVE)


def _pair_at_distance(target: int) -> Curve:
    def loss(d: Tensor) -> Tensor:
        x1 = torch.stack([d, torch.zeros_like(d)], dim=1)
        labels = torch.full_like(d, target, dtype=torch.long)
        return contrastive_loss(x1, torch.zeros_like(x1), labels, reduction="none")

    return loss


describe(
    contrastive_loss,
    family="Metric learning",
    task="Metric learning (pairs)",
    plot=Plot(
        Axis("$d$", (0.0, 2.5), "$d$"),
        "A pair of embeddings at Euclidean distance $d$, margin 1.",
        {"similar (target 1)": _pair_at_distance(1), "dissimilar (target 0)": _pair_at_distance(0)},
    ),
    chart=Leaf("Learn embeddings", "pairs, same or not", "distances", rank=1),
)
