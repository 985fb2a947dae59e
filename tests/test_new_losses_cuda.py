"""The losses of torch.nn added with issue #15 on a GPU: parity with torch's CUDA kernels (values
and gradients, float64, every reduction) and no host sync with value checks off (CTC: parity
only; torch's CTC kernel reads the lengths on the host).

Skipped without CUDA. torchvision's box losses are compared where torchvision imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive.functional import (
    complete_box_iou_loss,
    ctc_loss,
    distance_box_iou_loss,
    gaussian_nll_loss,
    generalized_box_iou_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
)
from tests import test_box_iou, test_ctc, test_margin, test_probabilistic_regression
from tests.harness import REDUCTIONS
from tests.inputs import mask_inputs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

Call = Callable[..., Tensor]


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cases() -> list[tuple[str, Call, Call, tuple[Tensor, ...], dict[str, Any]]]:
    """(id, ours, torch's, CPU float64 inputs (the first differentiable), options)."""
    log_rate, counts = test_probabilistic_regression._log_rate_inputs(
        (64, 8), torch.float64, _seeded(1)
    )
    mean, target, var = test_probabilistic_regression._gaussian_inputs(
        (64, 8), torch.float64, _seeded(2)
    )
    x1, x2, signs = test_margin._ranking_inputs((64, 8), torch.float64, _seeded(3))
    distance, pair = test_margin._distance_inputs((64, 8), torch.float64, _seeded(4))
    logits, multi_hot = mask_inputs((64, 8), torch.float64, _seeded(5))
    scores, padded = test_margin._padded_inputs((64, 8), torch.float64, _seeded(6))
    return [
        ("poisson", poisson_nll_loss, F.poisson_nll_loss, (log_rate, counts), {"full": True}),
        (
            "poisson-rate",
            poisson_nll_loss,
            F.poisson_nll_loss,
            (log_rate.exp(), counts),
            {"log_input": False},
        ),
        ("gaussian", gaussian_nll_loss, F.gaussian_nll_loss, (mean, target, var), {"full": True}),
        (
            "gaussian-shared-var",
            gaussian_nll_loss,
            F.gaussian_nll_loss,
            (mean, target, var[:, :1]),
            {},
        ),
        (
            "margin_ranking",
            margin_ranking_loss,
            F.margin_ranking_loss,
            (x1, x2, signs),
            {"margin": 0.5},
        ),
        ("soft_margin", soft_margin_loss, F.soft_margin_loss, (x1, signs), {}),
        ("hinge_embedding", hinge_embedding_loss, F.hinge_embedding_loss, (distance, pair), {}),
        (
            "multilabel_soft_margin",
            multilabel_soft_margin_loss,
            F.multilabel_soft_margin_loss,
            (logits, multi_hot),
            {"weight": torch.rand(8, generator=_seeded(7), dtype=torch.float64)},
        ),
        (
            "multilabel_margin",
            multilabel_margin_loss,
            F.multilabel_margin_loss,
            (scores, padded),
            {},
        ),
    ]


CASES = _cases()


def _cuda(value: Any) -> Any:
    return value.cuda() if isinstance(value, Tensor) else value


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("ours", "theirs", "inputs", "options"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_identical_to_torch_on_cuda(
    ours: Call, theirs: Call, inputs: tuple[Tensor, ...], options: dict[str, Any], reduction: str
) -> None:
    device_inputs = [t.cuda() for t in inputs]
    device_options = {k: _cuda(v) for k, v in options.items()}
    results = []
    for function in (ours, theirs):
        first = device_inputs[0].clone().requires_grad_()
        value = function(first, *device_inputs[1:], **device_options, reduction=reduction)
        (grad,) = torch.autograd.grad(value.sum(), first)
        results.append((value, grad))
    (value, grad), (expected, expected_grad) = results
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)
    # And the same as on the CPU.
    cpu = ours(*inputs, **options, reduction=reduction)
    torch.testing.assert_close(value.cpu(), cpu)


BOXES = (generalized_box_iou_loss, distance_box_iou_loss, complete_box_iou_loss)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("function", BOXES, ids=lambda f: f.__name__)
def test_box_losses_identical_to_torchvision_on_cuda(function: Call, reduction: str) -> None:
    try:
        import torchvision.ops  # type: ignore[import-not-found,unused-ignore]
    except Exception:
        pytest.skip("torchvision does not import beside this torch")
    boxes1, boxes2 = (t.cuda() for t in test_box_iou._inputs((256, 4), torch.float64, _seeded(8)))
    boxes1.requires_grad_()
    ours = function(boxes1, boxes2, reduction=reduction)
    theirs = getattr(torchvision.ops, function.__name__)(boxes1, boxes2, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(
        torch.autograd.grad(ours.sum(), boxes1)[0], torch.autograd.grad(theirs.sum(), boxes1)[0]
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_no_host_sync_on_cuda_with_value_checks_off(dtype: torch.dtype) -> None:
    calls: list[tuple[Call, tuple[Tensor, ...], dict[str, Any]]] = [
        (c[1], c[3], c[4]) for c in CASES
    ]
    boxes = test_box_iou._inputs((256, 4), torch.float64, _seeded(9))
    calls += [(function, boxes, {}) for function in BOXES]
    for function, inputs, options in calls:
        device_inputs = [t.cuda().to(dtype) if t.is_floating_point() else t.cuda() for t in inputs]
        device_options = {
            k: _cuda(v).to(dtype) for k, v in options.items() if isinstance(v, Tensor)
        }
        device_options.update({k: v for k, v in options.items() if not isinstance(v, Tensor)})
        first = device_inputs[0].requires_grad_()
        for reduction in REDUCTIONS:
            with value_checks(False):
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
                try:
                    value = function(
                        first, *device_inputs[1:], **device_options, reduction=reduction
                    )
                    torch.autograd.grad(value.sum(), first)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
            assert torch.isfinite(value).all(), (function.__name__, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_identical_to_torch_on_cuda(reduction: Any) -> None:
    """log_probs and targets on the GPU, the lengths on the CPU (torch reads them on the host)."""
    log_probs, targets, input_lengths, target_lengths = test_ctc._inputs(
        (30, 8, 6), torch.float64, _seeded(10)
    )
    results = []
    for function in (ctc_loss, F.ctc_loss):
        first = log_probs.cuda().requires_grad_()
        value = function(first, targets.cuda(), input_lengths, target_lengths, reduction=reduction)
        (grad,) = torch.autograd.grad(value.sum(), first)
        results.append((value, grad))
    (value, grad), (expected, expected_grad) = results
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)
    cpu = ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction=reduction)
    torch.testing.assert_close(value.cpu(), cpu)
