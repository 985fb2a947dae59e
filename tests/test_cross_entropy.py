"""Cross-entropy and NLL: the shared contract, identities with torch, and the page's pitfalls."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from deeplossdive import Reduction, value_checks
from deeplossdive.functional import cross_entropy, nll_loss
from deeplossdive.nn import CrossEntropyLoss, NLLLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.inputs import (
    LOW_PRECISION_TOL,
    class_ignore,
    class_inputs,
    class_perfect,
    class_saturate,
    class_weights,
)
from tests.oracles import cross_entropy as oracles

SHAPES = ((6, 5), (2, 3, 4, 5))


def _probability_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.softmax(2 * torch.randn(shape, generator=gen, dtype=torch.float64), dim=1)
    target[0] = F.one_hot(torch.zeros(shape[2:], dtype=torch.long), shape[1]).movedim(-1, 0)
    return logits.to(dtype), target.to(dtype)


def _log_prob_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    logits, target = class_inputs(shape, torch.float64, gen)
    return logits.log_softmax(dim=1).to(dtype), target


def _log_prob_saturate(inputs: Inputs) -> Inputs:
    # Log-probabilities of a confident model: 0 for its class, -100 for the others.
    log_probs, target = inputs
    confident = F.one_hot(log_probs.argmax(dim=1), log_probs.shape[1]).movedim(-1, 1)
    return (100.0 * confident - 100.0).to(log_probs.dtype), target


def _log_prob_perfect(inputs: Inputs) -> Inputs:
    log_probs, target = inputs
    one_hot = F.one_hot(target, log_probs.shape[1]).movedim(-1, 1)
    return (100.0 * one_hot - 100.0).to(log_probs.dtype), target


def _ce_errors() -> tuple[ErrorCase, ...]:
    logits, target = torch.randn(3, 5), torch.tensor([0, 4, 1])
    probs = torch.softmax(torch.randn(3, 5), dim=1)
    return (
        ErrorCase(
            "int-logits",
            lambda: cross_entropy(target.view(3, 1).repeat(1, 5), target),
            TypeError,
            "cross_entropy: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-class-target",
            lambda: cross_entropy(logits, target.float()),
            TypeError,
            "cross_entropy: target of shape (3,) must be an integer tensor of class indices "
            "(torch.int64), got dtype torch.float32 (a floating-point target holds class "
            "probabilities and must have the shape of logits (3, 5))",
        ),
        ErrorCase(
            "probability-shape",
            lambda: cross_entropy(logits, probs[:, :4]),
            ValueError,
            "cross_entropy: target must have the shape of logits (3, 5) (class probabilities) "
            "or (3,) (class indices), got (3, 4)",
        ),
        ErrorCase(
            "integer-one-hot",
            lambda: cross_entropy(logits, F.one_hot(target, 5)),
            ValueError,
            "cross_entropy: target must have shape (3,) (logits' shape without the class "
            "dimension 1), got (3, 5); an integer target of the shape of logits looks one-hot: "
            "pass target.argmax(1) (class indices) or target.float() (probabilities)",
        ),
        ErrorCase(
            "target-shape",
            lambda: cross_entropy(logits, target.view(3, 1)),
            ValueError,
            "cross_entropy: target must have shape (3,) (logits' shape without the class "
            "dimension 1), got (3, 1)",
        ),
        ErrorCase(
            "bool-target",
            lambda: cross_entropy(logits, target > 0),
            TypeError,
            "cross_entropy: target must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.bool",
        ),
        ErrorCase(
            "1d-logits",
            lambda: cross_entropy(logits[0], target[:1]),
            ValueError,
            "cross_entropy: logits must have at least 2 dimensions (N, C, ...), got shape (5,)",
        ),
        ErrorCase(
            "one-class",
            lambda: cross_entropy(logits[:, :1], torch.zeros(3, dtype=torch.long)),
            ValueError,
            "cross_entropy: logits must have at least 2 classes in dimension 1, got 1 (one "
            "logit per sample is a binary problem: use binary_cross_entropy_with_logits)",
        ),
        ErrorCase(
            "label-too-large",
            lambda: cross_entropy(logits, torch.tensor([0, 5, 1])),
            ValueError,
            "cross_entropy: target must hold class indices in [0, 5) or equal to "
            "ignore_index=-100, got 5",
        ),
        ErrorCase(
            "label-negative",
            lambda: cross_entropy(logits, torch.tensor([0, -1, 1])),
            ValueError,
            "cross_entropy: target must hold class indices in [0, 5) or equal to "
            "ignore_index=-100, got -1",
        ),
        ErrorCase(
            "label-smoothing-range",
            lambda: cross_entropy(logits, target, label_smoothing=1.5),
            ValueError,
            "cross_entropy: label_smoothing must be in [0, 1], got 1.5",
        ),
        ErrorCase(
            "label-smoothing-negative",
            lambda: cross_entropy(logits, target, label_smoothing=-0.1),
            ValueError,
            "cross_entropy: label_smoothing must be in [0, 1], got -0.1",
        ),
        ErrorCase(
            "weight-length",
            lambda: cross_entropy(logits, target, weight=torch.ones(4)),
            ValueError,
            "cross_entropy: weight must be a 1-D tensor with one weight per class, shape (5,), "
            "got (4,)",
        ),
        ErrorCase(
            "weight-dtype",
            lambda: cross_entropy(logits, target, weight=torch.ones(5, dtype=torch.long)),
            TypeError,
            "cross_entropy: weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "probabilities-with-ignore-index",
            lambda: cross_entropy(logits, probs, ignore_index=255),
            ValueError,
            "cross_entropy: ignore_index must be the default -100 with probability targets (it "
            "applies to class indices only), got 255",
        ),
        ErrorCase(
            "probability-range",
            lambda: cross_entropy(logits, probs * 2 - 0.5),
            ValueError,
            "cross_entropy: target must hold values in [0, 1], got",
        ),
        ErrorCase(
            "multi-hot",
            lambda: cross_entropy(logits, torch.tensor([[1.0, 1, 0, 0, 0]]).expand(3, 5)),
            ValueError,
            "cross_entropy: target must hold probabilities that sum to 1 over dimension 1, got "
            "a sum of 2.0 (a multi-hot target is multi-label: use "
            "binary_cross_entropy_with_logits)",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: cross_entropy(logits, target.tolist()),  # type: ignore[arg-type]
            TypeError,
            "cross_entropy: target must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "module-label-smoothing",
            lambda: CrossEntropyLoss(label_smoothing=2.0),
            ValueError,
            "CrossEntropyLoss: label_smoothing must be in [0, 1], got 2.0",
        ),
        ErrorCase(
            "module-weight-dtype",
            lambda: CrossEntropyLoss(weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            "CrossEntropyLoss: weight must be a floating-point tensor, got dtype torch.int64",
        ),
    )


def _nll_errors() -> tuple[ErrorCase, ...]:
    log_probs, target = torch.randn(3, 5).log_softmax(dim=1), torch.tensor([0, 4, 1])
    return (
        ErrorCase(
            "float-target",
            lambda: nll_loss(log_probs, target.float()),
            TypeError,
            "nll_loss: target must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "int-log-probs",
            lambda: nll_loss(target.view(3, 1).repeat(1, 5), target),
            TypeError,
            "nll_loss: log_probs must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "target-shape",
            lambda: nll_loss(log_probs, target.view(3, 1)),
            ValueError,
            "nll_loss: target must have shape (3,) (log_probs' shape without the class "
            "dimension 1), got (3, 1)",
        ),
        ErrorCase(
            "1d-log-probs",
            lambda: nll_loss(log_probs[0], target[:1]),
            ValueError,
            "nll_loss: log_probs must have at least 2 dimensions (N, C, ...), got shape (5,)",
        ),
        ErrorCase(
            "one-class",
            lambda: nll_loss(log_probs[:, :1], torch.zeros(3, dtype=torch.long)),
            ValueError,
            "nll_loss: log_probs must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "label-too-large",
            lambda: nll_loss(log_probs, torch.tensor([0, 7, 1]), ignore_index=255),
            ValueError,
            "nll_loss: target must hold class indices in [0, 5) or equal to "
            "ignore_index=255, got 7",
        ),
        ErrorCase(
            "probabilities-not-log",
            lambda: nll_loss(torch.tensor([[0.25, 0.75]]), torch.tensor([1])),
            ValueError,
            "nll_loss: log_probs must hold log-probabilities (values <= 0), got 0.25; pass "
            "log_softmax(logits), not softmax(logits) or raw logits",
        ),
        ErrorCase(
            "weight-length",
            lambda: nll_loss(log_probs, target, weight=torch.ones(6)),
            ValueError,
            "nll_loss: weight must be a 1-D tensor with one weight per class, shape (5,), got (6,)",
        ),
        ErrorCase(
            "module-weight-dtype",
            lambda: NLLLoss(weight=torch.ones(3, dtype=torch.int32)),
            TypeError,
            "NLLLoss: weight must be a floating-point tensor, got dtype torch.int32",
        ),
    )


_PROBABILITY_ERRORS = {
    "probability-shape",
    "probabilities-with-ignore-index",
    "probability-range",
    "multi-hot",
}
_SMOOTHING_ERRORS = {"label-smoothing-range", "label-smoothing-negative", "module-label-smoothing"}


def _ce_errors_among(ids: set[str], *, keep: bool) -> tuple[ErrorCase, ...]:
    return tuple(case for case in _ce_errors() if (case.id in ids) is keep)


CE_INDICES = LossSpec(
    function=cross_entropy,
    module=CrossEntropyLoss,
    oracle=oracles.cross_entropy,
    make_inputs=class_inputs,
    shapes=SHAPES,
    options=({},),
    ids=("indices",),
    saturate=class_saturate,
    perfect=class_perfect,
    weights=class_weights("weight"),
    ignore=class_ignore,
    errors=_ce_errors_among(_PROBABILITY_ERRORS | _SMOOTHING_ERRORS, keep=False),
    low_precision_tol=LOW_PRECISION_TOL,
)

# Label smoothing: the minimum is the entropy of the smoothed target, not 0 (no `perfect`).
CE_SMOOTHED = LossSpec(
    function=cross_entropy,
    module=CrossEntropyLoss,
    oracle=oracles.cross_entropy,
    make_inputs=class_inputs,
    shapes=SHAPES,
    options=({"label_smoothing": 0.1}, {"label_smoothing": 0.5}, {"label_smoothing": 1.0}),
    saturate=class_saturate,
    weights=class_weights("weight"),
    ignore=class_ignore,
    errors=_ce_errors_among(_SMOOTHING_ERRORS, keep=True),
    low_precision_tol=LOW_PRECISION_TOL,
)

# Probability targets: the minimum is the target's entropy (checked below), not 0.
CE_PROBABILITIES = LossSpec(
    function=cross_entropy,
    module=CrossEntropyLoss,
    oracle=oracles.cross_entropy,
    make_inputs=_probability_inputs,
    shapes=SHAPES,
    options=({}, {"label_smoothing": 0.2}),
    ids=("probabilities", "probabilities,label_smoothing=0.2"),
    saturate=class_saturate,
    weights=class_weights("weight"),
    errors=_ce_errors_among(_PROBABILITY_ERRORS, keep=True),
    low_precision_tol=LOW_PRECISION_TOL,
)

NLL = LossSpec(
    function=nll_loss,
    module=NLLLoss,
    oracle=oracles.nll,
    make_inputs=_log_prob_inputs,
    shapes=SHAPES,
    options=({},),
    ids=("default",),
    saturate=_log_prob_saturate,
    perfect=_log_prob_perfect,
    weights=class_weights("weight"),
    ignore=class_ignore,
    errors=_nll_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestCrossEntropyIndices(LossContract):
    spec = CE_INDICES


class TestCrossEntropySmoothed(LossContract):
    spec = CE_SMOOTHED


class TestCrossEntropyProbabilities(LossContract):
    spec = CE_PROBABILITIES


class TestNLLLoss(LossContract):
    spec = NLL


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


def _inputs_with_ignored(shape: tuple[int, ...], seed: int) -> tuple[Tensor, Tensor, Tensor]:
    logits, target = class_inputs(shape, torch.float64, torch.Generator().manual_seed(seed))
    target.view(-1)[::3] = -100
    weight = torch.rand(shape[1], dtype=torch.float64) + 0.5
    return logits.requires_grad_(True), target, weight


# ---------------------------------------------------------------- identities with torch


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_class_indices_equal_torch(
    reduction: Reduction, shape: tuple[int, ...], label_smoothing: float, weighted: bool
) -> None:
    logits, target, weight = _inputs_with_ignored(shape, 1)
    kwargs: dict[str, Any] = {
        "weight": weight if weighted else None,
        "label_smoothing": label_smoothing,
    }
    ours = cross_entropy(logits, target, reduction=reduction, **kwargs)
    theirs = F.cross_entropy(logits, target, reduction=reduction, **kwargs)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(theirs.sum(), logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_probabilities_equal_torch_without_weight(
    reduction: Reduction, shape: tuple[int, ...], label_smoothing: float
) -> None:
    logits, target = _probability_inputs(shape, torch.float64, torch.Generator().manual_seed(2))
    logits.requires_grad_(True)
    ours = cross_entropy(logits, target, label_smoothing=label_smoothing, reduction=reduction)
    theirs = F.cross_entropy(logits, target, label_smoothing=label_smoothing, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(theirs.sum(), logits))


@pytest.mark.parametrize("shape", SHAPES)
def test_probabilities_with_weight_deviate_from_torch_only_in_mean(shape: tuple[int, ...]) -> None:
    logits, target = _probability_inputs(shape, torch.float64, torch.Generator().manual_seed(3))
    weight = torch.rand(shape[1], dtype=torch.float64) + 0.5
    reductions: tuple[Reduction, ...] = ("none", "sum")
    for reduction in reductions:
        torch.testing.assert_close(
            cross_entropy(logits, target, weight=weight, reduction=reduction),
            F.cross_entropy(logits, target, weight=weight, reduction=reduction),
        )
    ours = cross_entropy(logits, target, weight=weight, label_smoothing=0.1)
    theirs = F.cross_entropy(logits, target, weight=weight, label_smoothing=0.1)
    elements = target.numel() // shape[1]
    target_weight = (target.movedim(1, -1) * weight).sum()
    torch.testing.assert_close(ours, theirs * elements / target_weight)
    assert not torch.allclose(ours, theirs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_one_hot_probabilities_equal_class_indices(
    reduction: Reduction, shape: tuple[int, ...], label_smoothing: float
) -> None:
    """Under our weighted mean (not torch's), a one-hot target and its index agree everywhere."""
    logits, target = class_inputs(shape, torch.float64, torch.Generator().manual_seed(4))
    logits.requires_grad_(True)
    one_hot = F.one_hot(target, shape[1]).movedim(-1, 1).double()
    weight = torch.rand(shape[1], dtype=torch.float64) + 0.5
    kwargs: dict[str, Any] = {
        "weight": weight,
        "label_smoothing": label_smoothing,
        "reduction": reduction,
    }
    from_index = cross_entropy(logits, target, **kwargs)
    from_one_hot = cross_entropy(logits, one_hot, **kwargs)
    torch.testing.assert_close(from_one_hot, from_index)
    torch.testing.assert_close(_grad(from_one_hot.sum(), logits), _grad(from_index.sum(), logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_equals_torch_and_is_cross_entropy_of_log_softmax(
    reduction: Reduction, shape: tuple[int, ...], weighted: bool
) -> None:
    logits, target, weight = _inputs_with_ignored(shape, 5)
    w = weight if weighted else None
    log_probs = logits.log_softmax(dim=1)
    ours = nll_loss(log_probs, target, weight=w, reduction=reduction)
    theirs = F.nll_loss(log_probs, target, weight=w, reduction=reduction)
    ce = cross_entropy(logits, target, weight=w, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours, ce)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(ce.sum(), logits))


def test_other_integer_target_dtypes() -> None:
    logits, target = class_inputs((6, 5), torch.float64, torch.Generator().manual_seed(6))
    expected = F.cross_entropy(logits, target)
    for dtype in (torch.int32, torch.int16, torch.uint8):
        torch.testing.assert_close(cross_entropy(logits, target.to(dtype)), expected)
        torch.testing.assert_close(nll_loss(logits.log_softmax(1), target.to(dtype)), expected)


def test_weight_and_target_dtypes_follow_logits() -> None:
    logits, target = _probability_inputs((6, 5), torch.float32, torch.Generator().manual_seed(7))
    weight = torch.rand(5, dtype=torch.float64) + 0.5
    value = cross_entropy(logits, target.double(), weight=weight)
    assert value.dtype == torch.float32
    torch.testing.assert_close(
        value, cross_entropy(logits.double(), target.double(), weight=weight).float()
    )


# ---------------------------------------------------------------- label smoothing


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("epsilon", [0.05, 0.3, 1.0])
def test_label_smoothing_is_epsilon_over_c_for_every_class(
    shape: tuple[int, ...], epsilon: float
) -> None:
    """The smoothed target is (1 - ε)·one-hot + ε/C, built here explicitly, weight included."""
    logits, target, weight = _inputs_with_ignored(shape, 8)
    num_classes = shape[1]
    valid = target != -100
    one_hot = F.one_hot(torch.where(valid, target, 0), num_classes).movedim(-1, 1).double()
    smoothed = (1 - epsilon) * one_hot + epsilon / num_classes
    per_element = -(weight.view(-1, *[1] * (len(shape) - 2)) * smoothed * logits.log_softmax(1))
    expected_none = per_element.sum(1) * valid
    expected_mean = expected_none.sum() / (weight[torch.where(valid, target, 0)] * valid).sum()
    ours_none = cross_entropy(
        logits, target, weight=weight, label_smoothing=epsilon, reduction="none"
    )
    ours_mean = cross_entropy(logits, target, weight=weight, label_smoothing=epsilon)
    torch.testing.assert_close(ours_none, expected_none)
    torch.testing.assert_close(ours_mean, expected_mean)
    # Not the ε/(C - 1) variant.
    other = (1 - epsilon) * one_hot + epsilon / (num_classes - 1) * (1 - one_hot)
    wrong = -(other * logits.log_softmax(1)).sum(1)[valid].mean()
    assert not torch.allclose(cross_entropy(logits, target, label_smoothing=epsilon), wrong)


def test_label_smoothing_gradient_is_p_minus_smoothed_target() -> None:
    logits, target = class_inputs((8, 4), torch.float64, torch.Generator().manual_seed(9))
    logits.requires_grad_(True)
    epsilon = 0.2
    q = (1 - epsilon) * F.one_hot(target, 4) + epsilon / 4
    grad = _grad(cross_entropy(logits, target, label_smoothing=epsilon, reduction="sum"), logits)
    torch.testing.assert_close(grad, logits.detach().softmax(1) - q)


# ---------------------------------------------------------------- mean, ignore, empty


def test_all_ignored_mean_is_zero_with_zero_gradient() -> None:
    logits = torch.randn(3, 4, requires_grad=True)
    target = torch.full((3,), -100)
    options: list[dict[str, Any]] = [{}, {"weight": torch.ones(4)}, {"label_smoothing": 0.1}]
    for kwargs in options:
        loss = cross_entropy(logits, target, **kwargs)
        assert loss.item() == 0.0
        assert _grad(loss, logits).abs().max() == 0
    loss = nll_loss(logits.log_softmax(1), target)
    assert loss.item() == 0.0
    assert _grad(loss, logits).abs().max() == 0
    assert torch.isnan(F.cross_entropy(logits, target))  # torch's mean: 0 / 0


def test_empty_batch() -> None:
    logits = torch.randn(0, 4, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    reductions: tuple[Reduction, ...] = ("mean", "sum")
    for reduction in reductions:
        assert cross_entropy(logits, empty, reduction=reduction).item() == 0.0
        assert nll_loss(logits, empty, reduction=reduction).item() == 0.0
    assert cross_entropy(logits, torch.zeros(0, 4), reduction="sum").item() == 0.0


def test_zero_weight_classes_only_mean_is_zero() -> None:
    logits = torch.randn(2, 3, requires_grad=True)
    weight = torch.tensor([0.0, 1.0, 1.0])
    for target in (torch.tensor([0, 0]), torch.tensor([[1.0, 0, 0], [1.0, 0, 0]])):
        loss = cross_entropy(logits, target, weight=weight)
        assert loss.item() == 0.0
        assert _grad(loss, logits).abs().max() == 0


def test_large_float16_map_mean_does_not_overflow() -> None:
    # 600 x 600 elements of loss ~ 1.6: a float16 sum would be inf (float16 max is 65504).
    gen = torch.Generator().manual_seed(10)
    logits = torch.randn(1, 5, 600, 600, generator=gen).half()
    target = torch.randint(5, (1, 600, 600), generator=gen)
    value = cross_entropy(logits, target)
    assert value.dtype == torch.float16
    torch.testing.assert_close(
        value.float(), F.cross_entropy(logits.float(), target).half().float()
    )
    value = nll_loss(logits.float().log_softmax(1).half(), target)
    assert torch.isfinite(value)


def test_probability_targets_minimum_is_target_entropy() -> None:
    """Gibbs: CE(x, y) >= H(y), with equality at logits = log y."""
    gen = torch.Generator().manual_seed(11)
    target = torch.softmax(torch.randn(16, 5, generator=gen, dtype=torch.float64), dim=1)
    entropy = -(target * target.log()).sum(1)
    at_target = cross_entropy(target.log(), target, reduction="none")
    torch.testing.assert_close(at_target, entropy)
    for _ in range(20):
        logits = 3 * torch.randn(16, 5, generator=gen, dtype=torch.float64)
        assert (cross_entropy(logits, target, reduction="none") >= entropy - 1e-12).all()


# ---------------------------------------------------------------- gradients


def test_gradient_is_p_minus_y_with_weights() -> None:
    """∂ℓ/∂x_j = (Σ_c w_c y_c) p_j − w_j y_j; without weights, p_j − y_j."""
    logits, target = _probability_inputs((8, 5), torch.float64, torch.Generator().manual_seed(12))
    logits.requires_grad_(True)
    p = logits.detach().softmax(1)
    grad = _grad(cross_entropy(logits, target, reduction="sum"), logits)
    torch.testing.assert_close(grad, p - target)
    weight = torch.rand(5, dtype=torch.float64) + 0.5
    grad = _grad(cross_entropy(logits, target, weight=weight, reduction="sum"), logits)
    torch.testing.assert_close(grad, (target * weight).sum(1, keepdim=True) * p - weight * target)


def test_gradient_with_respect_to_probability_target() -> None:
    """Soft targets may be learned (distillation): the weighted mean is differentiable in them."""
    gen = torch.Generator().manual_seed(13)
    logits = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    target = torch.softmax(torch.randn(4, 3, generator=gen, dtype=torch.float64), dim=1)
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    target.requires_grad_(True)
    with value_checks(False):  # gradcheck's perturbed rows no longer sum to 1
        assert torch.autograd.gradcheck(
            lambda t: cross_entropy(logits, t, weight=weight), (target,)
        )


# ---------------------------------------------------------------- the page's pitfalls


Y_PRED = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]


def test_probabilities_fed_as_logits() -> None:
    y_pred, y_true = torch.tensor(Y_PRED), torch.tensor([0, 1, 2])
    wrong = cross_entropy(y_pred, y_true)
    intended = -(math.log(0.5) + math.log(0.6) + math.log(0.6)) / 3
    assert abs(wrong.item() - 0.8812) < 1e-4
    assert abs(intended - 0.5716) < 1e-4
    assert abs(cross_entropy(y_pred.log(), y_true).item() - intended) < 1e-6
    assert abs(nll_loss(y_pred.log(), y_true).item() - intended) < 1e-6
    # A perfect one-hot "probability" over 4 classes still costs log(e + 3) - 1.
    perfect = cross_entropy(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.tensor([0]))
    assert abs(perfect.item() - 0.7437) < 1e-4
    assert abs(perfect.item() - (math.log(math.e + 3) - 1)) < 1e-6


def test_softmax_into_nll_minimises_minus_p() -> None:
    logits = torch.tensor([[0.0, 10.0, 0.0]], requires_grad=True)
    target = torch.tensor([0])
    probs = logits.softmax(1)
    torch_value = F.nll_loss(probs, target)
    torch.testing.assert_close(torch_value, -probs[0, 0])
    torch_grad = _grad(torch_value, logits)
    right_grad = _grad(cross_entropy(logits, target), logits)
    assert abs(torch_grad[0, 0].item()) < 1e-4  # confidently wrong, almost no gradient
    assert abs(right_grad[0, 0].item() + 1) < 1e-4
    with pytest.raises(ValueError, match="log_probs must hold log-probabilities"):
        nll_loss(probs, target)
    with value_checks(False):
        torch.testing.assert_close(nll_loss(probs, target), torch_value)


def test_value_checks_switch() -> None:
    logits = torch.randn(2, 3)
    with value_checks(False):
        cross_entropy(logits, torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
        nll_loss(logits.softmax(1), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="sum to 1"):
        cross_entropy(logits, torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))


def test_modules_move_weight_buffer_and_repr() -> None:
    criterion = CrossEntropyLoss(weight=torch.tensor([1.0, 2.0]), label_smoothing=0.1)
    assert "weight" in dict(criterion.named_buffers())
    criterion = criterion.double()
    assert criterion.weight is not None
    assert criterion.weight.dtype == torch.float64
    assert repr(criterion) == (
        "CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1, reduction='mean')"
    )
    assert repr(NLLLoss(ignore_index=255, reduction="sum")) == (
        "NLLLoss(ignore_index=255, reduction='sum')"
    )
    assert NLLLoss().weight is None


def test_nll_accepts_permuted_log_probs() -> None:
    """torch's CPU nll_loss backward raises "grad_input must be contiguous" here; ours works."""
    out = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)  # (N, H, W, C)
    target = torch.randint(3, (2, 4, 5))
    with pytest.raises(RuntimeError, match="grad_input must be contiguous"):
        _grad(F.nll_loss(F.log_softmax(out, dim=-1).permute(0, 3, 1, 2), target), out)
    log_probs = F.log_softmax(out, dim=-1).permute(0, 3, 1, 2)
    loss = nll_loss(log_probs, target)
    expected = F.nll_loss(F.log_softmax(out, dim=-1).permute(0, 3, 1, 2).contiguous(), target)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(_grad(loss, out), _grad(expected, out))


# ---------------------------------------------------------------- z-loss


def _z_loss_errors() -> tuple[ErrorCase, ...]:
    logits, target = torch.randn(3, 5), torch.tensor([0, 4, 1])
    return (
        ErrorCase(
            "z-loss-negative",
            lambda: cross_entropy(logits, target, z_loss=-0.1),
            ValueError,
            "cross_entropy: z_loss must be a finite number >= 0, got -0.1",
        ),
        ErrorCase(
            "z-loss-infinite",
            lambda: cross_entropy(logits, target, z_loss=math.inf),
            ValueError,
            "cross_entropy: z_loss must be a finite number >= 0, got inf",
        ),
        ErrorCase(
            "module-z-loss",
            lambda: CrossEntropyLoss(z_loss=-1.0),
            ValueError,
            "CrossEntropyLoss: z_loss must be a finite number >= 0, got -1.0",
        ),
    )


# z-loss: the minimum is no longer at the saturated one-hot logits (z = 100 there), no `perfect`.
CE_Z_LOSS = replace(
    CE_INDICES,
    options=({"z_loss": 1e-2}, {"z_loss": 0.5, "label_smoothing": 0.1}),
    ids=(),
    perfect=None,
    errors=_z_loss_errors(),
)
CE_Z_LOSS_PROBABILITIES = replace(
    CE_PROBABILITIES, options=({"z_loss": 0.1},), ids=("probabilities,z_loss=0.1",), errors=()
)


class TestCrossEntropyZLoss(LossContract):
    spec = CE_Z_LOSS


class TestCrossEntropyZLossProbabilities(LossContract):
    spec = CE_Z_LOSS_PROBABILITIES


class _Record(TorchDispatchMode):
    """The names of the ATen operations dispatched inside the block."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        self.names: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def _aten_ops(call: Callable[[], object]) -> list[str]:
    record = _Record()
    with record:
        call()
    return record.names


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_z_loss_zero_dispatches_what_the_default_does(reduction: Reduction) -> None:
    """`z_loss=0.0` is the default path itself: the same ATen operations, forward and backward,
    and for `"none"`/`"sum"` those of torch's `F.cross_entropy` alone."""
    logits = torch.randn(6, 5, requires_grad=True)
    target = torch.tensor([0, 1, 2, -100, 4, 0])

    def ours(z_loss: float | None = None) -> None:
        if z_loss is None:
            value = cross_entropy(logits, target, reduction=reduction)
        else:
            value = cross_entropy(logits, target, reduction=reduction, z_loss=z_loss)
        torch.autograd.grad(value.sum(), logits)

    with value_checks(False):  # as on CUDA: no check reads the labels
        default = _aten_ops(ours)
        assert _aten_ops(lambda: ours(0.0)) == default
    if reduction != "mean":
        plain = _aten_ops(
            lambda: torch.autograd.grad(
                F.cross_entropy(logits, target, reduction=reduction).sum(), logits
            )
        )
        assert default == plain


def _liger_cross_entropy_row(
    x: list[float],
    y: int,
    weight: list[float] | None,
    n_non_ignore: int,
    weight_sum: float,
    scale: float,
) -> float:
    """One row of Liger-Kernel's `liger_cross_entropy_kernel`, reduction="mean", no smoothing:
    `loss = lse - x_y` (times `weight[y]`), divided by the sum of the non-ignored weights (or by
    `n_non_ignore`), plus `lse_square_scale * lse * lse / n_non_ignore` — the z-loss is not
    weighted. Transcribed from linkedin/Liger-Kernel, src/liger_kernel/ops/cross_entropy.py at
    commit ead96b618e5c67bddc6a6e9bcb99bfe6b5ab661c (lines 289-326)."""
    lse = math.log(math.fsum(math.exp(v) for v in x))
    loss = lse - x[y]
    loss = loss * weight[y] / weight_sum if weight is not None else loss / n_non_ignore
    return loss + scale * lse * lse / n_non_ignore


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_z_loss_is_liger_lse_square_scale(weighted: bool) -> None:
    """`z_loss=ζ` is Liger-Kernel's `lse_square_scale=ζ`, with class weights and ignored rows."""
    gen = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(7, 6, generator=gen, dtype=torch.float64)
    target = torch.randint(6, (7,), generator=gen)
    target[[1, 4]] = -100
    weight = torch.rand(6, generator=gen, dtype=torch.float64) + 0.5 if weighted else None
    w = None if weight is None else weight.tolist()
    rows = [(logits[n].tolist(), int(target[n])) for n in range(7) if target[n] != -100]
    weight_sum = sum(w[y] for _, y in rows) if w is not None else float(len(rows))
    expected = math.fsum(
        _liger_cross_entropy_row(x, y, w, len(rows), weight_sum, 0.3) for x, y in rows
    )
    actual = cross_entropy(logits, target, weight=weight, z_loss=0.3)
    assert actual.item() == pytest.approx(expected, rel=1e-12)


def test_z_loss_gradient_is_two_zeta_z_softmax() -> None:
    r"""$\partial(\zeta z^2)/\partial x_c = 2 \zeta z\, p_c$: the z-loss adds a gradient whose row
    sum is $2\zeta z$ (the cross-entropy's row sum is 0), the pull on the logits' offset."""
    logits = (3 * torch.randn(4, 5, dtype=torch.float64)).requires_grad_(True)
    target = torch.tensor([0, 1, -100, 3])
    plain = _grad(cross_entropy(logits, target, reduction="sum"), logits)
    with_z = _grad(cross_entropy(logits, target, z_loss=0.2, reduction="sum"), logits)
    x = logits.detach()
    z = x.logsumexp(1, keepdim=True)
    counted = (target != -100).double()[:, None]
    torch.testing.assert_close(with_z - plain, 2 * 0.2 * z * x.softmax(1) * counted)
    torch.testing.assert_close(plain.sum(1), torch.zeros(4, dtype=torch.float64))


def test_z_loss_all_ignored_is_zero() -> None:
    logits = torch.randn(3, 4, requires_grad=True)
    loss = cross_entropy(logits, torch.full((3,), -100), z_loss=0.1)
    assert loss.item() == 0.0
    assert _grad(loss, logits).abs().max() == 0


def test_z_loss_page_drift() -> None:
    """The page's numbers: an offset of 30 leaves the cross-entropy as it is, and only the
    z-loss pulls it back (mean z after 200 SGD steps: 34.79 without, 26.65 with ζ = 0.01)."""
    target = torch.tensor([0, 1, 2, 3])
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(cross_entropy(x + 30, target), cross_entropy(x, target))
    finals = []
    for zeta in (0.0, 1e-2):
        logits = (x + 30.0).requires_grad_()
        opt = torch.optim.SGD([logits], lr=1.0)
        for _ in range(200):
            opt.zero_grad()
            logits.grad = _grad(cross_entropy(logits, target, z_loss=zeta), logits)
            opt.step()
        finals.append(round(logits.detach().logsumexp(1).mean().item(), 2))
    assert finals == [34.79, 26.65]
    assert round((x + 30).logsumexp(1).mean().item(), 2) == 32.29
    # bfloat16's step: 0.25 between 32 and 64, 0.0078 near 1.
    bf16 = torch.bfloat16
    assert (
        torch.nextafter(torch.tensor(32.0, dtype=bf16), torch.tensor(64.0, dtype=bf16)) - 32
    ).item() == 0.25
    assert (
        torch.nextafter(torch.tensor(1.0, dtype=bf16), torch.tensor(2.0, dtype=bf16)) - 1
    ).item() == 0.0078125


def test_module_repr_shows_z_loss_only_when_set() -> None:
    assert repr(CrossEntropyLoss(z_loss=1e-4)) == (
        "CrossEntropyLoss(ignore_index=-100, label_smoothing=0.0, z_loss=0.0001, reduction='mean')"
    )
    assert "z_loss" not in repr(CrossEntropyLoss())
