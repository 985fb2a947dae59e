"""Poisson and Gaussian NLL: the shared contract, parity with torch, the page's claims."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import Reduction, value_checks
from deeplossdive.functional import gaussian_nll_loss, poisson_nll_loss
from deeplossdive.nn import GaussianNLLLoss, PoissonNLLLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec, Options
from tests.inputs import LOW_PRECISION_TOL
from tests.oracles import probabilistic_regression as oracles
from tests.syncs import NoSync

SHAPES = ((8,), (2, 3, 4, 5))
TYPED_REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _counts(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    """Poisson counts of rates between 0.2 and 7: zeros, ones and larger counts."""
    rate = torch.exp(2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1.5) * 1.5
    return torch.poisson(rate, generator=gen)


def _log_rate_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    log_rate = torch.randn(shape, generator=gen, dtype=torch.float64)
    return log_rate.to(dtype), _counts(shape, gen).to(dtype)


def _rate_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    log_rate, counts = _log_rate_inputs(shape, torch.float64, gen)
    return log_rate.exp().to(dtype), counts.to(dtype)


def _saturate_log_rate(inputs: Inputs) -> Inputs:
    """Log-rates of -100 and +10: e^100 overflows float32 itself (its largest value is e^88.7),
    in torch too, and e^11.1 float16; +10 is float16's natural extreme (a rate of 22026)."""
    log_rate, counts = inputs
    saturated = torch.where(log_rate > 0, 10.0, -100.0).to(log_rate.dtype)
    saturated.view(-1)[0] = 10.0
    saturated.view(-1)[1] = -100.0
    return saturated, counts


def _saturate_rate(inputs: Inputs) -> Inputs:
    """Rates of 100 and 0.01 (a rate near 0 costs -y log(x + eps) and pulls with y / x)."""
    rate, counts = inputs
    saturated = torch.where(rate > 1, 100.0, 0.01).to(rate.dtype)
    saturated.view(-1)[0] = 100.0
    saturated.view(-1)[1] = 0.01
    return saturated, counts


def _gaussian_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    target = torch.randn(shape, generator=gen, dtype=torch.float64)
    mean = target + torch.randn(shape, generator=gen, dtype=torch.float64)
    var = 0.5 + 1.5 * torch.rand(shape, generator=gen, dtype=torch.float64)
    return mean.to(dtype), target.to(dtype), var.to(dtype)


def _saturate_gaussian(inputs: Inputs) -> Inputs:
    mean, target, var = inputs
    saturated = torch.where(mean > 0, 100.0, -100.0).to(mean.dtype)
    saturated.view(-1)[0] = 100.0
    saturated.view(-1)[1] = -100.0
    return saturated, target, var


def _poisson_errors() -> list[ErrorCase]:
    fn, x, y = "poisson_nll_loss", torch.randn(4), torch.ones(4)
    return [
        ErrorCase(
            "int-input",
            lambda: poisson_nll_loss(torch.arange(4), y),
            TypeError,
            f"{fn}: input must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-target",
            lambda: poisson_nll_loss(x, torch.arange(4)),
            TypeError,
            f"{fn}: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: poisson_nll_loss(x.tolist(), y),  # type: ignore[arg-type]
            TypeError,
            f"{fn}: input must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "input-N1-target-N",
            lambda: poisson_nll_loss(x.view(4, 1), y),
            ValueError,
            f"{fn}: target must have the shape of input (4, 1), got (4,)",
        ),
        ErrorCase(
            "negative-eps",
            lambda: poisson_nll_loss(x, y, eps=-1e-8),
            ValueError,
            f"{fn}: eps must be a finite number >= 0, got -1e-08",
        ),
        ErrorCase(
            "module-eps",
            lambda: PoissonNLLLoss(eps=math.inf),
            ValueError,
            "PoissonNLLLoss: eps must be a finite number >= 0, got inf",
        ),
        ErrorCase(
            "negative-count",
            lambda: poisson_nll_loss(x, torch.tensor([1.0, -2.0, 0.0, 3.0])),
            ValueError,
            f"{fn}: target must hold finite values >= 0, got -2.0",
        ),
    ]


