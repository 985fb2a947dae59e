"""Hinge losses: the binary SVM hinge and the multi-class Weston–Watkins and Crammer–Singer."""

from __future__ import annotations

from dataclasses import replace
from typing import Final, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import MARGIN, Curve, Leaf, Plot, class0, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE,
    check_choice,
    check_class_indices,
    check_class_scores,
    check_interval,
    check_plus_minus_one,
    check_signed_target,
)

Variant = Literal["weston_watkins", "crammer_singer"]
VARIANTS: Final[tuple[Variant, ...]] = ("weston_watkins", "crammer_singer")


def hinge_loss(
    scores: Tensor,
    target: Tensor,
    /,
    *,
    margin: float = 1.0,
    squared: bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Binary hinge loss of the soft-margin SVM ([Cortes & Vapnik, 1995](https://doi.org/10.1007/BF00994018)).

    With a raw score $s$ (a logit, not a probability), a label $t \in \{-1, +1\}$ and a margin
    $m$, the unreduced loss is

    $$
    \ell = \max(0,\ m - t\,s), \qquad
    \ell_{\text{squared}} = \max(0,\ m - t\,s)^2 .
    $$

    An element costs nothing once it is on the right side with room to spare, $t\,s \ge m$;
    inside the margin or on the wrong side the cost grows linearly (squared: quadratically) with
    the shortfall. `"mean"` averages over every element. float16 and bfloat16 inputs are computed
    in float32 and the result is returned in the input dtype.

    Args:
        scores: Raw scores, any shape.
        target: Labels $-1$ or $+1$, the shape of `scores`, floating point or signed integer
            (`torch.tensor([1, -1])` and `torch.tensor([1.0, -1.0])` are both accepted).
            Labels in $\{0, 1\}$ are an error, not silently read as $\{-1, +1\}$: map them
            with `2 * y - 1`.
        margin: The margin $m \ge 0$; $m = 0$ is the perceptron criterion.
        squared: Square each term (the L2-SVM loss), which is differentiable everywhere.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `scores` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `scores` is not floating point, or `target` is neither floating point nor a
            signed integer.
        ValueError: Shapes differ, `margin` < 0, an unknown `reduction`, or (with value checks
            on) a label other than $-1$ and $+1$.

    Examples:
        A confident right answer, one inside the margin, one on the wrong side:

        >>> import torch
        >>> from deeplossdive.functional import hinge_loss
        >>> scores = torch.tensor([2.0, 0.5, -1.0])
        >>> target = torch.tensor([1, 1, 1])
        >>> hinge_loss(scores, target, reduction="none")
        tensor([0.0000, 0.5000, 2.0000])
        >>> hinge_loss(scores, target, squared=True, reduction="none")
        tensor([0.0000, 0.2500, 4.0000])

        By hand: $\max(0, 1 - 2) = 0$, $1 - 0.5 = 0.5$ and $1 - (-1) = 2$.
    """
    fn = "hinge_loss"
    check_signed_target(fn, "scores", scores, target)
    check_interval(fn, "margin", margin, NON_NEGATIVE)
    check_reduction(fn, reduction)
    check_plus_minus_one(fn, "target", target)

    work = upcast(scores)
    loss = torch.clamp_min(margin - target.to(work.dtype) * work, 0)
    if squared:
        loss = loss * loss
    return reduce_loss(loss, reduction).to(scores.dtype)


def multiclass_hinge_loss(
    scores: Tensor,
    target: Tensor,
    /,
    *,
    margin: float = 1.0,
    squared: bool = False,
    variant: Variant = "weston_watkins",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-class hinge loss, in the form of Weston & Watkins or of Crammer & Singer.

    With scores $s_1, \dots, s_C$ for one element, its class $y$ and a margin $m$, the
    unreduced loss of
    [Weston & Watkins, 1999](https://www.esann.org/sites/default/files/proceedings/legacy/es1999-461.pdf)
    (`variant="weston_watkins"`) charges every wrong class that comes within $m$ of the right one,

    $$
    \ell_{\text{WW}} = \sum_{j \ne y} \max(0,\ m - s_y + s_j),
    $$

    and that of
    [Crammer & Singer, 2001](https://www.jmlr.org/papers/v2/crammer01a.html)
    (`variant="crammer_singer"`) charges only the strongest wrong class,

    $$
    \ell_{\text{CS}} = \max\bigl(0,\ m + \max_{j \ne y} s_j - s_y\bigr).
    $$

    `squared=True` squares each $\max(0, \cdot)$ term. `"mean"` averages over the elements
    (samples, and pixels for $(N, C, d_1, \dots)$ input); unlike
    [`torch.nn.MultiMarginLoss`](https://pytorch.org/docs/stable/generated/torch.nn.MultiMarginLoss.html)
    nothing is divided by $C$, so Weston–Watkins here is torch's value times $C$. float16 and
    bfloat16 inputs are computed in float32 and the result is returned in the input dtype.

    Args:
        scores: Raw class scores, shape $(N, C)$ or $(N, C, d_1, \dots)$, $C \ge 2$.
        target: Class indices in $[0, C)$, shape $(N)$ or $(N, d_1, \dots)$.
        margin: The margin $m \ge 0$.
        squared: Square each hinge term.
        variant: `"weston_watkins"` (sum over wrong classes) or `"crammer_singer"` (the
            largest wrong class only).
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `target` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `scores` is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, `margin` < 0, an unknown `variant` or `reduction`,
            or (with value checks on) a label outside $[0, C)$.

    Examples:
        One sample of class 0 whose two wrong classes come within the margin:

        >>> import torch
        >>> from deeplossdive.functional import multiclass_hinge_loss
        >>> scores = torch.tensor([[2.0, 1.5, 1.8]])
        >>> target = torch.tensor([0])
        >>> multiclass_hinge_loss(scores, target)
        tensor(1.3000)
        >>> multiclass_hinge_loss(scores, target, variant="crammer_singer")
        tensor(0.8000)

        Weston–Watkins: $(1 - 2 + 1.5) + (1 - 2 + 1.8) = 0.5 + 0.8$; Crammer–Singer keeps the
        larger term, $0.8$.
    """
    fn = "multiclass_hinge_loss"
    num_classes = check_class_scores(fn, "scores", scores, target)
    check_interval(fn, "margin", margin, NON_NEGATIVE)
    check_choice(fn, "variant", variant, VARIANTS)
    check_reduction(fn, reduction)
    check_class_indices(fn, target, num_classes, None)

    work = upcast(scores)
    if variant == "weston_watkins":
        return _weston_watkins(work, target.long(), margin, squared, reduction).to(scores.dtype)
    index = target.long().unsqueeze(1)
    is_target = torch.zeros_like(work, dtype=torch.bool).scatter_(1, index, True)
    true_score = work.gather(1, index)
    rival = work.masked_fill(is_target, float("-inf")).amax(dim=1)
    loss = torch.clamp_min(margin + rival - true_score.squeeze(1), 0)
    if squared:
        loss = loss * loss
    return reduce_loss(loss, reduction).to(scores.dtype)


def _weston_watkins(
    scores: Tensor, target: Tensor, margin: float, squared: bool, reduction: Reduction
) -> Tensor:
    r"""torch's fused `multi_margin_loss`, which divides each row's sum by $C$: times $C$.

    $(N, C, d_1, \dots)$ scores become $(N d_1 \cdots, C)$ rows (one copy). The mean of
    nothing is 0 (torch: NaN), from the sum.
    """
    num_classes = scores.shape[1]
    rows = scores if scores.dim() == 2 else scores.movedim(1, -1).reshape(-1, num_classes)
    if reduction == "mean" and rows.shape[0] == 0:
        reduction = "sum"
    loss = F.multi_margin_loss(
        rows, target.reshape(-1), p=2 if squared else 1, margin=margin, reduction=reduction
    )
    if reduction == "none":
        loss = loss.view(target.shape)
    return loss * num_classes


class HingeLoss(Loss[Reduction], function=hinge_loss):
    """Module form of [`hinge_loss`][deeplossdive.functional.hinge_loss]."""

    def __init__(
        self, *, margin: float = 1.0, squared: bool = False, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), margin=NON_NEGATIVE)


class MulticlassHingeLoss(Loss[Reduction], function=multiclass_hinge_loss):
    """Module form of [`multiclass_hinge_loss`][deeplossdive.functional.multiclass_hinge_loss]."""

    def __init__(
        self,
        *,
        margin: float = 1.0,
        squared: bool = False,
        variant: Variant = "weston_watkins",
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), margin=NON_NEGATIVE)


def _binary(*, squared: bool) -> Curve:
    return lambda s: hinge_loss(s, torch.ones_like(s), squared=squared, reduction="none")


def _multiclass(variant: Variant, *, squared: bool = False) -> Curve:
    def loss(s: Tensor) -> Tensor:
        scores = torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], dim=1)
        return multiclass_hinge_loss(
            scores, class0(s), variant=variant, squared=squared, reduction="none"
        )

    return loss


describe(
    hinge_loss,
    family="Classification",
    task="Binary (max-margin)",
    torch="— (not `F.hinge_embedding_loss`)",
    plot=Plot(
        MARGIN,
        "Label $y = +1$, score $s$, margin 1.",
        {"hinge": _binary(squared=False), "squared=True": _binary(squared=True)},
    ),
    chart=Leaf("Binary or multi-label", "a score, labels ±1", "a margin classifier", rank=1),
)
describe(
    multiclass_hinge_loss,
    family="Classification",
    task="Multi-class (max-margin)",
    torch="`F.multi_margin_loss`",
    plot=Plot(
        replace(MARGIN, x="$s_y - \\max_{j \\ne y} s_j$"),
        "Three classes, scores $(s, 0, 0)$, target class 0, margin 1.",
        {
            "weston_watkins": _multiclass("weston_watkins"),
            "crammer_singer": _multiclass("crammer_singer"),
            "weston_watkins, squared": _multiclass("weston_watkins", squared=True),
        },
    ),
    chart=Leaf("Classify: one class per example", "C logits", "a margin, no probabilities", rank=4),
)
