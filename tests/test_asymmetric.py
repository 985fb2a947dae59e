"""Asymmetric loss: the shared contract, parity with the authors' code, the gradient convention,
the identity with the sigmoid focal loss, and the page's claims."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor

from deeplossdive.functional import (
    asymmetric_loss,
    binary_cross_entropy_with_logits,
    sigmoid_focal_loss,
)
from deeplossdive.nn import AsymmetricLoss
from tests.harness import REDUCTIONS, ErrorCase, LossContract, LossSpec
from tests.inputs import LOW_PRECISION_TOL, mask_inputs, mask_perfect, multi_hot_saturate
from tests.oracles import asymmetric as oracles


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _errors() -> tuple[ErrorCase, ...]:
    fn = "asymmetric_loss"
    x, y = torch.randn(2, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    return (
        ErrorCase(
            "int-logits",
            lambda: asymmetric_loss(y.long(), y),
            TypeError,
            f"{fn}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "complex-target",
            lambda: asymmetric_loss(x, y.to(torch.complex64)),
            TypeError,
            f"{fn}: target must be a boolean, integer or floating-point tensor of labels 0 or 1, "
            "got dtype torch.complex64",
        ),
        ErrorCase(
            "target-shape",
            lambda: asymmetric_loss(x, y[:, :2]),
            ValueError,
            f"{fn}: target must have the shape of logits (2, 3), got (2, 2)",
        ),
        ErrorCase(
            "soft-target",
            lambda: asymmetric_loss(x, y * 0.9),
            ValueError,
            f"{fn}: target must hold labels 0 or 1, got 0.8999999761581421",
        ),
        ErrorCase(
            "int-target-2",
            lambda: asymmetric_loss(x, torch.tensor([[1, 0, 2], [0, 0, 1]])),
            ValueError,
            f"{fn}: target must hold labels 0 or 1, got 2",
        ),
        ErrorCase(
            "negative-gamma-neg",
            lambda: asymmetric_loss(x, y, gamma_neg=-1.0),
            ValueError,
            f"{fn}: gamma_neg must be >= 0, got -1.0",
        ),
        ErrorCase(
            "negative-gamma-pos",
            lambda: asymmetric_loss(x, y, gamma_pos=-0.5),
            ValueError,
            f"{fn}: gamma_pos must be >= 0, got -0.5",
        ),
        ErrorCase(
            "clip-one",
            lambda: asymmetric_loss(x, y, clip=1.0),
            ValueError,
            f"{fn}: clip must be in [0, 1), got 1.0",
        ),
        ErrorCase(
            "negative-eps",
            lambda: asymmetric_loss(x, y, eps=-1e-8),
            ValueError,
            f"{fn}: eps must be in [0, 1), got -1e-08",
        ),
        ErrorCase(
            "module-clip",
            lambda: AsymmetricLoss(clip=math.nan),
            ValueError,
            "AsymmetricLoss: clip must be in [0, 1), got nan",
        ),
    )


ASYMMETRIC = LossSpec(
    function=asymmetric_loss,
    module=AsymmetricLoss,
    oracle=oracles.asymmetric,
    make_inputs=mask_inputs,
    shapes=((8, 5), (2, 3, 4)),
    options=(
        {},
        {"gamma_pos": 1.0},
        {"clip": 0.0},
        {"gamma_pos": 0.5, "gamma_neg": 0.5, "clip": 0.1},
        {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.0, "eps": 0.0},
    ),
    saturate=multi_hot_saturate,
    perfect=mask_perfect,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("paper", "gamma_pos=1", "clip=0", "gammas=0.5,clip=0.1", "bce"),
)


class TestAsymmetricLoss(LossContract):
    spec = ASYMMETRIC


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


# --- parity with the authors' code (tests/oracles/asymmetric.py, with its commit) --------------

REFERENCE_SETTINGS = [
    {"gamma_neg": 4.0, "gamma_pos": 0.0, "clip": 0.05},
    {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05},
    {"gamma_neg": 2.0, "gamma_pos": 1.0, "clip": 0.0},
    {"gamma_neg": 0.0, "gamma_pos": 0.0, "clip": 0.2},
]


@pytest.mark.parametrize("settings", REFERENCE_SETTINGS)
@pytest.mark.parametrize("optimized", [False, True], ids=["AsymmetricLoss", "Optimized"])
def test_sum_equals_the_reference_with_the_gradient_of_its_weights(
    settings: dict[str, float], optimized: bool
) -> None:
    """Mapping: reference(x, y) == asymmetric_loss(x, y, reduction="sum", same gamma_neg,
    gamma_pos, clip, eps), with disable_torch_grad_focal_loss=False for equal gradients."""
    logits, target = mask_inputs((16, 7), torch.float64, _seeded(3))
    logits = (3 * logits).requires_grad_()  # a few beyond -log(eps)'s logit too
    theirs = -oracles.reference_terms(
        logits, target, **settings, optimized=optimized, disable_torch_grad_focal_loss=False
    ).sum()
    ours = asymmetric_loss(logits, target, **settings, reduction="sum")
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours, logits), _grad(theirs, logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reductions_map_to_the_reference_sum(reduction: Any) -> None:
    logits, target = mask_inputs((8, 5), torch.float64, _seeded(4))
    terms = -oracles.reference_terms(logits, target, gamma_pos=0.0)
    expected = {"none": terms, "sum": terms.sum(), "mean": terms.sum() / terms.numel()}
    ours = asymmetric_loss(logits, target, reduction=reduction)
    torch.testing.assert_close(ours, expected[reduction])


# The page's numbers: one negative at logit 0 (p = 0.5, p_m = 0.45), gamma_neg = 4, clip = 0.05.
PAGE_LOSS, PAGE_FULL_GRAD, PAGE_DETACHED_GRAD = 0.024515, 0.073117, 0.018639


def test_gradient_through_the_weights_and_without_them() -> None:
    """Ours differentiates the focusing weight (as AsymmetricLossOptimized by default);
    AsymmetricLoss's default, disable_torch_grad_focal_loss=True, treats it as a constant."""
    logit, negative = torch.zeros(1, dtype=torch.float64, requires_grad=True), torch.zeros(1)
    ours = asymmetric_loss(logit, negative, reduction="sum")
    detached = -oracles.reference_terms(logit, negative, gamma_pos=0.0).sum()
    optimized = -oracles.reference_terms(logit, negative, gamma_pos=0.0, optimized=True).sum()
    assert ours.item() == pytest.approx(PAGE_LOSS, abs=5e-7)
    assert detached.item() == pytest.approx(PAGE_LOSS, abs=5e-7)
    ours_grad, detached_grad = _grad(ours, logit), _grad(detached, logit)
    torch.testing.assert_close(ours_grad, _grad(optimized, logit))
    assert ours_grad.item() == pytest.approx(PAGE_FULL_GRAD, abs=5e-7)
    assert detached_grad.item() == pytest.approx(PAGE_DETACHED_GRAD, abs=5e-7)
    # By hand: p (1 - p) [gamma p_m^3 (-log(1 - p_m)) + p_m^4 / (1 - p_m)], the second term alone.
    weight_term = 0.25 * 4 * 0.45**3 * -math.log(0.55)
    log_term = 0.25 * 0.45**4 / 0.55
    assert ours_grad.item() == pytest.approx(weight_term + log_term)
    assert detached_grad.item() == pytest.approx(log_term)
    assert round(ours_grad.item() / detached_grad.item(), 1) == 3.9


