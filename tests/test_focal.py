"""Focal loss: the shared contract for both forms, plus identities with cross-entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import Reduction, value_checks
from deeplossdive.functional import focal_loss, sigmoid_focal_loss
from deeplossdive.nn import FocalLoss, SigmoidFocalLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.inputs import (
    LOW_PRECISION_TOL,
    class_ignore,
    class_inputs,
    class_perfect,
    class_saturate,
    class_weights,
)
from tests.oracles import focal as oracles


def _focal_errors() -> tuple[ErrorCase, ...]:
    logits, target = torch.randn(3, 5), torch.tensor([0, 4, 1])
    return (
        ErrorCase(
            "int-logits",
            lambda: focal_loss(target.view(3, 1).repeat(1, 5), target),
            TypeError,
            "focal_loss: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-target",
            lambda: focal_loss(logits, target.float()),
            TypeError,
            "focal_loss: target must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "1d-logits",
            lambda: focal_loss(logits[0], target[:1]),
            ValueError,
            "focal_loss: logits must have at least 2 dimensions (N, C, ...), got shape (5,)",
        ),
        ErrorCase(
            "target-shape",
            lambda: focal_loss(logits, target.view(3, 1)),
            ValueError,
            "focal_loss: target must have shape (3,) (logits' shape without the class "
            "dimension 1), got (3, 1)",
        ),
        ErrorCase(
            "one-class",
            lambda: focal_loss(logits[:, :1], torch.zeros(3, dtype=torch.long)),
            ValueError,
            "focal_loss: logits must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "label-too-large",
            lambda: focal_loss(logits, torch.tensor([0, 5, 1])),
            ValueError,
            "focal_loss: target must hold class indices in [0, 5) or equal to "
            "ignore_index=-100, got 5",
        ),
        ErrorCase(
            "label-negative",
            lambda: focal_loss(logits, torch.tensor([0, -1, 1])),
            ValueError,
            "focal_loss: target must hold class indices in [0, 5) or equal to "
            "ignore_index=-100, got -1",
        ),
        ErrorCase(
            "negative-gamma",
            lambda: focal_loss(logits, target, gamma=-1.0),
            ValueError,
            "focal_loss: gamma must be >= 0, got -1.0",
        ),
        ErrorCase(
            "alpha-length",
            lambda: focal_loss(logits, target, alpha=torch.ones(4)),
            ValueError,
            "focal_loss: alpha must be a 1-D tensor with one weight per class, shape (5,), "
            "got (4,)",
        ),
        ErrorCase(
            "alpha-dtype",
            lambda: focal_loss(logits, target, alpha=torch.ones(5, dtype=torch.long)),
            TypeError,
            "focal_loss: alpha must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "module-gamma",
            lambda: FocalLoss(gamma=-0.5),
            ValueError,
            "FocalLoss: gamma must be >= 0, got -0.5",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: focal_loss(logits.tolist(), target),  # type: ignore[arg-type]
            TypeError,
            "focal_loss: logits must be a torch.Tensor, got list",
        ),
    )


def _sigmoid_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.randint(2, shape, generator=gen).to(torch.float64)
    return logits.to(dtype), target.to(dtype)


def _sigmoid_saturate(inputs: Inputs) -> Inputs:
    logits, target = inputs
    return torch.where(logits > 0, 100.0, -100.0).to(logits.dtype), target


def _sigmoid_perfect(inputs: Inputs) -> Inputs:
    logits, target = inputs
    return (200.0 * target - 100.0).to(logits.dtype), target


def _sigmoid_errors() -> tuple[ErrorCase, ...]:
    logits, target = torch.randn(4, 1), torch.ones(4, 1)
    return (
        ErrorCase(
            "int-target",
            lambda: sigmoid_focal_loss(logits, target.long()),
            TypeError,
            "sigmoid_focal_loss: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-logits",
            lambda: sigmoid_focal_loss(target.long(), target),
            TypeError,
            "sigmoid_focal_loss: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "shape-N1-vs-N",
            lambda: sigmoid_focal_loss(logits, target.view(4)),
            ValueError,
            "sigmoid_focal_loss: target must have the shape of logits (4, 1), got (4,)",
        ),
        ErrorCase(
            "alpha-range",
            lambda: sigmoid_focal_loss(logits, target, alpha=1.5),
            ValueError,
            "sigmoid_focal_loss: alpha must be in [0, 1], got 1.5",
        ),
        ErrorCase(
            "negative-gamma",
            lambda: sigmoid_focal_loss(logits, target, gamma=-0.5),
            ValueError,
            "sigmoid_focal_loss: gamma must be >= 0, got -0.5",
        ),
        ErrorCase(
            "target-range",
            lambda: sigmoid_focal_loss(logits, 2 * target),
            ValueError,
            "sigmoid_focal_loss: target must hold values in [0, 1], got 2.0",
        ),
        ErrorCase(
            "module-alpha",
            lambda: SigmoidFocalLoss(alpha=-0.1),
            ValueError,
            "SigmoidFocalLoss: alpha must be in [0, 1], got -0.1",
        ),
    )


FOCAL = LossSpec(
    function=focal_loss,
    module=FocalLoss,
    oracle=oracles.focal,
    make_inputs=class_inputs,
    shapes=((6, 5), (2, 3, 4, 5)),
    options=({"gamma": 2.0}, {"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 5.0}),
    saturate=class_saturate,
    perfect=class_perfect,
    weights=class_weights("alpha"),
    ignore=class_ignore,
    errors=_focal_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)

SIGMOID_FOCAL = LossSpec(
    function=sigmoid_focal_loss,
    module=SigmoidFocalLoss,
    oracle=oracles.sigmoid_focal,
    make_inputs=_sigmoid_inputs,
    shapes=((6, 5), (2, 3, 4, 5)),
    options=(
        {"gamma": 2.0, "alpha": 0.25},
        {"gamma": 0.0, "alpha": None},
        {"gamma": 0.5, "alpha": 0.75},
        {"gamma": 2.0, "alpha": None},
    ),
    saturate=_sigmoid_saturate,
    perfect=_sigmoid_perfect,
    errors=_sigmoid_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestFocalLoss(LossContract):
    spec = FOCAL


class TestSigmoidFocalLoss(LossContract):
    spec = SIGMOID_FOCAL


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (2, 3, 4, 4)])
def test_focal_gamma_zero_is_cross_entropy(reduction: str, shape: tuple[int, ...]) -> None:
    logits, target = class_inputs(shape, torch.float64, torch.Generator().manual_seed(3))
    target[0] = -100
    alpha = torch.rand(shape[1], dtype=torch.float64) + 0.5
    logits.requires_grad_(True)
    ours = focal_loss(logits, target, gamma=0.0, alpha=alpha, reduction=reduction)  # type: ignore[arg-type]
    torch_ce = F.cross_entropy(logits, target, weight=alpha, reduction=reduction)
    torch.testing.assert_close(ours, torch_ce)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(torch_ce.sum(), logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_gamma_zero_is_bce_with_logits(reduction: str) -> None:
    logits, target = _sigmoid_inputs((8, 5), torch.float64, torch.Generator().manual_seed(4))
    target[0] = 0.3  # soft targets too
    logits.requires_grad_(True)
    ours = sigmoid_focal_loss(logits, target, gamma=0.0, alpha=None, reduction=reduction)  # type: ignore[arg-type]
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction=reduction)
    torch.testing.assert_close(ours, bce)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(bce.sum(), logits))


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 5.0])
def test_focal_over_cross_entropy_is_modulating_factor(gamma: float) -> None:
    logits, target = class_inputs((16, 4), torch.float64, torch.Generator().manual_seed(5))
    ratio = focal_loss(logits, target, gamma=gamma, reduction="none") / F.cross_entropy(
        logits, target, reduction="none"
    )
    p_t = logits.softmax(dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
    torch.testing.assert_close(ratio, (1 - p_t) ** gamma)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_over_bce_is_modulating_factor(gamma: float) -> None:
    logits, target = _sigmoid_inputs((16, 4), torch.float64, torch.Generator().manual_seed(6))
    ratio = sigmoid_focal_loss(logits, target, gamma=gamma, alpha=None, reduction="none") / (
        F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    )
    p = logits.sigmoid()
    p_t = p * target + (1 - p) * (1 - target)
    torch.testing.assert_close(ratio, (1 - p_t) ** gamma)


def test_focal_is_at_most_cross_entropy() -> None:
    logits, target = class_inputs((64, 7), torch.float64, torch.Generator().manual_seed(7))
    focal = focal_loss(logits, target, gamma=2.0, reduction="none")
    assert (focal <= F.cross_entropy(logits, target, reduction="none")).all()


def test_sigmoid_focal_soft_targets_match_oracle() -> None:
    gen = torch.Generator().manual_seed(8)
    logits = 2 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    target = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    for gamma, alpha in [(2.0, 0.25), (0.5, None)]:
        torch.testing.assert_close(
            sigmoid_focal_loss(logits, target, gamma=gamma, alpha=alpha, reduction="none"),
            oracles.sigmoid_focal(logits, target, gamma=gamma, alpha=alpha, reduction="none"),
        )


def test_all_ignored_mean_is_zero_with_zero_gradient() -> None:
    logits = torch.randn(3, 4, requires_grad=True)
    target = torch.full((3,), -100)
    loss = focal_loss(logits, target)
    assert loss.item() == 0.0
    assert _grad(loss, logits).abs().max() == 0


def test_empty_batch() -> None:
    logits = torch.randn(0, 4, requires_grad=True)
    assert focal_loss(logits, torch.zeros(0, dtype=torch.long), reduction="sum").item() == 0.0
    assert focal_loss(logits, torch.zeros(0, dtype=torch.long)).item() == 0.0


def test_value_checks_switch() -> None:
    logits, bad_target = torch.randn(4, 1), torch.full((4, 1), 2.0)
    with value_checks(False):
        sigmoid_focal_loss(logits, bad_target)  # no sync, no check: a meaningless number
    with pytest.raises(ValueError, match="target must hold values in"):
        sigmoid_focal_loss(logits, bad_target)


def test_module_moves_alpha_buffer_and_reprs() -> None:
    criterion = FocalLoss(gamma=1.0, alpha=torch.tensor([1.0, 2.0]), reduction="sum")
    assert "alpha" in dict(criterion.named_buffers())
    criterion = criterion.double()
    assert criterion.alpha is not None
    assert criterion.alpha.dtype == torch.float64
    assert repr(criterion) == "FocalLoss(gamma=1.0, ignore_index=-100, reduction='sum')"
    assert repr(SigmoidFocalLoss()) == "SigmoidFocalLoss(gamma=2.0, alpha=0.25, reduction='mean')"


def test_focal_finite_when_other_classes_are_masked_with_minus_inf() -> None:
    logits = torch.tensor([[0.0, float("-inf"), float("-inf")], [1.0, 2.0, float("-inf")]])
    logits.requires_grad_(True)
    target = torch.tensor([0, 1])
    for gamma in (0.0, 0.5, 2.0):
        loss = focal_loss(logits, target, gamma=gamma, reduction="sum")
        grad = _grad(loss, logits)
        assert torch.isfinite(loss)
        assert torch.isfinite(grad).all()
    ce = F.cross_entropy(logits, target, reduction="sum")
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0, reduction="sum"), ce)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_ignored_elements_cannot_poison_the_kept_ones(bad: float) -> None:
    logits = torch.tensor([[0.0, 1.0], [bad, 0.0]], requires_grad=True)
    target = torch.tensor([0, -100])
    loss = focal_loss(logits, target, gamma=0.0)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))
    grad = _grad(loss, logits)
    assert torch.isfinite(grad).all()
    assert (grad[1] == 0).all()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_focal_gradient_with_respect_to_target(gamma: float) -> None:
    """Soft targets that carry a gradient (distillation): exact, also at hard 0/1 targets."""
    logits = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    target = torch.tensor([0.0, 1.0, 0.3, 1.0], dtype=torch.float64, requires_grad=True)
    ours = sigmoid_focal_loss(logits, target, gamma=gamma, alpha=0.25, reduction="sum")
    p = logits.sigmoid()
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    literal = (alpha_t * (1 - p_t) ** gamma * bce).sum()
    torch.testing.assert_close(ours, literal)
    torch.testing.assert_close(_grad(ours, target), _grad(literal, target))


def test_sigmoid_focal_gradcheck_with_respect_to_target() -> None:
    logits = torch.randn(3, 4, dtype=torch.float64)
    target = torch.rand(3, 4, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_(True)

    def loss_of_target(t: Tensor) -> Tensor:
        return sigmoid_focal_loss(logits, t, gamma=1.5, reduction="none")

    assert torch.autograd.gradcheck(loss_of_target, (target,))


# The hand-written backward passes of `_SoftmaxFocal` and `_SigmoidFocal`, against finite
# differences at points the contract's inputs do not reach: ignored rows, masked classes,
# p_t close to 1 (where u = p_t (-log p_t) / (1 - p_t) switches to its limit), soft targets.
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0, 4.5])
def test_softmax_focal_hand_written_gradient_passes_gradcheck(gamma: float) -> None:
    gen = torch.Generator().manual_seed(12)
    logits = 3 * torch.randn(6, 4, 3, generator=gen, dtype=torch.float64)
    logits[0, 0] = 12.0  # p_t within 1e-5 of 1
    logits[1, 2] = -torch.inf  # a masked class
    target = torch.randint(4, (6, 3), generator=gen)
    target[0] = 0
    target[1] = 1
    target[2, 1] = -100
    alpha = torch.rand(4, generator=gen, dtype=torch.float64) + 0.5
    for reduction in REDUCTIONS:

        def loss_of_logits(x: Tensor, reduction: str = reduction) -> Tensor:
            return focal_loss(x, target, gamma=gamma, alpha=alpha, reduction=reduction)  # type: ignore[arg-type]

        assert torch.autograd.gradcheck(loss_of_logits, (logits.requires_grad_(True),))


@pytest.mark.parametrize(
    ("gamma", "alpha"), [(0.0, None), (0.3, 0.25), (1.0, 1.0), (2.0, 0.0), (3.5, 0.6)]
)
def test_sigmoid_focal_hand_written_gradient_passes_gradcheck(
    gamma: float, alpha: float | None
) -> None:
    gen = torch.Generator().manual_seed(13)
    logits = 3 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    logits[0] = torch.tensor([15.0, -15.0, 30.0, -30.0])  # 1 - p_t down to 1e-13
    target = torch.randint(2, (5, 4), generator=gen).to(torch.float64)
    target[0] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    target[1] = torch.tensor([0.2, 0.5, 0.9, 1e-3])  # soft targets
    for reduction in REDUCTIONS:

        def loss_of_logits(x: Tensor, reduction: str = reduction) -> Tensor:
            return sigmoid_focal_loss(x, target, gamma=gamma, alpha=alpha, reduction=reduction)  # type: ignore[arg-type]

        assert torch.autograd.gradcheck(loss_of_logits, (logits.requires_grad_(True),))


@pytest.mark.parametrize("function", [focal_loss, sigmoid_focal_loss])
def test_second_derivative_is_refused_not_wrong(function: object) -> None:
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    if function is focal_loss:
        loss = focal_loss(logits, torch.tensor([0, 3, 1]), gamma=0.5)
    else:
        loss = sigmoid_focal_loss(logits, torch.rand(3, 4, dtype=torch.float64), gamma=0.5)
    (grad,) = torch.autograd.grad(loss, logits, create_graph=True)
    # The hand-written backward is not itself differentiated: an error, never a wrong number.
    with pytest.raises(RuntimeError, match=r"does not require grad|once_differentiable"):
        torch.autograd.grad(grad.sum(), logits)


def test_value_without_autograd_equals_value_with_it() -> None:
    gen = torch.Generator().manual_seed(14)
    logits = 3 * torch.randn(8, 6, generator=gen)
    target = torch.rand(8, 6, generator=gen)
    with torch.no_grad():
        plain = sigmoid_focal_loss(logits, target, gamma=0.5, reduction="none")
    tracked = sigmoid_focal_loss(logits.requires_grad_(True), target, gamma=0.5, reduction="none")
    torch.testing.assert_close(plain, tracked.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_focal_in_cache_sized_chunks(reduction: Reduction, dtype: torch.dtype) -> None:
    """Above 65 536 elements the CPU path works chunk by chunk (the last one partial): the same
    values and gradients as the composite formula (the path a target with a gradient takes)."""
    gen = torch.Generator().manual_seed(7)
    logits = (3 * torch.randn(301, 257, generator=gen, dtype=dtype)).requires_grad_()
    target = torch.rand(301, 257, generator=gen, dtype=dtype)
    chunked = sigmoid_focal_loss(logits, target, gamma=1.5, alpha=0.3, reduction=reduction)
    composite = sigmoid_focal_loss(
        logits, target.clone().requires_grad_(), gamma=1.5, alpha=0.3, reduction=reduction
    )
    torch.testing.assert_close(chunked, composite)
    (grad_chunked,) = torch.autograd.grad(chunked.sum(), logits)
    (grad_composite,) = torch.autograd.grad(composite.sum(), logits)
    torch.testing.assert_close(grad_chunked, grad_composite)
    with torch.no_grad():
        torch.testing.assert_close(
            sigmoid_focal_loss(logits, target, gamma=1.5, alpha=0.3, reduction=reduction), chunked
        )
    oracle = oracles.sigmoid_focal(logits, target, gamma=1.5, alpha=0.3, reduction=reduction)
    torch.testing.assert_close(chunked.detach(), oracle.to(dtype))
