"""Oracles for `deeplossdive/losses/box_iou.py`: torchvision's formulas, box by box.

Transcribed from torchvision's `torchvision/ops/_utils.py` (`_loss_inter_union`),
`torchvision/ops/giou_loss.py` (`generalized_box_iou_loss`), `torchvision/ops/diou_loss.py`
(`_diou_iou_loss`, `distance_box_iou_loss`) and `torchvision/ops/ciou_loss.py`
(`complete_box_iou_loss`), which follow Rezatofighi et al. (2019) and Zheng et al. (2020):
the same expressions, with Python floats, including where ε enters each denominator, and
`math.atan(w / h)` for CIoU's aspect ratio (finite boxes of positive height only).
"""

from __future__ import annotations

import math

from torch import Tensor

from tests.oracles import reduce_literal

Box = tuple[float, float, float, float]


def _rows(boxes: Tensor) -> list[Box]:
    flat = boxes.detach().double().reshape(-1, 4).tolist()
    return [(float(a), float(b), float(c), float(d)) for a, b, c, d in flat]


def _inter_union(box: Box, gt: Box) -> tuple[float, float]:
    x1, y1, x2, y2 = box
    x1g, y1g, x2g, y2g = gt
    xkis1, ykis1 = max(x1, x1g), max(y1, y1g)
    xkis2, ykis2 = min(x2, x2g), min(y2, y2g)
    intsctk = 0.0
    if ykis2 > ykis1 and xkis2 > xkis1:
        intsctk = (xkis2 - xkis1) * (ykis2 - ykis1)
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def _enclosing(box: Box, gt: Box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    x1g, y1g, x2g, y2g = gt
    return min(x1, x1g), min(y1, y1g), max(x2, x2g), max(y2, y2g)


def _giou(box: Box, gt: Box, eps: float) -> float:
    intsctk, unionk = _inter_union(box, gt)
    iouk = intsctk / (unionk + eps)
    xc1, yc1, xc2, yc2 = _enclosing(box, gt)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return 1 - miouk


def _diou_iou(box: Box, gt: Box, eps: float) -> tuple[float, float]:
    intsct, union = _inter_union(box, gt)
    iou = intsct / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing(box, gt)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x1, y1, x2, y2 = box
    x1g, y1g, x2g, y2g = gt
    x_p, y_p = (x2 + x1) / 2, (y2 + y1) / 2
    x_g, y_g = (x1g + x2g) / 2, (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    return 1 - iou + (centers_distance_squared / diagonal_distance_squared), iou


def _ciou(box: Box, gt: Box, eps: float) -> float:
    diou_loss, iou = _diou_iou(box, gt, eps)
    x1, y1, x2, y2 = box
    x1g, y1g, x2g, y2g = gt
    w_pred, h_pred = x2 - x1, y2 - y1
    w_gt, h_gt = x2g - x1g, y2g - y1g
    v = (4 / (math.pi**2)) * (math.atan(w_gt / h_gt) - math.atan(w_pred / h_pred)) ** 2
    alpha = v / (1 - iou + v + eps)
    return diou_loss + alpha * v


def _loss(per_box: object, boxes1: Tensor, boxes2: Tensor, eps: float, reduction: str) -> Tensor:
    assert callable(per_box)
    losses = [per_box(b, g, eps) for b, g in zip(_rows(boxes1), _rows(boxes2), strict=True)]
    return reduce_literal(losses, [1.0] * len(losses), boxes1.shape[:-1], reduction)


def generalized_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, eps: float = 1e-7, reduction: str = "none"
) -> Tensor:
    """ℓ = 1 − IoU + (|C| − |U|) / (|C| + ε), IoU = |I| / (|U| + ε)."""
    return _loss(_giou, boxes1, boxes2, eps, reduction)


def distance_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, eps: float = 1e-7, reduction: str = "none"
) -> Tensor:
    """ℓ = 1 − IoU + ρ² / (c² + ε)."""
    return _loss(lambda b, g, e: _diou_iou(b, g, e)[0], boxes1, boxes2, eps, reduction)


def complete_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, eps: float = 1e-7, reduction: str = "none"
) -> Tensor:
    """ℓ = DIoU + α v, v = 4/π² (atan(w_g/h_g) − atan(w/h))², α = v / (1 − IoU + v + ε)."""
    return _loss(_ciou, boxes1, boxes2, eps, reduction)