# --- identities -------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 4.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_clip_zero_equal_gammas_is_the_unweighted_sigmoid_focal_loss(
    gamma: float, reduction: Any
) -> None:
    logits, target = mask_inputs((12, 6), torch.float64, _seeded(5))
    logits = (5 * logits).requires_grad_()
    logits.data.view(-1)[:2] = torch.tensor([60.0, -60.0])  # beyond the eps floor: eps=0
    ours = asymmetric_loss(
        logits, target, gamma_pos=gamma, gamma_neg=gamma, clip=0.0, eps=0.0, reduction=reduction
    )
    focal = sigmoid_focal_loss(logits, target, gamma=gamma, alpha=None, reduction=reduction)
    torch.testing.assert_close(ours, focal)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(focal.sum(), logits))


def test_without_focusing_or_margin_it_is_bce() -> None:
    logits, target = mask_inputs((6, 4), torch.float64, _seeded(6))
    ours = asymmetric_loss(logits, target, gamma_neg=0.0, clip=0.0)
    torch.testing.assert_close(ours, binary_cross_entropy_with_logits(logits, target))


def test_boolean_and_integer_targets_equal_float_targets() -> None:
    logits, target = mask_inputs((6, 4), torch.float32, _seeded(7))
    expected = asymmetric_loss(logits, target, reduction="none")
    torch.testing.assert_close(asymmetric_loss(logits, target.bool(), reduction="none"), expected)
    torch.testing.assert_close(asymmetric_loss(logits, target.long(), reduction="none"), expected)


def test_easy_negatives_below_the_margin_cost_nothing() -> None:
    p = torch.tensor([0.01, 0.049, 0.051, 0.2], dtype=torch.float64)
    logits = (torch.log(p) - torch.log1p(-p)).requires_grad_()
    loss = asymmetric_loss(logits, torch.zeros(4), reduction="none")
    assert loss[:2].tolist() == [0.0, 0.0]
    assert (loss[2:] > 0).all()
    assert _grad(loss.sum(), logits)[:2].tolist() == [0.0, 0.0]


def test_empty_input() -> None:
    assert asymmetric_loss(torch.zeros(0, 3), torch.zeros(0, 3)).item() == 0.0
    assert asymmetric_loss(torch.zeros(0, 3), torch.zeros(0, 3), reduction="sum").item() == 0.0


# --- the eps floor: kept for parity, and what it costs ---------------------------------------

