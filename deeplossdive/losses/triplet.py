"""Triplet margin loss: an anchor closer to its positive than to its negative, by a margin."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE,
    Interval,
    check_embeddings,
    check_floating,
    check_interval,
    check_shape,
)

Distance = Callable[[Tensor, Tensor], Tensor]
"""A distance between two batches of embeddings (N, D) and (N, D), one value per row: (N,)."""

_DEFAULT_P = 2.0
_DEFAULT_EPS = 1e-6


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    /,
    *,
    margin: float = 1.0,
    p: float = _DEFAULT_P,
    swap: bool = False,
    distance: Distance | None = None,
    eps: float = _DEFAULT_EPS,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Triplet margin loss of [Schroff et al., 2015](https://arxiv.org/abs/1503.03832).

    For row $n$, with $a_n$, $p_n$, $n_n$ the anchor, positive and negative embeddings, a
    distance $d$ and a margin $m$, the unreduced loss is

    $$
    \ell_n = \max\bigl(0,\ m + d(a_n, p_n) - d(a_n, n_n)\bigr):
    $$

    zero once the negative is at least $m$ farther from the anchor than the positive is. With
    `swap=True` the negative's distance is $\min\bigl(d(a_n, n_n),\ d(p_n, n_n)\bigr)$: the
    positive plays the anchor when it is the one closer to the negative (the harder of the two),
    the "distance swap" of
    [Balntas et al., 2016](https://www.bmva.org/bmvc/2016/papers/paper119/paper119.pdf).
    `"mean"` averages over the $N$ triplets.

    By default $d$ is the $p$-norm distance of
    [`torch.nn.functional.pairwise_distance`](https://pytorch.org/docs/stable/generated/torch.nn.functional.pairwise_distance.html),
    $d(x, y) = \lVert x - y + \epsilon \rVert_p$: the $\epsilon$ is added to the *difference*,
    element by element, exactly as torch does, so this function equals
    [`torch.nn.functional.triplet_margin_loss`](https://pytorch.org/docs/stable/generated/torch.nn.functional.triplet_margin_loss.html)
    value for value. (It makes $d(a, a) = \epsilon D^{1/p}$ rather than 0, and $d(x, y)$ very
    slightly different from $d(y, x)$.) The gradient of the norm at a zero difference is taken as
    0, so even `eps=0` gives finite gradients at $a_n = p_n$. `distance` replaces the $p$-norm by
    any callable, as
    [`torch.nn.TripletMarginWithDistanceLoss`](https://pytorch.org/docs/stable/generated/torch.nn.TripletMarginWithDistanceLoss.html)
    does; `p` and `eps` then have no meaning and must be left at their defaults. float16 and
    bfloat16 inputs are computed in float32 and the result is returned in the input dtype.

    Args:
        anchor: Anchor embeddings, shape $(N, D)$.
        positive: Embeddings of the same class as the anchors, shape $(N, D)$.
        negative: Embeddings of another class, shape $(N, D)$.
        margin: The margin $m \ge 0$, in units of the distance.
        p: The order $p \ge 1$ of the norm (`float("inf")` for the max-norm).
        swap: Use $\min(d(a_n, n_n), d(p_n, n_n))$ as the negative distance.
        distance: A callable `(x, y) -> (N,)` returning one distance per row, such as
            `lambda x, y: 1 - F.cosine_similarity(x, y)`, or `None` for the $p$-norm.
        eps: The $\epsilon \ge 0$ added to each difference in the $p$-norm distance.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: An embedding is not floating point, or the three dtypes differ.
        ValueError: An embedding is not 2-D, the shapes differ, `margin` < 0, `p` < 1, `eps` < 0,
            `p` or `eps` changed together with `distance`, an unknown `reduction`, or `distance`
            returns a result that is not of shape $(N)$.

    Examples:
        The first anchor is 1 from its positive and 3 from its negative: the margin of 1 is met
        with room to spare. The second is 2 from both: the loss is the margin.

        >>> import torch
        >>> from deeplossdive.functional import triplet_margin_loss
        >>> anchor = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> positive = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> negative = torch.tensor([[3.0, 0.0], [2.0, 0.0]])
        >>> triplet_margin_loss(anchor, positive, negative, eps=0.0, reduction="none")
        tensor([0., 1.])

        By hand: $\max(0, 1 + 1 - 3) = 0$ and $\max(0, 1 + 2 - 2) = 1$.
    """
    fn = "triplet_margin_loss"
    check_embeddings(fn, anchor=anchor, positive=positive, negative=negative)
    _check_hyperparameters(fn, margin, p, distance, eps)
    check_reduction(fn, reduction)

    a, pos, neg = upcast(anchor), upcast(positive), upcast(negative)
    dist = _p_norm(p, eps) if distance is None else _checked(fn, distance, anchor.shape[0])
    dist_pos = dist(a, pos)
    dist_neg = dist(a, neg)
    if swap:
        dist_neg = torch.minimum(dist_neg, dist(pos, neg))
    loss = torch.clamp_min(margin + dist_pos - dist_neg, 0)
    return reduce_loss(loss, reduction).to(anchor.dtype)


