"""Poly-1 cross-entropy: the shared contract, identities with cross-entropy, the gradient."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import Reduction
from deeplossdive.functional import cross_entropy, poly1_cross_entropy
from deeplossdive.nn import Poly1CrossEntropyLoss
from tests.harness import REDUCTIONS, ErrorCase, LossContract, LossSpec
from tests.inputs import LOW_PRECISION_TOL, class_inputs, class_perfect, class_saturate
from tests.oracles import poly1 as oracles

SHAPES = ((6, 5), (2, 3, 4, 5))


def _errors() -> tuple[ErrorCase, ...]:
    logits, target = torch.randn(3, 5), torch.tensor([0, 4, 1])
    fn = "poly1_cross_entropy"
    return (
        ErrorCase(
            "epsilon-below-minus-one",
            lambda: poly1_cross_entropy(logits, target, epsilon=-2.0),
            ValueError,
            f"{fn}: epsilon must be >= -1.0, got -2.0",
        ),
        ErrorCase(
            "epsilon-nan",
            lambda: poly1_cross_entropy(logits, target, epsilon=math.nan),
            ValueError,
            f"{fn}: epsilon must be >= -1.0, got nan",
        ),
        ErrorCase(
            "epsilon-type",
            lambda: poly1_cross_entropy(logits, target, epsilon="1"),  # type: ignore[arg-type]
            TypeError,
            f"{fn}: epsilon must be a real number, got str",
        ),
        ErrorCase(
            "float-target",
            lambda: poly1_cross_entropy(logits, target.float()),
            TypeError,
            f"{fn}: target must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "int-logits",
            lambda: poly1_cross_entropy(target.view(3, 1).repeat(1, 5), target),
            TypeError,
            f"{fn}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "target-shape",
            lambda: poly1_cross_entropy(logits, target.view(3, 1)),
            ValueError,
            f"{fn}: target must have shape (3,) (logits' shape without the class dimension 1), "
            "got (3, 1)",
        ),
        ErrorCase(
            "1d-logits",
            lambda: poly1_cross_entropy(logits[0], target[:1]),
            ValueError,
            f"{fn}: logits must have at least 2 dimensions (N, C, ...), got shape (5,)",
        ),
        ErrorCase(
            "one-class",
            lambda: poly1_cross_entropy(logits[:, :1], torch.zeros(3, dtype=torch.long)),
            ValueError,
            f"{fn}: logits must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "label-out-of-range",
            lambda: poly1_cross_entropy(logits, torch.tensor([0, 5, 1])),
            ValueError,
            f"{fn}: target must hold class indices in [0, 5), got 5",
        ),
        ErrorCase(
            "ignore-index-is-not-offered",
            lambda: poly1_cross_entropy(logits, torch.tensor([0, -100, 1])),
            ValueError,
            f"{fn}: target must hold class indices in [0, 5), got -100",
        ),
        ErrorCase(
            "module-epsilon",
            lambda: Poly1CrossEntropyLoss(epsilon=-1.5),
            ValueError,
            "Poly1CrossEntropyLoss: epsilon must be >= -1.0, got -1.5",
        ),
    )


POLY1 = LossSpec(
    function=poly1_cross_entropy,
    module=Poly1CrossEntropyLoss,
    oracle=oracles.poly1,
    make_inputs=class_inputs,
    shapes=SHAPES,
    options=({"epsilon": 1.0}, {"epsilon": 0.0}, {"epsilon": -1.0}, {"epsilon": 2.0}),
    saturate=class_saturate,
    perfect=class_perfect,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestPoly1CrossEntropy(LossContract):
    spec = POLY1


def _value_and_grad(value: Tensor, wrt: Tensor) -> tuple[Tensor, Tensor]:
    (grad,) = torch.autograd.grad(value.sum(), wrt)
    return value.detach(), grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_epsilon_zero_is_cross_entropy(reduction: Reduction, shape: tuple[int, ...]) -> None:
    logits, target = class_inputs(shape, torch.float64, torch.Generator().manual_seed(1))
    logits.requires_grad_(True)
    ours = _value_and_grad(
        poly1_cross_entropy(logits, target, epsilon=0.0, reduction=reduction), logits
    )
    ce = _value_and_grad(F.cross_entropy(logits, target, reduction=reduction), logits)
    torch.testing.assert_close(ours[0], ce[0])
    torch.testing.assert_close(ours[1], ce[1])
    ours_ce = cross_entropy(logits, target, reduction=reduction)
    torch.testing.assert_close(ours[0], ours_ce.detach())


@pytest.mark.parametrize("epsilon", [-1.0, -0.5, 1.0, 2.0, 5.0])
def test_is_cross_entropy_plus_epsilon_one_minus_pt(epsilon: float) -> None:
    logits, target = class_inputs((16, 7), torch.float64, torch.Generator().manual_seed(2))
    p_t = logits.softmax(1).gather(1, target[:, None]).squeeze(1)
    torch.testing.assert_close(
        poly1_cross_entropy(logits, target, epsilon=epsilon, reduction="none"),
        F.cross_entropy(logits, target, reduction="none") + epsilon * (1 - p_t),
    )


@pytest.mark.parametrize("epsilon", [-1.0, 0.0, 1.0, 2.0])
def test_gradient_formula(epsilon: float) -> None:
    """∂ℓ/∂x_j = p_j − δ_jt − ε p_t (δ_jt − p_j)."""
    logits, target = class_inputs((12, 5), torch.float64, torch.Generator().manual_seed(3))
    logits.requires_grad_(True)
    _, grad = _value_and_grad(
        poly1_cross_entropy(logits, target, epsilon=epsilon, reduction="sum"), logits
    )
    p = logits.detach().softmax(1)
    delta = F.one_hot(target, 5).double()
    p_t = p.gather(1, target[:, None])
    torch.testing.assert_close(grad, p - delta - epsilon * p_t * (delta - p))


def test_epsilon_minus_one_is_non_negative_near_perfect() -> None:
    """ℓ = −log p_t − (1 − p_t) is a difference of nearly equal numbers near p_t = 1."""
    margins = torch.linspace(5.0, 40.0, 71, dtype=torch.float64)
    logits = torch.stack([margins, torch.zeros_like(margins)], dim=1)
    target = torch.zeros(71, dtype=torch.long)
    loss = poly1_cross_entropy(logits, target, epsilon=-1.0, reduction="none")
    assert (loss >= 0).all()
    # Exactly, with u = e^{-m}: log(1 + u) − u/(1 + u) = Σ_{k≥2} (−1)^k (k − 1)/k u^k. Where
    # float64 still resolves −log p_t = log(1 + u) (m ≤ 15), the loss keeps 6 digits.
    u = torch.exp(-margins)
    exact = sum((-1) ** k * (k - 1) / k * u**k for k in range(2, 12))
    resolved = margins <= 15
    torch.testing.assert_close(loss[resolved], exact[resolved], rtol=1e-6, atol=0)


def test_monotone_in_pt_only_from_minus_one() -> None:
    """Why epsilon >= -1: below, the loss rises again as p_t -> 1 (minimum at p_t = -1/ε)."""
    p_t = torch.linspace(0.01, 1.0, 100, dtype=torch.float64)
    for epsilon, monotone in [(-1.0, True), (0.0, True), (2.0, True), (-2.0, False)]:
        values = -torch.log(p_t) + epsilon * (1 - p_t)
        assert bool((values.diff() <= 0).all()) is monotone
    values = -torch.log(p_t) - 2.0 * (1 - p_t)
    assert abs(p_t[values.argmin()].item() - 0.5) < 0.01


def test_module_repr() -> None:
    assert repr(Poly1CrossEntropyLoss(epsilon=2.0)) == (
        "Poly1CrossEntropyLoss(epsilon=2.0, reduction='mean')"
    )
