"""Regression losses: the shared contract for all six, identities with torch, the page's claims."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import Reduction
from deeplossdive.functional import (
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mse_loss,
    quantile_loss,
    smooth_l1_loss,
)
from deeplossdive.nn import HuberLoss, L1Loss, LogCoshLoss, MSELoss, QuantileLoss, SmoothL1Loss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec, Options
from tests.oracles import regression as oracles

# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}
SHAPES = ((8,), (2, 3, 4, 5))

# Where a loss or its slope changes regime: |r| = 0 (L1, pinball, smooth L1 with β = 0) and every
# δ or β the specs use. Finite differences straddling a kink disagree with autograd, so inputs
# keep every |r| at least 0.05 away from each (ascending: a nudge never lands on the next one).
KINKS = (0.0, 0.5, 1.0, 2.0)
KINK_GAP, NUDGE = 0.05, 0.1

Function = Callable[..., Tensor]
TYPED_REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    target = torch.randn(shape, generator=gen, dtype=torch.float64)
    residual = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    direction = torch.where(residual < 0, -1.0, 1.0).to(torch.float64)
    for kink in KINKS:
        near = (residual.abs() - kink).abs() < KINK_GAP
        residual = torch.where(near, residual + NUDGE * direction, residual)
    return (target + residual).to(dtype), target.to(dtype)


def _saturate(inputs: Inputs) -> Inputs:
    """Predictions of ±100: residuals of about ±100, both signs for sure."""
    prediction, target = inputs
    saturated = torch.where(prediction > 0, 100.0, -100.0).to(prediction.dtype)
    saturated.view(-1)[0] = 100.0
    saturated.view(-1)[1] = -100.0
    return saturated, target


def _perfect(inputs: Inputs) -> Inputs:
    _, target = inputs
    return target.clone(), target


def _weights(inputs: Inputs, gen: torch.Generator) -> Options:
    first = inputs[0]
    return {"weight": torch.rand(first.shape, generator=gen, dtype=first.dtype) + 0.1}


def _common_errors(function: Function, module: Callable[..., Any]) -> list[ErrorCase]:
    fn, mod = function.__name__, module.__name__
    x, y = torch.randn(4), torch.randn(4)
    return [
        ErrorCase(
            "int-input",
            lambda: function(torch.arange(4), y),
            TypeError,
            f"{fn}: input must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-target",
            lambda: function(x, torch.arange(4)),
            TypeError,
            f"{fn}: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: function(x.tolist(), y),
            TypeError,
            f"{fn}: input must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "input-N1-target-N",
            lambda: function(x.view(4, 1), y),
            ValueError,
            f"{fn}: target must have the shape of input (4, 1), got (4,)",
        ),
        ErrorCase(
            "input-N-target-N1",
            lambda: function(x, y.view(4, 1)),
            ValueError,
            f"{fn}: target must have the shape of input (4,), got (4, 1)",
        ),
        ErrorCase(
            "weight-shape",
            lambda: function(x, y, weight=torch.ones(4, 1)),
            ValueError,
            f"{fn}: weight must have the shape of input (4,), got (4, 1)",
        ),
        ErrorCase(
            "scalar-weight",
            lambda: function(x, y, weight=torch.tensor(2.0)),
            ValueError,
            f"{fn}: weight must have the shape of input (4,), got ()",
        ),
        ErrorCase(
            "int-weight",
            lambda: function(x, y, weight=torch.ones(4, dtype=torch.long)),
            TypeError,
            f"{fn}: weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "module-int-weight",
            lambda: module(weight=torch.ones(4, dtype=torch.long)),
            TypeError,
            f"{mod}: weight must be a floating-point tensor, got dtype torch.int64",
        ),
    ]


def _huber_errors() -> list[ErrorCase]:
    x, y = torch.randn(4), torch.randn(4)
    cases = [
        ("zero-delta", lambda: huber_loss(x, y, delta=0.0), "huber_loss: delta", "0.0"),
        ("negative-delta", lambda: huber_loss(x, y, delta=-1.0), "huber_loss: delta", "-1.0"),
        ("inf-delta", lambda: huber_loss(x, y, delta=math.inf), "huber_loss: delta", "inf"),
        ("nan-delta", lambda: huber_loss(x, y, delta=math.nan), "huber_loss: delta", "nan"),
        ("module-delta", lambda: HuberLoss(delta=0.0), "HuberLoss: delta", "0.0"),
    ]
    return [
        ErrorCase(i, call, ValueError, f"{where} must be a finite number > 0, got {got}")
        for i, call, where, got in cases
    ]


def _smooth_l1_errors() -> list[ErrorCase]:
    x, y = torch.randn(4), torch.randn(4)
    cases = [
        ("negative-beta", lambda: smooth_l1_loss(x, y, beta=-1.0), "smooth_l1_loss", "-1.0"),
        ("inf-beta", lambda: smooth_l1_loss(x, y, beta=math.inf), "smooth_l1_loss", "inf"),
        ("module-beta", lambda: SmoothL1Loss(beta=-0.5), "SmoothL1Loss", "-0.5"),
    ]
    return [
        ErrorCase(i, call, ValueError, f"{where}: beta must be a finite number >= 0, got {got}")
        for i, call, where, got in cases
    ]


def _quantile_errors() -> list[ErrorCase]:
    x, y = torch.randn(4), torch.randn(4)
    cases = [
        ("zero-quantile", lambda: quantile_loss(x, y, quantile=0.0), "quantile_loss", "0.0"),
        ("one-quantile", lambda: quantile_loss(x, y, quantile=1.0), "quantile_loss", "1.0"),
        ("percent-quantile", lambda: quantile_loss(x, y, quantile=90), "quantile_loss", "90"),
        ("module-quantile", lambda: QuantileLoss(quantile=1.5), "QuantileLoss", "1.5"),
    ]
    errors = [
        ErrorCase(i, call, ValueError, f"{where}: quantile must be in (0, 1), got {got}")
        for i, call, where, got in cases
    ]
    errors.append(
        ErrorCase(
            "tensor-quantile",
            lambda: quantile_loss(x, y, quantile=torch.tensor(0.5)),  # type: ignore[arg-type]
            TypeError,
            "quantile_loss: quantile must be a real number, got Tensor",
        )
    )
    return errors


def _spec(
    function: Function,
    module: Callable[..., Any],
    oracle: Function,
    options: tuple[Options, ...] = ({},),
    extra_errors: list[ErrorCase] | None = None,
    ids: tuple[str, ...] = ("default",),
) -> LossSpec:
    return LossSpec(
        function=function,
        module=module,
        oracle=oracle,
        make_inputs=_inputs,
        shapes=SHAPES,
        options=options,
        saturate=_saturate,
        perfect=_perfect,
        weights=_weights,
        errors=tuple(_common_errors(function, module) + (extra_errors or [])),
        low_precision_tol=LOW_PRECISION_TOL,
        ids=ids,
    )


MSE = _spec(mse_loss, MSELoss, oracles.mse)
L1 = _spec(l1_loss, L1Loss, oracles.l1)
HUBER = _spec(
    huber_loss,
    HuberLoss,
    oracles.huber,
    options=({"delta": 1.0}, {"delta": 0.5}, {"delta": 2.0}),
    extra_errors=_huber_errors(),
    ids=(),
)
SMOOTH_L1 = _spec(
    smooth_l1_loss,
    SmoothL1Loss,
    oracles.smooth_l1,
    options=({"beta": 1.0}, {"beta": 0.5}, {"beta": 2.0}, {"beta": 0.0}),
    extra_errors=_smooth_l1_errors(),
    ids=(),
)
LOG_COSH = _spec(log_cosh_loss, LogCoshLoss, oracles.log_cosh)
QUANTILE = _spec(
    quantile_loss,
    QuantileLoss,
    oracles.quantile,
    options=({"quantile": 0.5}, {"quantile": 0.1}, {"quantile": 0.9}, {"quantile": 0.25}),
    extra_errors=_quantile_errors(),
    ids=(),
)


class TestMSELoss(LossContract):
    spec = MSE


class TestL1Loss(LossContract):
    spec = L1


class TestHuberLoss(LossContract):
    spec = HUBER


class TestSmoothL1Loss(LossContract):
    spec = SMOOTH_L1


class TestLogCoshLoss(LossContract):
    spec = LOG_COSH


class TestQuantileLoss(LossContract):
    spec = QUANTILE


ALL_FUNCTIONS = (mse_loss, l1_loss, huber_loss, smooth_l1_loss, log_cosh_loss, quantile_loss)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _grads(value: Tensor, *wrt: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(value.sum(), wrt)


def test_make_inputs_stay_away_from_the_kinks() -> None:
    for seed in range(20):
        prediction, target = _inputs((256,), torch.float64, _seeded(seed))
        residual = (prediction - target).abs()
        for kink in KINKS:
            assert ((residual - kink).abs() >= KINK_GAP - 1e-9).all()


# --- identities with torch.nn, values and gradients (input and target) ------------------------

TORCH_TWINS = [
    pytest.param(mse_loss, F.mse_loss, {}, id="mse"),
    pytest.param(l1_loss, F.l1_loss, {}, id="l1"),
    *(
        pytest.param(huber_loss, F.huber_loss, {"delta": d}, id=f"huber-delta={d}")
        for d in (1.0, 0.5, 2.0, 3.7)
    ),
    *(
        pytest.param(smooth_l1_loss, F.smooth_l1_loss, {"beta": b}, id=f"smooth_l1-beta={b}")
        for b in (1.0, 0.5, 2.0, 0.0)
    ),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("ours", "theirs", "options"), TORCH_TWINS)
@pytest.mark.parametrize("shape", SHAPES, ids=["N", "NCHW"])
def test_identical_to_torch(
    ours: Function, theirs: Function, options: Options, reduction: str, shape: tuple[int, ...]
) -> None:
    x, y = _inputs(shape, torch.float64, _seeded(1))
    x.requires_grad_(True)
    y.requires_grad_(True)
    mine = ours(x, y, **options, reduction=reduction)
    reference = theirs(x, y, **options, reduction=reduction)
    torch.testing.assert_close(mine, reference)
    for g_mine, g_ref in zip(_grads(mine, x, y), _grads(reference, x, y), strict=True):
        torch.testing.assert_close(g_mine, g_ref)


@pytest.mark.parametrize(("ours", "theirs", "options"), TORCH_TWINS)
def test_identical_to_torch_at_the_kinks(
    ours: Function, theirs: Function, options: Options
) -> None:
    """At r = 0 and at |r| = δ or β exactly, the same (sub)gradient as torch."""
    kink = float(next(iter(options.values()), 1.0))
    residual = torch.tensor([0.0, kink, -kink, 0.5 * kink, 3.0 * kink + 1], dtype=torch.float64)
    y = torch.linspace(-1, 1, 5, dtype=torch.float64)
    x = (y + residual).requires_grad_(True)
    mine, reference = ours(x, y, **options), theirs(x, y, **options)
    torch.testing.assert_close(mine, reference)
    torch.testing.assert_close(_grads(mine, x)[0], _grads(reference, x)[0])


def test_l1_gradient_at_zero_is_zero_like_torch() -> None:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (grad,) = _grads(l1_loss(x, torch.tensor([1.0, 0.0, 4.0]), reduction="sum"), x)
    assert grad.tolist() == [0.0, 1.0, -1.0]


# --- identities between our losses ------------------------------------------------------------


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.0, 5.0])
def test_huber_is_delta_times_smooth_l1_with_beta_delta(delta: float) -> None:
    x, y = _inputs((200,), torch.float64, _seeded(2))
    x = 2 * x
    x.requires_grad_(True)
    huber = huber_loss(x, y, delta=delta, reduction="none")
    smooth = smooth_l1_loss(x, y, beta=delta, reduction="none")
    torch.testing.assert_close(huber, delta * smooth)
    torch.testing.assert_close(_grads(huber, x)[0], _grads(delta * smooth, x)[0])


def test_huber_and_smooth_l1_agree_only_at_one() -> None:
    x = torch.tensor([0.0, 0.5, 1.5, 3.0, -4.0])
    y = torch.zeros(5)
    torch.testing.assert_close(
        huber_loss(x, y, delta=1.0, reduction="none"),
        smooth_l1_loss(x, y, beta=1.0, reduction="none"),
    )
    two = huber_loss(x, y, delta=2.0, reduction="none")
    smooth_two = smooth_l1_loss(x, y, beta=2.0, reduction="none")
    assert two.tolist() == [0.0, 0.125, 1.125, 4.0, 6.0]
    assert smooth_two.tolist() == [0.0, 0.0625, 0.5625, 2.0, 3.0]
    torch.testing.assert_close(two, 2 * smooth_two)
    half = huber_loss(x, y, delta=0.5, reduction="none")
    assert not torch.allclose(half[1:], smooth_l1_loss(x, y, beta=0.5, reduction="none")[1:])


def test_smooth_l1_with_beta_zero_is_l1() -> None:
    x, y = _inputs((50,), torch.float64, _seeded(3))
    x.requires_grad_(True)
    smooth, l1 = smooth_l1_loss(x, y, beta=0.0), l1_loss(x, y)
    torch.testing.assert_close(smooth, l1)
    torch.testing.assert_close(_grads(smooth, x)[0], _grads(l1, x)[0])


def test_quantile_one_half_is_half_l1_including_gradients() -> None:
    x, y = _inputs((50,), torch.float64, _seeded(4))
    x = torch.cat([x, y[:5]]).requires_grad_(True)  # five perfect predictions: r = 0
    y = torch.cat([y, y[:5]])
    for reduction in TYPED_REDUCTIONS:
        pinball = quantile_loss(x, y, quantile=0.5, reduction=reduction)
        half_l1 = 0.5 * l1_loss(x, y, reduction=reduction)
        torch.testing.assert_close(pinball, half_l1)
        torch.testing.assert_close(_grads(pinball, x)[0], _grads(half_l1, x)[0])


def test_quantile_sign_convention_under_prediction_costs_q() -> None:
    under = quantile_loss(torch.tensor([0.0]), torch.tensor([1.0]), quantile=0.9)
    over = quantile_loss(torch.tensor([1.0]), torch.tensor([0.0]), quantile=0.9)
    torch.testing.assert_close(under, torch.tensor(0.9))
    torch.testing.assert_close(over, torch.tensor(0.1))


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 0.9])
def test_quantile_at_a_perfect_prediction_is_zero_with_gradient_zero(q: float) -> None:
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    value = quantile_loss(x, torch.zeros(3, dtype=torch.float64), quantile=q, reduction="none")
    (grad,) = _grads(value, x)
    assert grad.tolist() == [0.0, 0.0, 0.0]
    assert all(math.copysign(1.0, v) == 1.0 for v in value.tolist())  # +0.0, not -0.0


def test_log_cosh_is_between_its_asymptotes_and_below_huber() -> None:
    r = torch.linspace(-30, 30, 6001, dtype=torch.float64)
    zero = torch.zeros_like(r)
    value = log_cosh_loss(r, zero, reduction="none")
    assert (value <= r * r / 2 + 1e-15).all()
    assert (value >= r.abs() - math.log(2) - 1e-15).all()
    assert (value <= huber_loss(r, zero, delta=1.0, reduction="none") + 1e-15).all()
    torch.testing.assert_close(value, torch.log(torch.cosh(r)))


# --- the gradients the page states ------------------------------------------------------------


def test_gradient_formulas() -> None:
    x, y = _inputs((300,), torch.float64, _seeded(5))
    r = (x - y).detach()
    cases: list[tuple[Tensor, Tensor]] = []
    formulas: list[tuple[Function, Options, Tensor]] = [
        (mse_loss, {}, 2 * r),
        (l1_loss, {}, torch.sign(r)),
        (huber_loss, {"delta": 0.5}, r.clamp(-0.5, 0.5)),
        (smooth_l1_loss, {"beta": 2.0}, (r / 2.0).clamp(-1, 1)),
        (log_cosh_loss, {}, torch.tanh(r)),
        (quantile_loss, {"quantile": 0.9}, torch.where(r < 0, -0.9, 0.1)),
    ]
    for function, options, expected in formulas:
        xg = x.detach().clone().requires_grad_(True)
        (grad,) = _grads(function(xg, y, **options, reduction="sum"), xg)
        cases.append((grad, expected.to(torch.float64)))
    for grad, expected in cases:
        torch.testing.assert_close(grad, expected)


# --- the pitfalls the page shows --------------------------------------------------------------


def test_torch_broadcasts_n1_against_n_with_only_a_warning() -> None:
    prediction = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    with pytest.warns(UserWarning, match="Using a target size"):
        wrong = F.mse_loss(prediction, target)
    assert wrong.item() == 2.5  # a perfect prediction, scored over all 16 pairs
    assert mse_loss(prediction.squeeze(1), target).item() == 0.0
    for function in ALL_FUNCTIONS:
        with pytest.raises(ValueError, match=r"target must have the shape of input \(4, 1\)"):
            function(prediction, target)


def _minimiser(function: Function, sample: Tensor, grid: Tensor, **options: float) -> float:
    """The constant prediction c on `grid` with the smallest mean loss over `sample`."""
    predictions = grid[:, None].expand(-1, len(sample))
    losses = function(predictions, sample.expand_as(predictions), **options, reduction="none")
    return float(grid[losses.mean(dim=1).argmin()])


def test_mean_minimiser_is_the_mean_median_minimiser_the_median() -> None:
    sample = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0], dtype=torch.float64)
    grid = torch.arange(0, 110_001, dtype=torch.float64) / 1000  # 0 to 110 in steps of 0.001
    assert _minimiser(mse_loss, sample, grid) == 22.0  # the mean, dragged by the outlier
    assert _minimiser(l1_loss, sample, grid) == 3.0  # the median
    assert _minimiser(huber_loss, sample, grid) == 3.0  # Σ clip(c - y, ±1) = 0 at c = 3
    assert _minimiser(log_cosh_loss, sample, grid) == 3.019  # Σ tanh(c - y) = 0: near the median


def test_pinball_minimiser_is_the_sample_quantile() -> None:
    sample = torch.arange(1.0, 12.0, dtype=torch.float64)  # 1, 2, ..., 11
    grid = torch.arange(0, 1201, dtype=torch.float64) / 100  # 0 to 12 in steps of 0.01
    for q, expected in ((0.1, 2.0), (0.5, 6.0), (0.9, 10.0)):
        assert _minimiser(quantile_loss, sample, grid, quantile=q) == expected
        assert torch.quantile(sample, q, interpolation="higher").item() == expected


# --- numerics -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_log_cosh_at_residual_1000(dtype: torch.dtype) -> None:
    x = torch.tensor([1000.0, -1000.0, 0.5], dtype=dtype, requires_grad=True)
    y = torch.zeros(3, dtype=dtype)
    value = log_cosh_loss(x, y, reduction="none")
    (grad,) = _grads(value, x)
    assert value.dtype == dtype
    assert grad.dtype == dtype
    assert torch.isfinite(value).all()
    assert torch.isfinite(grad).all()
    expected = torch.tensor([1000 - math.log(2), 1000 - math.log(2), math.log(math.cosh(0.5))])
    torch.testing.assert_close(value.float(), expected.to(dtype).float())
    torch.testing.assert_close(
        grad.float(), torch.tensor([1.0, -1.0, math.tanh(0.5)]).to(dtype).float()
    )
    for reduction in ("mean", "sum"):
        xr = x.detach().clone().requires_grad_(True)
        reduced = log_cosh_loss(xr, y, reduction=reduction)
        assert torch.isfinite(reduced)
        assert torch.isfinite(_grads(reduced, xr)[0]).all()


def test_naive_log_cosh_overflows_where_ours_does_not() -> None:
    x = torch.tensor([100.0], requires_grad=True)
    naive = torch.log(torch.cosh(x))
    (naive_grad,) = _grads(naive, x)
    assert naive.item() == math.inf
    assert math.isnan(naive_grad.item())
    (grad,) = _grads(log_cosh_loss(x, torch.zeros(1)), x)
    assert grad.item() == 1.0


def test_log_cosh_keeps_relative_precision_near_zero() -> None:
    r = torch.tensor([1e-1, 1e-2, 1e-3, 1e-4, 1e-6, -1e-3])
    # log cosh r = r²/2 − r⁴/12 + r⁶/45 − 17 r⁸/2520 + …: in float64, log(cosh(1e-6)) itself
    # has only 3 correct digits (cosh(1e-6) = 1 + 5e-13 is rounded to 2.2e-16).
    s = r.double() ** 2
    exact = s / 2 - s**2 / 12 + s**3 / 45 - 17 * s**4 / 2520
    ours = log_cosh_loss(r, torch.zeros_like(r), reduction="none")
    torch.testing.assert_close(ours.double(), exact, rtol=1e-6, atol=0)
    size = r.abs()
    textbook = size + F.softplus(-2 * size) - math.log(2)  # in float32: cancels near 0
    assert textbook[3].item() == 0.0  # log cosh(1e-4) = 5e-9, entirely lost
    assert abs(textbook[2].item() / exact[2].item() - 1) > 0.01


def test_float16_residual_computed_in_float32() -> None:
    x = torch.tensor([60000.0, 0.0], dtype=torch.float16)
    y = torch.tensor([-60000.0, 0.0], dtype=torch.float16)
    # x - y = 120000 overflows float16; the mean 60000 does not.
    assert l1_loss(x, y).item() == 60000.0
    assert torch.isinf(F.l1_loss(x, y, reduction="none")[0])


def test_target_dtype_follows_input() -> None:
    x, y = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0], dtype=torch.float64)
    assert mse_loss(x, y).dtype == torch.float32
    assert mse_loss(x, y).item() == 2.5


# --- weights and reductions -----------------------------------------------------------------


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_weighted_mean_is_sum_w_l_over_sum_w(function: Function) -> None:
    x, y = _inputs((2, 3, 4, 5), torch.float64, _seeded(6))
    w = torch.rand(x.shape, generator=_seeded(7), dtype=torch.float64)
    unweighted = function(x, y, reduction="none")
    torch.testing.assert_close(function(x, y, weight=w, reduction="none"), w * unweighted)
    torch.testing.assert_close(function(x, y, weight=w), (w * unweighted).sum() / w.sum())
    # Integer weights are repetitions: weight 2 counts an element twice.
    counts = torch.randint(0, 3, (8,), generator=_seeded(8)).double()
    xs, ys = x.flatten()[:8], y.flatten()[:8]
    repeated = counts.long()
    torch.testing.assert_close(
        function(xs, ys, weight=counts),
        function(xs.repeat_interleave(repeated), ys.repeat_interleave(repeated)),
    )


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_all_zero_weights_and_empty_batch_give_zero(function: Function) -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.zeros(2)
    value = function(x, y, weight=torch.zeros(2))
    assert value.item() == 0.0
    assert _grads(value, x)[0].tolist() == [0.0, 0.0]
    empty = torch.zeros(0, requires_grad=True)
    assert function(empty, torch.zeros(0)).item() == 0.0  # torch.nn.functional gives NaN
    assert function(empty, torch.zeros(0), reduction="sum").item() == 0.0


def test_modules_store_weight_as_buffer_and_repr() -> None:
    weight = torch.tensor([1.0, 2.0])
    for module in (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, LogCoshLoss, QuantileLoss):
        criterion = module(weight=weight)
        assert "weight" in dict(criterion.named_buffers())
        assert criterion.to(torch.float64).weight.dtype == torch.float64
    assert repr(HuberLoss(delta=2.0)) == "HuberLoss(delta=2.0, reduction='mean')"
    assert repr(SmoothL1Loss(beta=0)) == "SmoothL1Loss(beta=0.0, reduction='mean')"
    assert repr(QuantileLoss(quantile=0.9, reduction="sum")) == (
        "QuantileLoss(quantile=0.9, reduction='sum')"
    )
    assert repr(MSELoss()) == "MSELoss(reduction='mean')"


def test_no_warning_from_our_losses() -> None:
    x, y = _inputs((6,), torch.float32, _seeded(9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for function in ALL_FUNCTIONS:
            function(x, y)