def _poisson_rate_errors() -> list[ErrorCase]:
    fn, y = "poisson_nll_loss", torch.ones(4)
    return [
        ErrorCase(
            "negative-rate",
            lambda: poisson_nll_loss(torch.tensor([1.0, -0.5, 0.0, 2.0]), y, log_input=False),
            ValueError,
            f"{fn}: input must hold finite values >= 0, got -0.5",
        ),
        ErrorCase(
            "infinite-rate",
            lambda: poisson_nll_loss(torch.tensor([1.0, math.inf, 0, 0]), y, log_input=False),
            ValueError,
            f"{fn}: input must hold finite values >= 0, got inf",
        ),
        ErrorCase(
            "nan-eps",
            lambda: poisson_nll_loss(y, y, log_input=False, eps=math.nan),
            ValueError,
            f"{fn}: eps must be a finite number >= 0, got nan",
        ),
    ]


def _gaussian_errors() -> list[ErrorCase]:
    fn, x, y, v = "gaussian_nll_loss", torch.randn(2, 3), torch.randn(2, 3), torch.ones(2, 3)
    wrong = "that shape with one dimension of size 1, or without its last dimension"
    return [
        ErrorCase(
            "int-input",
            lambda: gaussian_nll_loss(torch.ones(2, 3, dtype=torch.long), y, v),
            TypeError,
            f"{fn}: input must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-var",
            lambda: gaussian_nll_loss(x, y, torch.ones(2, 3, dtype=torch.long)),
            TypeError,
            f"{fn}: var must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-var",
            lambda: gaussian_nll_loss(x, y, 1.0),  # type: ignore[arg-type]
            TypeError,
            f"{fn}: var must be a torch.Tensor, got float",
        ),
        ErrorCase(
            "target-shape",
            lambda: gaussian_nll_loss(x, y[:, :1], v),
            ValueError,
            f"{fn}: target must have the shape of input (2, 3), got (2, 1)",
        ),
        ErrorCase(
            "var-shape",
            lambda: gaussian_nll_loss(x, y, torch.ones(3)),
            ValueError,
            f"{fn}: var must have the shape of input (2, 3), {wrong}, got (3,)",
        ),
        ErrorCase(
            "var-two-dims-of-one",
            lambda: gaussian_nll_loss(x.view(2, 3, 1), y.view(2, 3, 1), torch.ones(1, 1, 1)),
            ValueError,
            f"{fn}: var must have the shape of input (2, 3, 1), {wrong}, got (1, 1, 1)",
        ),
        ErrorCase(
            "zero-eps",
            lambda: gaussian_nll_loss(x, y, v, eps=0.0),
            ValueError,
            f"{fn}: eps must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "beta-above-one",
            lambda: gaussian_nll_loss(x, y, v, beta=1.5),
            ValueError,
            f"{fn}: beta must be in [0, 1], got 1.5",
        ),
        ErrorCase(
            "module-beta",
            lambda: GaussianNLLLoss(beta=-0.5),
            ValueError,
            "GaussianNLLLoss: beta must be in [0, 1], got -0.5",
        ),
        ErrorCase(
            "module-eps",
            lambda: GaussianNLLLoss(eps=-1.0),
            ValueError,
            "GaussianNLLLoss: eps must be a finite number > 0, got -1.0",
        ),
        ErrorCase(
            "negative-var",
            lambda: gaussian_nll_loss(x, y, torch.tensor([[1.0, 2.0, -0.25], [1.0, 1.0, 1.0]])),
            ValueError,
            f"{fn}: var must hold finite values >= 0, got -0.25",
        ),
        ErrorCase(
            "nan-var",
            lambda: gaussian_nll_loss(x, y, torch.full((2, 3), math.nan)),
            ValueError,
            f"{fn}: var must hold finite values >= 0, got nan",
        ),
    ]


POISSON_LOG_RATE = LossSpec(
    function=poisson_nll_loss,
    module=PoissonNLLLoss,
    oracle=oracles.poisson_nll,
    make_inputs=_log_rate_inputs,
    shapes=SHAPES,
    options=({}, {"full": True}),
    saturate=_saturate_log_rate,
    errors=tuple(_poisson_errors()),
    low_precision_tol=LOW_PRECISION_TOL,
    non_negative=False,  # λ - y log λ without log y! is negative below y = e (λ = y = 4: -1.55)
    ids=("log_input", "log_input,full"),
)

POISSON_RATE = LossSpec(
    function=poisson_nll_loss,
    module=PoissonNLLLoss,
    oracle=oracles.poisson_nll,
    make_inputs=_rate_inputs,
    shapes=SHAPES,
    options=(
        {"log_input": False},
        {"log_input": False, "full": True},
        {"log_input": False, "eps": 0.0},
        {"log_input": False, "eps": 0.5},
    ),
    saturate=_saturate_rate,
    errors=tuple(_poisson_rate_errors()),
    low_precision_tol=LOW_PRECISION_TOL,
    non_negative=False,
    ids=("rate", "rate,full", "rate,eps=0", "rate,eps=0.5"),
)

