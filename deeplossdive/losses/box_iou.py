"""Box-regression losses of torchvision.ops: generalized, distance and complete IoU losses."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    POSITIVE_FINITE,
    check_boxes,
    check_floating,
    check_interval,
    check_min_ndim,
    check_same_shape,
)

_FOUR_OVER_PI_SQUARED = 4 / math.pi**2


def _boxes(fn: str, boxes1: Tensor, boxes2: Tensor, eps: float, reduction: str) -> None:
    check_floating(fn, "boxes1", boxes1)
    check_floating(fn, "boxes2", boxes2)
    check_min_ndim(fn, "boxes1", boxes1, 1, "(..., 4)")
    if boxes1.shape[-1] != 4:
        raise ValueError(
            f"{fn}: boxes1 must have a last dimension of size 4 (x1, y1, x2, y2), "
            f"got shape {tuple(boxes1.shape)}"
        )
    check_same_shape(fn, "boxes2", boxes2, "boxes1", boxes1)
    check_interval(fn, "eps", eps, POSITIVE_FINITE)
    check_reduction(fn, reduction)
    check_boxes(fn, "boxes1", boxes1)
    check_boxes(fn, "boxes2", boxes2)


def _iou_and_enclosing(
    boxes1: Tensor, boxes2: Tensor, eps: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """IoU, union, and the enclosing box's width and height; float16/bfloat16 in float32.

    The intersection is a product of widths clamped at 0 (`relu`, whose gradient at 0 is 0,
    as torchvision's mask `x2 > x1`), not a boolean-mask assignment: no host sync.
    """
    a = upcast(boxes1)
    b = boxes2.to(a.dtype)
    x1, y1, x2, y2 = a.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b.unbind(dim=-1)
    inter_w = torch.relu(torch.minimum(x2, x2g) - torch.maximum(x1, x1g))
    inter_h = torch.relu(torch.minimum(y2, y2g) - torch.maximum(y1, y1g))
    intersection = inter_w * inter_h
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intersection
    iou = intersection / (union + eps)
    enclosing_w = torch.maximum(x2, x2g) - torch.minimum(x1, x1g)
    enclosing_h = torch.maximum(y2, y2g) - torch.minimum(y1, y1g)
    return iou, union, enclosing_w, enclosing_h, a


def _centre_penalty(
    a: Tensor, b: Tensor, enclosing_w: Tensor, enclosing_h: Tensor, eps: float
) -> Tensor:
    """DIoU's $\\rho^2 / c^2$: squared centre distance over the enclosing box's squared diagonal."""
    x1, y1, x2, y2 = a.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b.unbind(dim=-1)
    diagonal = enclosing_w * enclosing_w + enclosing_h * enclosing_h + eps
    dx = (x1 + x2 - x1g - x2g) / 2
    dy = (y1 + y2 - y1g - y2g) / 2
    return (dx * dx + dy * dy) / diagonal


def generalized_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, /, *, eps: float = 1e-7, reduction: Reduction = "none"
) -> Tensor:
    r"""Generalized IoU loss of
    [Rezatofighi et al., 2019](https://arxiv.org/abs/1902.09630), as
    `torchvision.ops.generalized_box_iou_loss`.

    For a predicted box $B$ and a target box $B^{g}$, both $(x_1, y_1, x_2, y_2)$, with $C$ the
    smallest box enclosing both,

    $$
    \ell = 1 - \mathrm{IoU} + \frac{|C| - |B \cup B^{g}|}{|C| + \varepsilon},
    \qquad \mathrm{IoU} = \frac{|B \cap B^{g}|}{|B \cup B^{g}| + \varepsilon} .
    $$

    $\ell \in [0, 2)$: 0 for identical boxes, and for disjoint boxes, where $1 - \mathrm{IoU}$ is
    1 with gradient 0, the enclosing term still shrinks as the boxes approach. Unlike
    torchvision's, the intersection is computed without boolean-mask indexing (no host sync, no
    graph break under `torch.compile`). Values and gradients are finite for identical, nested,
    disjoint and zero-area boxes. The default reduction is `"none"`, as in torchvision;
    float16 and bfloat16 inputs are computed in float32 and the result is returned in the
    input dtype.

    Args:
        boxes1: Predicted boxes $(\dots, 4)$ as $(x_1, y_1, x_2, y_2)$ with $x_1 \le x_2$,
            $y_1 \le y_2$, floating point.
        boxes2: Target boxes, the shape of `boxes1`, floating point.
        eps: Added to the denominators, a finite $\varepsilon > 0$.
        reduction: `"none"` (the default), `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `boxes1` without its last dimension for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `boxes1` or `boxes2` is not floating point.
        ValueError: `boxes1`'s last dimension is not 4, `boxes2` does not have its shape, `eps`
            is not a finite number $> 0$, an unknown `reduction`, or (with value checks on) a
            box with $x_1 > x_2$, $y_1 > y_2$ or a coordinate that is not finite.

    Examples:
        Two unit squares side by side, touching, and one inside a box four times its area:

        >>> import torch
        >>> from deeplossdive.functional import generalized_box_iou_loss
        >>> boxes1 = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        >>> boxes2 = torch.tensor([[1.0, 0.0, 2.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
        >>> generalized_box_iou_loss(boxes1, boxes2)
        tensor([1.0000, 0.7500])

        By hand: touching squares have IoU 0 and fill their enclosing box, so $1 - 0 + 0 = 1$;
        the nested square has IoU $1/4$ and the enclosing box is the union: $1 - 0.25 = 0.75$.
    """
    fn = "generalized_box_iou_loss"
    _boxes(fn, boxes1, boxes2, eps, reduction)
    iou, union, enclosing_w, enclosing_h, _ = _iou_and_enclosing(boxes1, boxes2, eps)
    enclosing = enclosing_w * enclosing_h
    loss = 1 - iou + (enclosing - union) / (enclosing + eps)
    return reduce_loss(loss, reduction).to(boxes1.dtype)


def distance_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, /, *, eps: float = 1e-7, reduction: Reduction = "none"
) -> Tensor:
    r"""Distance IoU loss of [Zheng et al., 2020](https://arxiv.org/abs/1911.08287), as
    `torchvision.ops.distance_box_iou_loss`.

    With $\rho$ the distance between the two boxes' centres and $c$ the diagonal of the smallest
    box enclosing both,

    $$
    \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \varepsilon} .
    $$

    The centre term pulls the centres together directly, also for disjoint or nested boxes,
    where GIoU's enclosing term moves slowly or not at all. IoU, reductions, dtypes and the
    absence of a host sync, the arguments, the shape of the result and the errors as in
    [`generalized_box_iou_loss`][deeplossdive.functional.generalized_box_iou_loss].

    Examples:
        A unit square against the same square shifted by 1 (touching):

        >>> import torch
        >>> from deeplossdive.functional import distance_box_iou_loss
        >>> boxes1 = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> boxes2 = torch.tensor([[1.0, 0.0, 2.0, 1.0]])
        >>> distance_box_iou_loss(boxes1, boxes2)
        tensor([1.2000])

        By hand: IoU 0, centres 1 apart, the enclosing $2 \times 1$ box's diagonal squared is 5:
        $1 - 0 + 1/5 = 1.2$.
    """
    fn = "distance_box_iou_loss"
    _boxes(fn, boxes1, boxes2, eps, reduction)
    iou, _, enclosing_w, enclosing_h, a = _iou_and_enclosing(boxes1, boxes2, eps)
    penalty = _centre_penalty(a, boxes2.to(a.dtype), enclosing_w, enclosing_h, eps)
    loss = 1 - iou + penalty
    return reduce_loss(loss, reduction).to(boxes1.dtype)


def _angle(width: Tensor, height: Tensor) -> Tensor:
    """$\\arctan(w / h)$ as `atan2`, finite with a finite gradient also at $h = 0$ and at
    $w = h = 0$ (there the angle is 0 and the gradient that of $\\arctan(w / 1)$)."""
    point = (width == 0) & (height == 0)
    return torch.atan2(width, torch.where(point, 1.0, height))


def complete_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, /, *, eps: float = 1e-7, reduction: Reduction = "none"
) -> Tensor:
    r"""Complete IoU loss of [Zheng et al., 2020](https://arxiv.org/abs/1911.08287), as
    `torchvision.ops.complete_box_iou_loss`.

    The distance IoU loss plus an aspect-ratio term,

    $$
    \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \varepsilon} + \alpha v, \qquad
    v = \frac{4}{\pi^2} \left( \arctan\frac{w^{g}}{h^{g}} - \arctan\frac{w}{h} \right)^2, \qquad
    \alpha = \operatorname{sg}\!\left[ \frac{v}{1 - \mathrm{IoU} + v + \varepsilon} \right],
    $$

    with $\operatorname{sg}$ stopping the gradient (as torchvision computes $\alpha$ under
    `torch.no_grad()`). $\arctan(w/h)$ is computed as `atan2(w, h)`, so a zero-height box has
    the angle $\pi/2$, a point box the angle 0, and values and gradients stay finite where
    torchvision's $w / h$ is infinite or NaN. IoU, reductions, dtypes, the absence of a host
    sync, the arguments, the shape of the result and the errors as in
    [`generalized_box_iou_loss`][deeplossdive.functional.generalized_box_iou_loss].

    Examples:
        A $2 \times 1$ box on a unit square, with the same centre:

        >>> import torch
        >>> from deeplossdive.functional import complete_box_iou_loss, distance_box_iou_loss
        >>> boxes1 = torch.tensor([[-0.5, 0.0, 1.5, 1.0]])
        >>> boxes2 = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> distance_box_iou_loss(boxes1, boxes2)
        tensor([0.5000])
        >>> complete_box_iou_loss(boxes1, boxes2)
        tensor([0.5032])

        By hand: IoU $= 1/2$ and the centres coincide, so DIoU is $0.5$;
        $v = \tfrac{4}{\pi^2}(\arctan 1 - \arctan 2)^2 = 0.04196$,
        $\alpha = v / (0.5 + v) = 0.07742$, and $0.5 + \alpha v = 0.5032$.
    """
    fn = "complete_box_iou_loss"
    _boxes(fn, boxes1, boxes2, eps, reduction)
    iou, _, enclosing_w, enclosing_h, a = _iou_and_enclosing(boxes1, boxes2, eps)
    b = boxes2.to(a.dtype)
    penalty = _centre_penalty(a, b, enclosing_w, enclosing_h, eps)
    x1, y1, x2, y2 = a.unbind(dim=-1)
    x1g, y1g, x2g, y2g = b.unbind(dim=-1)
    difference = _angle(x2g - x1g, y2g - y1g) - _angle(x2 - x1, y2 - y1)
    v = _FOUR_OVER_PI_SQUARED * difference * difference
    alpha = (v / (1 - iou + v + eps)).detach()
    loss = 1 - iou + penalty + alpha * v
    return reduce_loss(loss, reduction).to(boxes1.dtype)


class GeneralizedBoxIoULoss(Loss[Reduction], function=generalized_box_iou_loss):
    """Module form of
    [`generalized_box_iou_loss`][deeplossdive.functional.generalized_box_iou_loss].
    """

    def __init__(self, *, eps: float = 1e-7, reduction: Reduction = "none") -> None:
        super().__init__(locals(), eps=POSITIVE_FINITE)


class DistanceBoxIoULoss(Loss[Reduction], function=distance_box_iou_loss):
    """Module form of [`distance_box_iou_loss`][deeplossdive.functional.distance_box_iou_loss]."""

    def __init__(self, *, eps: float = 1e-7, reduction: Reduction = "none") -> None:
        super().__init__(locals(), eps=POSITIVE_FINITE)


class CompleteBoxIoULoss(Loss[Reduction], function=complete_box_iou_loss):
    """Module form of [`complete_box_iou_loss`][deeplossdive.functional.complete_box_iou_loss]."""

    def __init__(self, *, eps: float = 1e-7, reduction: Reduction = "none") -> None:
        super().__init__(locals(), eps=POSITIVE_FINITE)


def _box_offset(function: Callable[..., Tensor], height: float = 1.0) -> Curve:
    """A box of width 1 and the given height, its left edge at u, against the unit square."""

    def loss(u: Tensor) -> Tensor:
        zeros = torch.zeros_like(u)
        boxes = torch.stack([u, zeros, u + 1, zeros + height], dim=1)
        target = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=u.dtype).expand_as(boxes)
        return function(boxes, target, reduction="none")

    return loss


def _describe(function: Callable[..., Tensor], note: str, rank: int) -> None:
    describe(
        function,
        family="Regression",
        task="Box regression (detection)",
        torch=f"— (`torchvision.ops.{function.__name__}`)",
        chart=Leaf("Localize objects", "boxes (x1, y1, x2, y2)", note, rank),
        plot=Plot(
            Axis("$x_1$", (-3.0, 3.0), "$x_1$"),
            "A predicted box of width 1, its left edge at $x_1$ (moved with it), against the "
            "unit square $[0, 1]^2$: they overlap for $|x_1| < 1$.",
            {"unit square": _box_offset(function), "height 0.5": _box_offset(function, 0.5)},
        ),
    )


_describe(generalized_box_iou_loss, "start here", rank=1)
_describe(distance_box_iou_loss, "centres apart", rank=2)
_describe(complete_box_iou_loss, "aspect ratio too", rank=3)
