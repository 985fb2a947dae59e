"""Box IoU losses: the shared contract, torchvision's formulas, the page's claims."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive.functional import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
)
from deeplossdive.nn import CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec, Options
from tests.inputs import LOW_PRECISION_TOL
from tests.oracles import box_iou as oracles
from tests.syncs import NoSync

SHAPES = ((8, 4), (2, 5, 4))
Function = Callable[..., Tensor]
FUNCTIONS = (generalized_box_iou_loss, distance_box_iou_loss, complete_box_iou_loss)
FUNCTIONS_BY_NAME: dict[str, Function] = {f.__name__: f for f in FUNCTIONS}


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _corners(centre: Tensor, size: Tensor) -> Tensor:
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Targets of sides 0.5 to 2 in [0, 4]²; predictions moved and resized around them: some
    overlap, some are nested, some are disjoint."""
    boxes = shape[:-1]
    centre = 4 * torch.rand((*boxes, 2), generator=gen, dtype=torch.float64)
    size = 0.5 + 1.5 * torch.rand((*boxes, 2), generator=gen, dtype=torch.float64)
    shift = 0.8 * torch.randn((*boxes, 2), generator=gen, dtype=torch.float64)
    scale = torch.exp(0.4 * torch.randn((*boxes, 2), generator=gen, dtype=torch.float64))
    target = _corners(centre, size)
    prediction = _corners(centre + shift, size * scale)
    return prediction.to(dtype), target.to(dtype)


def _saturate(inputs: Inputs) -> Inputs:
    """Predictions at ±100: a huge box around the target, or a tiny one far away."""
    prediction, target = inputs
    huge = torch.tensor([-100.0, -100.0, 100.0, 100.0], dtype=prediction.dtype)
    far = torch.tensor([99.0, -100.0, 100.0, -99.0], dtype=prediction.dtype)
    rows = prediction.reshape(-1, 4).clone()
    rows[0::2] = huge
    rows[1::2] = far
    return rows.reshape(prediction.shape), target


def _perfect(inputs: Inputs) -> Inputs:
    _, target = inputs
    return target.clone(), target


def _errors(function: Function, module: Callable[..., Any]) -> tuple[ErrorCase, ...]:
    fn, mod = function.__name__, module.__name__
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 3.0, 2.0]])
    return (
        ErrorCase(
            "int-boxes1",
            lambda: function(box.long(), box),
            TypeError,
            f"{fn}: boxes1 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-boxes2",
            lambda: function(box, box.long()),
            TypeError,
            f"{fn}: boxes2 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "not-4",
            lambda: function(box[:, :3], box[:, :3]),
            ValueError,
            f"{fn}: boxes1 must have a last dimension of size 4 (x1, y1, x2, y2), got shape (2, 3)",
        ),
        ErrorCase(
            "scalar",
            lambda: function(torch.tensor(1.0), torch.tensor(1.0)),
            ValueError,
            f"{fn}: boxes1 must have at least 1 dimensions (..., 4), got shape ()",
        ),
        ErrorCase(
            "boxes2-shape",
            lambda: function(box, box[:1]),
            ValueError,
            f"{fn}: boxes2 must have the shape of boxes1 (2, 4), got (1, 4)",
        ),
        ErrorCase(
            "zero-eps",
            lambda: function(box, box, eps=0.0),
            ValueError,
            f"{fn}: eps must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "x2-below-x1",
            lambda: function(torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 1.0]]), box),
            ValueError,
            f"{fn}: boxes1 must hold finite boxes (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, "
            "got [2.0, 0.0, 1.0, 1.0]",
        ),
        ErrorCase(
            "cxcywh-target",
            lambda: function(box, torch.tensor([[0.5, 0.5, 1.0, 1.0], [2.0, 1.5, 2.0, 1.0]])),
            ValueError,
            f"{fn}: boxes2 must hold finite boxes (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, "
            "got [2.0, 1.5, 2.0, 1.0]",
        ),
        ErrorCase(
            "nan-box",
            lambda: function(box, torch.tensor([[0.0, 0.0, 1.0, math.nan], [0, 0, 1, 1.0]])),
            ValueError,
            f"{fn}: boxes2 must hold finite boxes (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, "
            "got [0.0, 0.0, 1.0, nan]",
        ),
        ErrorCase(
            "module-eps",
            lambda: module(eps=-1e-7),
            ValueError,
            f"{mod}: eps must be a finite number > 0, got -1e-07",
        ),
    )


def _spec(function: Function, module: Callable[..., Any], oracle: Function) -> LossSpec:
    return LossSpec(
        function=function,
        module=module,
        oracle=oracle,
        make_inputs=_inputs,
        shapes=SHAPES,
        options=({}, {"eps": 1e-9}),
        saturate=_saturate,
        perfect=_perfect,
        errors=_errors(function, module),
        low_precision_tol=LOW_PRECISION_TOL,
        reductions=("none", "mean", "sum"),
        ids=("eps=1e-7", "eps=1e-9"),
    )


