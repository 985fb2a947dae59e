"""Cosine embedding loss: align similar pairs, keep dissimilar pairs below a cosine margin."""

from __future__ import annotations

import torch
from torch import Tensor

from deeplossdive._about import COSINE, Curve, Leaf, Plot, describe, unit_at_cosine
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE,
    Interval,
    check_embeddings,
    check_interval,
    check_plus_minus_one,
    check_shape,
    check_signed_labels,
)

_EPS = 1e-12


def cosine_embedding_loss(
    x1: Tensor,
    x2: Tensor,
    target: Tensor,
    /,
    *,
    margin: float = 0.0,
    eps: float = _EPS,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cosine embedding loss, the loss of [`torch.nn.CosineEmbeddingLoss`](https://pytorch.org/docs/stable/generated/torch.nn.CosineEmbeddingLoss.html).

    For the pair $(x_{1,n}, x_{2,n})$ with cosine similarity $c_n$, a label $y_n \in \{-1, +1\}$
    and a margin $m$, the unreduced loss is

    $$
    \ell_n =
    \begin{cases}
    1 - c_n & y_n = +1, \\
    \max(0,\ c_n - m) & y_n = -1,
    \end{cases}
    \qquad
    c_n = \frac{x_{1,n} \cdot x_{2,n}}
    {\sqrt{\bigl(\lVert x_{1,n} \rVert^2 + \epsilon\bigr)
    \bigl(\lVert x_{2,n} \rVert^2 + \epsilon\bigr)}} :
    $$

    similar pairs are pulled towards the same direction, dissimilar ones pushed until their cosine
    is at most $m$. Only directions matter: scaling an embedding changes nothing (down to the
    $\epsilon$). `"mean"` averages over the $N$ pairs.

    The $\epsilon$ in the denominator is torch's, so this function equals
    `torch.nn.functional.cosine_embedding_loss` in value and gradient for labels $\pm 1$. torch
    silently gives 0 for any other label (a $\{0, 1\}$ target makes every dissimilar pair free);
    here such a label is an error (a value check). With the $\epsilon$ a zero embedding has
    $c_n = 0$ and a finite gradient, but a large one: about $1 / \sqrt{\epsilon} = 10^6$ times the
    unit vector of its partner, as in torch. float16 and bfloat16 inputs are computed in float32
    and the result is returned in the input dtype.

    Args:
        x1: Embeddings of the first element of each pair, shape $(N, D)$.
        x2: Embeddings of the second element, shape $(N, D)$.
        target: $+1$ for a similar pair, $-1$ for a dissimilar one, shape $(N)$; floating point
            or signed integer. Labels $\{0, 1\}$ are an error: map them with `2 * y - 1`.
        margin: The cosine $m \in [-1, 1]$ below which dissimilar pairs cost nothing; torch's
            documentation suggests $0$ to $0.5$.
        eps: The $\epsilon \ge 0$ added to each squared norm.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `x1` or `x2` is not floating point, their dtypes differ, or `target` is
            neither floating point nor a signed integer.
        ValueError: `x1` is not 2-D, shapes differ, `margin` outside $[-1, 1]$, `eps` < 0, an
            unknown `reduction`, or (with value checks on) a label other than $-1$ and $+1$.

    Examples:
        A similar pair at 60 degrees, a dissimilar pair at 60 degrees, a dissimilar pair at 90:

        >>> import torch
        >>> from deeplossdive.functional import cosine_embedding_loss
        >>> x1 = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
        >>> x2 = torch.tensor([[0.5, 0.75**0.5], [1.5, 1.5 * 3**0.5], [0.0, 4.0]])
        >>> target = torch.tensor([1, -1, -1])
        >>> cosine_embedding_loss(x1, x2, target, reduction="none")
        tensor([0.5000, 0.5000, 0.0000])

        By hand: $\cos 60^\circ = 0.5$, so $1 - 0.5$ and $\max(0, 0.5 - 0)$; the orthogonal
        pair meets the margin $0$ exactly. The length of $x_2$ plays no part.
    """
    fn = "cosine_embedding_loss"
    check_embeddings(fn, x1=x1, x2=x2)
    check_signed_labels(fn, "target", target)
    check_shape(fn, "target", target, (x1.shape[0],), "one label per pair")
    _check_hyperparameters(fn, margin, eps)
    check_reduction(fn, reduction)
    check_plus_minus_one(fn, "target", target)

    a, b = upcast(x1), upcast(x2)
    # torch's formula, operation for operation (aten/src/ATen/native/Loss.cpp).
    prod_sum = (a * b).sum(dim=-1)
    mag_square1 = (a * a).sum(dim=-1) + eps
    mag_square2 = (b * b).sum(dim=-1) + eps
    cos = prod_sum / torch.sqrt(mag_square1 * mag_square2)
    loss = torch.where(target == 1, 1 - cos, torch.clamp_min(cos - margin, 0))
    return reduce_loss(loss, reduction).to(x1.dtype)


def _check_hyperparameters(fn: str, margin: float, eps: float) -> None:
    check_interval(fn, "margin", margin, Interval(-1.0, 1.0))
    check_interval(fn, "eps", eps, NON_NEGATIVE)


class CosineEmbeddingLoss(Loss[Reduction], function=cosine_embedding_loss):
    """Module form of [`cosine_embedding_loss`][deeplossdive.functional.cosine_embedding_loss]."""

    def __init__(
        self, *, margin: float = 0.0, eps: float = _EPS, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), margin=Interval(-1.0, 1.0), eps=NON_NEGATIVE)


def _pair_at_cosine(target: int, margin: float = 0.0) -> Curve:
    def loss(c: Tensor) -> Tensor:
        x1 = unit_at_cosine(c)
        x2 = torch.zeros_like(x1)
        x2[:, 0] = 1.0
        labels = torch.full_like(c, target, dtype=torch.long)
        return cosine_embedding_loss(x1, x2, labels, margin=margin, reduction="none")

    return loss


describe(
    cosine_embedding_loss,
    family="Metric learning",
    task="Metric learning (pairs)",
    torch="`F.cosine_embedding_loss`",
    plot=Plot(
        COSINE,
        "A pair of unit vectors at cosine $\\cos\\theta$.",
        {
            "target +1": _pair_at_cosine(1),
            "target −1, margin 0": _pair_at_cosine(-1),
            "target −1, margin 0.5": _pair_at_cosine(-1, margin=0.5),
        },
    ),
    chart=Leaf("Learn embeddings", "pairs, same or not", "directions only", rank=2),
)