GAUSSIAN = LossSpec(
    function=gaussian_nll_loss,
    module=GaussianNLLLoss,
    oracle=oracles.gaussian_nll,
    make_inputs=_gaussian_inputs,
    shapes=SHAPES,
    options=({}, {"full": True}, {"beta": 0.5}, {"beta": 1.0, "full": True}, {"eps": 0.7}),
    saturate=_saturate_gaussian,
    errors=tuple(_gaussian_errors()),
    low_precision_tol=LOW_PRECISION_TOL,
    non_negative=False,  # ½ log v < 0 for v < 1
    ids=("default", "full", "beta=0.5", "beta=1,full", "eps=0.7 (clamps)"),
)


class TestPoissonNLLLossLogRate(LossContract):
    spec = POISSON_LOG_RATE


class TestPoissonNLLLossRate(LossContract):
    spec = POISSON_RATE


class TestGaussianNLLLoss(LossContract):
    spec = GAUSSIAN


# --- parity with torch, float64, values and gradients, every reduction ----------------------


def _grads(value: Tensor, *wrt: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(value.sum(), wrt)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=["N", "NCHW"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"full": True},
        {"log_input": False},
        {"log_input": False, "full": True},
        {"log_input": False, "eps": 0.25},
    ],
    ids=["log", "log,full", "rate", "rate,full", "rate,eps"],
)
def test_poisson_identical_to_torch(
    options: Options, shape: tuple[int, ...], reduction: Any
) -> None:
    make = _log_rate_inputs if options.get("log_input", True) else _rate_inputs
    x, y = make(shape, torch.float64, _seeded(1))
    # torch's Stirling term has a NaN gradient with respect to a target of 0 (0 · log 0): the
    # target gradient is compared where torch's is defined, ours is finite everywhere.
    x.requires_grad_(True)
    y.requires_grad_(True)
    ours = poisson_nll_loss(x, y, **options, reduction=reduction)
    theirs = F.poisson_nll_loss(x, y, **options, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    (ours_x, ours_y), (theirs_x, theirs_y) = _grads(ours, x, y), _grads(theirs, x, y)
    torch.testing.assert_close(ours_x, theirs_x)
    defined = torch.isfinite(theirs_y)
    assert torch.isfinite(ours_y).all()
    torch.testing.assert_close(ours_y[defined], theirs_y[defined])
    if not options.get("full"):
        assert defined.all()


GAUSSIAN_OPTIONS = [{}, {"full": True}, {"eps": 0.7}]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "var_shape",
    [None, (2, 3, 4, 1), (2, 3, 4), (2, 1, 4, 5), (1, 3, 4, 5)],
    ids=["same", "last-1", "last-missing", "dim1-1", "dim0-1"],
)
@pytest.mark.parametrize("options", GAUSSIAN_OPTIONS, ids=["default", "full", "eps=0.7"])
def test_gaussian_identical_to_torch(
    options: Options, var_shape: tuple[int, ...] | None, reduction: Any
) -> None:
    mean, target, var = _gaussian_inputs((2, 3, 4, 5), torch.float64, _seeded(2))
    if var_shape is not None:
        var = 0.5 + torch.rand(var_shape, generator=_seeded(3), dtype=torch.float64)
    var = var.clone()
    var.view(-1)[0] = 1e-9  # below eps: clamped
    tensors = (mean.requires_grad_(), target.requires_grad_(), var.requires_grad_())
    ours = gaussian_nll_loss(*tensors, **options, reduction=reduction)
    theirs = F.gaussian_nll_loss(*tensors, **options, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    for mine, reference in zip(_grads(ours, *tensors), _grads(theirs, *tensors), strict=True):
        torch.testing.assert_close(mine, reference)


def test_gaussian_oracle_takes_the_homoscedastic_shapes() -> None:
    mean, target, _ = _gaussian_inputs((3, 4), torch.float64, _seeded(4))
    for var in (torch.full((3, 1), 0.8, dtype=torch.float64), torch.full((3,), 0.8).double()):
        for reduction in TYPED_REDUCTIONS:
            torch.testing.assert_close(
                gaussian_nll_loss(mean, target, var, reduction=reduction),
                oracles.gaussian_nll(mean, target, var, reduction=reduction),
            )


# --- what the docstrings and the page state ---------------------------------------------------


def test_eps_clamps_the_variance_and_is_invisible_to_autograd() -> None:
    mean = torch.tensor([1.0], dtype=torch.float64)
    target = torch.zeros(1, dtype=torch.float64)
    var = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    value = gaussian_nll_loss(mean, target, var, eps=1e-2)
    torch.testing.assert_close(value, torch.tensor(0.5 * (math.log(1e-2) + 1 / 1e-2)).double())
    # d/dv of ½(log v + r²/v) at v = 0.01 (the clamped value), as if v were not clamped.
    (grad,) = _grads(value, var)
    torch.testing.assert_close(grad, torch.tensor([0.5 * (1 / 1e-2 - 1 / 1e-4)]).double())


def test_beta_one_gives_the_mean_the_gradient_of_the_squared_error() -> None:
    mean, target, var = _gaussian_inputs((50,), torch.float64, _seeded(5))
    var = var * 20  # large variances: the β = 0 gradient (μ - y) / v nearly vanishes
    for beta, expected in ((0.0, (mean - target) / var), (1.0, mean - target)):
        m = mean.clone().requires_grad_()
        (grad,) = _grads(gaussian_nll_loss(m, target, var, beta=beta, reduction="sum"), m)
        torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("beta", [0.25, 0.5, 1.0])
def test_beta_weights_both_gradients_by_the_stopped_variance(beta: float) -> None:
    mean, target, var = _gaussian_inputs((40,), torch.float64, _seeded(6))
    tensors = (mean.requires_grad_(), target, var.requires_grad_())
    plain = _grads(gaussian_nll_loss(*tensors, reduction="none"), tensors[0], tensors[2])
    weighted = _grads(
        gaussian_nll_loss(*tensors, beta=beta, reduction="none"), tensors[0], tensors[2]
    )
    for p, w in zip(plain, weighted, strict=True):
        torch.testing.assert_close(w, p * var.detach() ** beta)


def test_poisson_minimiser_is_the_count() -> None:
    counts = torch.tensor([0.5, 1.0, 3.0, 10.0], dtype=torch.float64)
    log_rate = counts.log().requires_grad_()
    (grad,) = _grads(poisson_nll_loss(log_rate, counts, reduction="sum"), log_rate)
    torch.testing.assert_close(grad, torch.zeros(4, dtype=torch.float64))


def test_poisson_full_is_the_exact_nll_up_to_stirling() -> None:
    counts = torch.tensor([0.0, 1.0, 2.0, 5.0, 20.0], dtype=torch.float64)
    rate = torch.full_like(counts, 3.0)
    exact = rate - counts * rate.log() + torch.lgamma(counts + 1)
    full = poisson_nll_loss(rate.log(), counts, full=True, reduction="none")
    # Exact for 0 and 1; Stirling's error 1/(12y) for the others.
    torch.testing.assert_close(full[:2], exact[:2])
    assert ((full[2:] - exact[2:]).abs() < 1 / (12 * counts[2:])).all()


def test_empty_mean_is_zero_where_torch_gives_nan() -> None:
    empty = torch.zeros(0)
    assert poisson_nll_loss(empty, empty).item() == 0.0
    assert gaussian_nll_loss(empty, empty, empty).item() == 0.0
    assert math.isnan(F.poisson_nll_loss(empty, empty).item())


def test_modules_repr() -> None:
    assert repr(PoissonNLLLoss()) == (
        "PoissonNLLLoss(log_input=True, full=False, eps=1e-08, reduction='mean')"
    )
    assert repr(GaussianNLLLoss(beta=0.5)) == (
        "GaussianNLLLoss(full=False, eps=1e-06, beta=0.5, reduction='mean')"
    )


# --- no host sync on the default path (value checks off, as on CUDA) --------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_no_host_sync_with_value_checks_off(reduction: Any) -> None:
    x, y = _log_rate_inputs((4, 5), torch.float32, _seeded(7))
    mean, target, var = _gaussian_inputs((4, 5), torch.float32, _seeded(8))
    x.requires_grad_()
    mean.requires_grad_()
    calls: list[Callable[[], Tensor]] = [
        lambda: poisson_nll_loss(x, y, full=True, reduction=reduction),
        lambda: poisson_nll_loss(x.exp(), y, log_input=False, reduction=reduction),
        lambda: gaussian_nll_loss(mean, target, var, beta=0.5, reduction=reduction),
        lambda: gaussian_nll_loss(mean, target, var[:, :1], full=True, reduction=reduction),
    ]
    with value_checks(False):
        for call in calls:
            with NoSync():
                value = call()
                torch.autograd.grad(value.sum(), (x, mean), allow_unused=True)
            assert torch.isfinite(value).all()