GIOU = _spec(generalized_box_iou_loss, GeneralizedBoxIoULoss, oracles.generalized_box_iou)
DIOU = _spec(distance_box_iou_loss, DistanceBoxIoULoss, oracles.distance_box_iou)
CIOU = _spec(complete_box_iou_loss, CompleteBoxIoULoss, oracles.complete_box_iou)


class TestGeneralizedBoxIoULoss(LossContract):
    spec = GIOU


class TestDistanceBoxIoULoss(LossContract):
    spec = DIOU


def _aspect_term(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """CIoU's v = 4/π² (atan(w_g / h_g) − atan(w / h))², for boxes of positive height."""
    w, h = boxes1[..., 2] - boxes1[..., 0], boxes1[..., 3] - boxes1[..., 1]
    wg, hg = boxes2[..., 2] - boxes2[..., 0], boxes2[..., 3] - boxes2[..., 1]
    return 4 / math.pi**2 * (torch.atan(wg / hg) - torch.atan(w / h)) ** 2


class TestCompleteBoxIoULoss(LossContract):
    spec = CIOU

    @pytest.mark.parametrize("reduction", ["none", "mean"])
    def test_gradcheck_float64(self, options: Options, reduction: Any) -> None:
        """CIoU's α is a constant of the step (torchvision computes it under `no_grad`), so its
        gradient is not the derivative of its value: it is that of DIoU + α v with α frozen at
        the point. gradcheck checks that function, and CIoU's autograd gradient must equal it."""
        boxes1, boxes2 = _inputs(SHAPES[0], torch.float64, _seeded(0))
        boxes1.requires_grad_()
        ciou = complete_box_iou_loss(boxes1, boxes2, **options, reduction="none")
        diou = distance_box_iou_loss(boxes1, boxes2, **options, reduction="none")
        alpha = ((ciou - diou) / _aspect_term(boxes1, boxes2)).detach()

        def frozen(first: Tensor) -> Tensor:
            loss = distance_box_iou_loss(first, boxes2, **options, reduction="none")
            loss = loss + alpha * _aspect_term(first, boxes2)
            return loss if reduction == "none" else loss.mean()

        assert torch.autograd.gradcheck(frozen, (boxes1,))
        ours = complete_box_iou_loss(boxes1, boxes2, **options, reduction=reduction)
        torch.testing.assert_close(_grads(ours, boxes1)[0], _grads(frozen(boxes1), boxes1)[0])


def _grads(value: Tensor, *wrt: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(value.sum(), wrt)


# --- torchvision itself, where it imports (not beside this project's CPU torch) ---------------


def _torchvision_ops() -> Any:
    try:
        import torchvision.ops  # type: ignore[import-not-found,unused-ignore]
    except Exception:  # an ImportError, or a RuntimeError from a mismatched build
        pytest.skip("torchvision does not import beside this torch")
    return torchvision.ops


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", [f.__name__ for f in FUNCTIONS])
def test_identical_to_torchvision(name: str, reduction: Any) -> None:
    ops = _torchvision_ops()
    boxes1, boxes2 = _inputs((64, 4), torch.float64, _seeded(1))
    boxes1.requires_grad_()
    boxes2.requires_grad_()
    ours = FUNCTIONS_BY_NAME[name](boxes1, boxes2, reduction=reduction)
    theirs = getattr(ops, name)(boxes1, boxes2, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    for mine, reference in zip(
        _grads(ours, boxes1, boxes2), _grads(theirs, boxes1, boxes2), strict=True
    ):
        torch.testing.assert_close(mine, reference)


# --- the cases the issue names: identical, nested, disjoint, degenerate -----------------------

CASES = {
    "identical": ([0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 2.0, 1.0]),
    "nested": ([0.5, 0.25, 1.0, 0.75], [0.0, 0.0, 2.0, 1.0]),
    "disjoint": ([3.0, 2.0, 4.0, 3.0], [0.0, 0.0, 2.0, 1.0]),
    "touching": ([2.0, 0.0, 3.0, 1.0], [0.0, 0.0, 2.0, 1.0]),
    "zero-width": ([1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 1.0]),
    "zero-height": ([0.0, 0.5, 2.0, 0.5], [0.0, 0.0, 2.0, 1.0]),
    "point": ([1.0, 0.5, 1.0, 0.5], [0.0, 0.0, 2.0, 1.0]),
    "point-on-point": ([1.0, 0.5, 1.0, 0.5], [1.0, 0.5, 1.0, 0.5]),
    "zero-area-target": ([0.0, 0.0, 2.0, 1.0], [1.0, 0.0, 1.0, 1.0]),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_finite_values_and_gradients(function: Function, case: str, dtype: torch.dtype) -> None:
    box, target = CASES[case]
    boxes1 = torch.tensor([box], dtype=dtype, requires_grad=True)
    boxes2 = torch.tensor([target], dtype=dtype, requires_grad=True)
    value = function(boxes1, boxes2)
    grad1, grad2 = _grads(value, boxes1, boxes2)
    assert torch.isfinite(value).all(), value
    assert torch.isfinite(grad1).all(), grad1
    assert torch.isfinite(grad2).all(), grad2
    assert 0 <= value.item() < 3


def test_degenerate_values() -> None:
    """A zero-area box inside the target: IoU 0; CIoU's angle of a zero-height box is π/2."""
    target = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float64)
    flat = torch.tensor([[0.0, 0.5, 2.0, 0.5]], dtype=torch.float64)
    giou = generalized_box_iou_loss(flat, target)
    torch.testing.assert_close(giou, torch.tensor([1.0], dtype=torch.float64))  # C = U: no term
    ciou = complete_box_iou_loss(flat, target)
    v = 4 / math.pi**2 * (math.atan(2.0) - math.pi / 2) ** 2
    torch.testing.assert_close(ciou, torch.tensor([1 + v * v / (1 + v + 1e-7)]).double())


def test_giou_moves_disjoint_boxes_where_iou_does_not() -> None:
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    box = torch.tensor([[2.0, 0.0, 3.0, 1.0]], dtype=torch.float64, requires_grad=True)
    ones = torch.ones(1, dtype=torch.float64)
    # GIoU: C = [0, 3] x [0, 1] does not move with x1, U shrinks: (C - U) / C grows by 1/3 per
    # unit of x1; x2 grows U and C alike: -1/9. DIoU: ρ² = 4, c² = 10; x1 moves the centre only
    # (0.2), x2 the centre and the diagonal (0.2 - 4 · 6 / 100 = -0.04).
    for function, expected, slopes in (
        (generalized_box_iou_loss, 1 + 1 / 3, (1 / 3, -1 / 9)),
        (distance_box_iou_loss, 1.4, (0.2, -0.04)),
    ):
        value = function(box, target)
        torch.testing.assert_close(value, expected * ones)
        (grad,) = _grads(value, box)
        torch.testing.assert_close(grad[0, 0::2], torch.tensor(slopes, dtype=torch.float64))
    # 1 - IoU alone: the intersection is 0 around this box, and so is its gradient.
    x1, y1, x2, y2 = box.unbind(-1)
    inter = torch.relu(torch.minimum(x2, target[:, 2]) - torch.maximum(x1, target[:, 0]))
    union = (x2 - x1) * (y2 - y1) + 1 - inter
    (grad,) = _grads(1 - inter / union, box)
    torch.testing.assert_close(grad, torch.zeros_like(grad))


def test_ciou_alpha_is_a_constant_of_the_step() -> None:
    """The gradient of CIoU is DIoU's plus α ∂v, α held fixed (torchvision's `no_grad`)."""
    boxes1, boxes2 = _inputs((32, 4), torch.float64, _seeded(2))
    boxes1.requires_grad_()
    ciou = complete_box_iou_loss(boxes1, boxes2)
    diou = distance_box_iou_loss(boxes1, boxes2)
    w, h = boxes1[:, 2] - boxes1[:, 0], boxes1[:, 3] - boxes1[:, 1]
    wg, hg = boxes2[:, 2] - boxes2[:, 0], boxes2[:, 3] - boxes2[:, 1]
    v = 4 / math.pi**2 * (torch.atan(wg / hg) - torch.atan(w / h)) ** 2
    alpha = ((ciou - diou) / v).detach()
    expected = diou + alpha * v
    torch.testing.assert_close(_grads(ciou, boxes1)[0], _grads(expected, boxes1)[0])


def test_empty_batch() -> None:
    empty = torch.zeros(0, 4)
    for function in FUNCTIONS:
        assert function(empty, empty).shape == (0,)
        assert function(empty, empty, reduction="mean").item() == 0.0


def test_modules_default_to_none_and_repr() -> None:
    assert repr(GeneralizedBoxIoULoss()) == "GeneralizedBoxIoULoss(eps=1e-07, reduction='none')"
    boxes1, boxes2 = _inputs((5, 4), torch.float32, _seeded(3))
    assert CompleteBoxIoULoss()(boxes1, boxes2).shape == (5,)


# --- no host sync on the default path (value checks off, as on CUDA) --------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_no_host_sync_with_value_checks_off(function: Function, reduction: Any) -> None:
    boxes1, boxes2 = _inputs((16, 4), torch.float32, _seeded(4))
    boxes1.requires_grad_()
    with value_checks(False), NoSync():
        value = function(boxes1, boxes2, reduction=reduction)
        torch.autograd.grad(value.sum(), boxes1)
    assert torch.isfinite(value).all()