FLOOR = 18.420681  # -log(1e-8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_eps_floor_caps_the_loss_and_stops_the_gradient(dtype: torch.dtype) -> None:
    """A positive at logit -100: the default eps caps its loss at -log(eps) with gradient 0; eps=0
    gives BCE's 100 and gradient -1. The reference in float16 computes log(clamp(p, 1e-8)) with a
    floor that rounds to 0: -inf."""
    logit = torch.full((1,), -100.0, dtype=dtype, requires_grad=True)
    positive = torch.ones(1, dtype=dtype)
    capped = asymmetric_loss(logit, positive, reduction="sum")
    assert capped.float().item() == pytest.approx(FLOOR, rel=4e-3)
    assert _grad(capped, logit).item() == 0.0
    free = asymmetric_loss(logit, positive, eps=0.0, reduction="sum")
    assert free.float().item() == pytest.approx(100.0, rel=4e-3)
    assert _grad(free, logit).item() == pytest.approx(-1.0)
    if dtype == torch.float16:
        with torch.no_grad():
            assert oracles.reference_terms(logit, positive).sum().item() == -math.inf


def test_page_example_numbers() -> None:
    logits = torch.tensor([0.0, 0.0, -3.0], dtype=torch.float64)
    loss = asymmetric_loss(logits, torch.tensor([1.0, 0.0, 0.0]), reduction="none")
    assert loss.tolist() == pytest.approx([math.log(2), 0.45**4 * -math.log(0.55), 0.0])
    bce = binary_cross_entropy_with_logits(torch.zeros(1), torch.zeros(1)).item()
    assert round(bce / loss[1].item()) == 28
    assert round(torch.sigmoid(torch.tensor(-3.0)).item(), 3) == 0.047


def _negative_grad(prob: float) -> float:
    logit = torch.tensor([math.log(prob / (1 - prob))], dtype=torch.float64, requires_grad=True)
    return _grad(asymmetric_loss(logit, torch.zeros(1), reduction="sum"), logit).item()


def test_page_claims() -> None:
    """The numbers of docs/losses/asymmetric.md that its code blocks do not print."""
    # Intuition: a negative at p = 0.1 costs 0.05^4 (-log 0.95) = 3.2e-7; the negatives' share.
    one = asymmetric_loss(torch.tensor([math.log(0.1 / 0.9)]), torch.zeros(1)).item()
    assert f"{one:.1e}" == "3.2e-07"
    assert round(79 * -math.log(0.9) / (79 * -math.log(0.9) + math.log(2)), 2) == 0.92
    # The gradient by hand: 0.25 [4 · 0.45³ · 0.5978 + 0.45⁴ / 0.55] = 0.25 (0.2179 + 0.0746).
    assert round(-math.log(0.55), 4) == 0.5978
    assert round(4 * 0.45**3 * -math.log(0.55), 4) == 0.2179
    assert round(0.45**4 / 0.55, 4) == 0.0746
    assert round(0.25 * 0.45**4 / 0.55, 4) == 0.0186
    # The negative's gradient peaks near p = 0.9 and falls: 0.733 at 0.9, 0.221 at 0.99.
    grid = [i / 100 for i in range(50, 100)]
    peak = max(grid, key=_negative_grad)
    assert 0.85 <= peak <= 0.92
    assert round(_negative_grad(0.9), 3) == 0.733
    assert round(_negative_grad(0.99), 3) == 0.221
    # float16's smallest subnormal, 6e-8, is above the floor 1e-8.
    tiny = torch.finfo(torch.float16).smallest_normal * 2.0**-10
    assert f"{tiny:.0e}" == "6e-08"
    assert tiny > 1e-8
    # With a soft target t and no focusing, the margin moves the optimum to p = t (1 + m).
    t, m = 0.6, 0.05
    p = torch.linspace(0.3, 0.9, 60001, dtype=torch.float64)
    cost = -t * torch.log(p) - (1 - t) * torch.log(1 - (p - m).clamp_min(0))
    assert abs(p[cost.argmin()].item() - t * (1 + m)) < 1e-4
    # "mean" against the reference's sum: a factor N × C, 2 560 for 32 images and 80 labels.
    logits, target = mask_inputs((32, 80), torch.float64, _seeded(8))
    ratio = asymmetric_loss(logits, target, reduction="sum") / asymmetric_loss(logits, target)
    assert round(ratio.item()) == 2560
    # -log(1e-8) = 18.42, the cap of one element's loss.
    assert round(-math.log(1e-8), 2) == 18.42


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("settings", REFERENCE_SETTINGS)
def test_sum_equals_the_reference_on_cuda(settings: dict[str, float]) -> None:
    """The parity above on a GPU (no sync and CPU agreement: tests/test_no_sync.py's specs)."""
    logits, target = (t.cuda() for t in mask_inputs((64, 33), torch.float64, _seeded(9)))
    logits.requires_grad_()
    theirs = -oracles.reference_terms(
        logits, target, **settings, optimized=False, disable_torch_grad_focal_loss=False
    ).sum()
    ours = asymmetric_loss(logits, target, **settings, reduction="sum")
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours, logits), _grad(theirs, logits))