def _check_hyperparameters(
    fn: str, margin: float, p: float, distance: Distance | None, eps: float
) -> None:
    check_interval(fn, "margin", margin, NON_NEGATIVE)
    check_interval(fn, "p", p, Interval(1.0))
    check_interval(fn, "eps", eps, NON_NEGATIVE)
    if distance is not None:
        if not callable(distance):
            raise TypeError(
                f"{fn}: distance must be a callable (x, y) -> distances or None, "
                f"got {type(distance).__name__}"
            )
        if p != _DEFAULT_P:
            raise ValueError(
                f"{fn}: p must be left at its default {_DEFAULT_P} when distance is given "
                f"(the callable replaces the p-norm), got {p}"
            )
        if eps != _DEFAULT_EPS:
            raise ValueError(
                f"{fn}: eps must be left at its default {_DEFAULT_EPS} when distance is given "
                f"(the callable replaces the p-norm), got {eps}"
            )


def _p_norm(p: float, eps: float) -> Distance:
    def dist(x: Tensor, y: Tensor) -> Tensor:
        # torch.pairwise_distance: eps is added to the difference; the gradient at 0 is 0.
        norm: Tensor = torch.linalg.vector_norm(x - y + eps, ord=p, dim=-1)
        return norm

    return dist


def _checked(fn: str, distance: Distance, rows: int) -> Distance:
    def dist(x: Tensor, y: Tensor) -> Tensor:
        result = distance(x, y)
        check_floating(fn, "distance(x, y)", result)
        check_shape(fn, "distance(x, y)", result, (rows,), "one distance per row")
        return result

    return dist


class TripletMarginLoss(Loss[Reduction], function=triplet_margin_loss):
    """Module form of [`triplet_margin_loss`][deeplossdive.functional.triplet_margin_loss]."""

    def __init__(
        self,
        *,
        margin: float = 1.0,
        p: float = _DEFAULT_P,
        eps: float = _DEFAULT_EPS,
        distance: Distance | None = None,
        swap: bool = False,
        reduction: Reduction = "mean",
    ) -> None:
        _check_hyperparameters(type(self).__name__, margin, p, distance, eps)
        super().__init__(locals(), margin=NON_NEGATIVE, p=Interval(1.0), eps=NON_NEGATIVE)

    def extra_repr(self) -> str:
        return self.describe(hidden=("distance",) if self.distance is None else ("p", "eps"))


def _triplet(margin: float) -> Curve:
    def loss(d: Tensor) -> Tensor:
        zeros = torch.zeros_like(d)
        anchor = torch.stack([zeros, zeros], dim=1)
        positive = torch.stack([torch.ones_like(d), zeros], dim=1)
        negative = torch.stack([zeros, d], dim=1)
        return triplet_margin_loss(anchor, positive, negative, margin=margin, reduction="none")

    return loss


describe(
    triplet_margin_loss,
    family="Metric learning",
    task="Metric learning (triplets)",
    torch="`F.triplet_margin_loss`",
    plot=Plot(
        Axis("$d(a, n)$", (0.0, 3.5), "$d(a, n)$"),
        "The positive is at distance $d(a, p) = 1$ from the anchor, the negative at $d(a, n)$.",
        {f"margin = {m:g}": _triplet(m) for m in (0.5, 1.0, 2.0)},
    ),
    chart=Leaf("Learn embeddings", "anchor, positive, negative"),
)
