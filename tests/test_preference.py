"""DPO (sigmoid, IPO, hinge), SimPO and sequence_log_probs: the shared contract, parity with TRL's
and the SimPO authors' formulas (transcribed in tests/oracles/preference.py), the helper's own
contract (oracle, shift, gradients, precision, no sync), and the page's claims."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from deeplossdive._about import ABOUT, HELPERS
from deeplossdive._validation import _as_on_an_accelerator
from deeplossdive.functional import dpo_loss, sequence_log_probs, simpo_loss
from deeplossdive.nn import DPOLoss, SimPOLoss
from tests.harness import DEVICES, REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.inputs import LOW_PRECISION_TOL
from tests.oracles import preference as oracles
from tests.syncs import NoSync, cuda_sync_errors

SHAPES = ((8,), (2, 3))
BETAS = (0.1, 0.5)
NO_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
ON_DEVICES = pytest.mark.parametrize(
    "device", [pytest.param(d, marks=NO_GPU if d == "cuda" else ()) for d in DEVICES]
)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- dpo_loss ---------------------------------------------------------------------------------


def _margin(inputs: Inputs) -> Tensor:
    pc, pr, rc, rr = inputs
    return (pc - pr) - (rc - rr)


def _dpo_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Summed log-probabilities around -30 (the reference) and policy log-ratios of a few nats;
    the margin h kept away from the hinge's kinks h = 1/β."""
    rc = -30 + 8 * torch.randn(shape, generator=gen, dtype=torch.float64)
    rr = -30 + 8 * torch.randn(shape, generator=gen, dtype=torch.float64)
    pc = rc + 3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    pr = rr + 3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    for kink in sorted(1 / beta for beta in BETAS):  # ascending: a nudge never lands on the next
        near = (_margin((pc, pr, rc, rr)) - kink).abs() < 0.05 * kink
        pc = torch.where(near, pc + 0.1 * kink, pc)
    return tuple(t.to(dtype) for t in (pc, pr, rc, rr))


def _dpo_saturate(inputs: Inputs) -> Inputs:
    """Margins h = ±100: the policy's chosen log-probability ±100, the others 0."""
    pc, pr, rc, rr = inputs
    saturated = torch.where(pc > pc.median(), 100.0, -100.0).to(pc.dtype)
    saturated.view(-1)[0], saturated.view(-1)[1] = 100.0, -100.0
    return saturated, torch.zeros_like(pr), torch.zeros_like(rc), torch.zeros_like(rr)


def _dpo_perfect_at(h: float) -> Callable[[Inputs], Inputs]:
    def perfect(inputs: Inputs) -> Inputs:
        _, pr, rc, rr = inputs
        return pr + (rc - rr) + h, pr, rc, rr

    return perfect


def _dpo_errors() -> tuple[ErrorCase, ...]:
    fn = "dpo_loss"
    a = torch.randn(4)
    return (
        ErrorCase(
            "int-policy-chosen",
            lambda: dpo_loss(a.long(), a, a, a),
            TypeError,
            f"{fn}: policy_chosen_logps must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-reference-rejected",
            lambda: dpo_loss(a, a, a, a.long()),
            TypeError,
            f"{fn}: reference_rejected_logps must be a floating-point tensor, got dtype "
            "torch.int64",
        ),
        ErrorCase(
            "shape",
            lambda: dpo_loss(a, a, a.view(4, 1), a),
            ValueError,
            f"{fn}: reference_chosen_logps must have the shape of policy_chosen_logps (4,), "
            "got (4, 1)",
        ),
        ErrorCase(
            "zero-beta",
            lambda: dpo_loss(a, a, a, a, beta=0.0),
            ValueError,
            f"{fn}: beta must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "smoothing",
            lambda: dpo_loss(a, a, a, a, label_smoothing=0.6),
            ValueError,
            f"{fn}: label_smoothing must be in [0, 0.5], got 0.6",
        ),
        ErrorCase(
            "smoothing-ipo",
            lambda: dpo_loss(a, a, a, a, loss_type="ipo", label_smoothing=0.1),
            ValueError,
            f"{fn}: label_smoothing must be 0 with loss_type='ipo', got 0.1",
        ),
        ErrorCase(
            "loss-type",
            lambda: dpo_loss(a, a, a, a, loss_type="kto"),  # type: ignore[arg-type]
            ValueError,
            f"{fn}: loss_type must be one of 'sigmoid', 'ipo', 'hinge', got 'kto'",
        ),
        ErrorCase(
            "module-beta",
            lambda: DPOLoss(beta=math.inf),
            ValueError,
            "DPOLoss: beta must be a finite number > 0, got inf",
        ),
        ErrorCase(
            "module-loss-type",
            lambda: DPOLoss(loss_type="sppo"),  # type: ignore[arg-type]
            ValueError,
            "DPOLoss: loss_type must be one of 'sigmoid', 'ipo', 'hinge', got 'sppo'",
        ),
        ErrorCase(
            "module-smoothing-hinge",
            lambda: DPOLoss(loss_type="hinge", label_smoothing=0.2),
            ValueError,
            "DPOLoss: label_smoothing must be 0 with loss_type='hinge', got 0.2",
        ),
    )


def _dpo_spec(
    options: tuple[dict[str, Any], ...],
    ids: tuple[str, ...],
    perfect: Callable[[Inputs], Inputs] | None,
) -> LossSpec:
    return LossSpec(
        function=dpo_loss,
        module=DPOLoss,
        oracle=oracles.dpo,
        make_inputs=_dpo_inputs,
        shapes=SHAPES,
        options=options,
        saturate=_dpo_saturate,
        perfect=perfect,
        errors=_dpo_errors(),
        low_precision_tol=LOW_PRECISION_TOL,
        ids=ids,
    )


# Where each loss type is 0 (or e^-100): βh ≥ 100 for the sigmoid and the hinge at every β of
# the specs; h = 1/(2β) for IPO (one β per spec, then).
DPO_SIGMOID = _dpo_spec(({}, {"beta": 0.5}), ("default", "beta=0.5"), _dpo_perfect_at(1000.0))
DPO_SMOOTHED = _dpo_spec(
    ({"label_smoothing": 0.1}, {"label_smoothing": 0.3, "beta": 0.5}, {"label_smoothing": 0.5}),
    ("eps=0.1", "eps=0.3,beta=0.5", "eps=0.5"),
    None,  # smallest at βh = log((1 - ε)/ε), where it is the binary entropy H(ε) > 0
)
DPO_IPO = _dpo_spec(({"loss_type": "ipo"},), ("ipo",), _dpo_perfect_at(5.0))
DPO_IPO_BETA = _dpo_spec(
    ({"loss_type": "ipo", "beta": 0.5},), ("ipo,beta=0.5",), _dpo_perfect_at(1.0)
)
DPO_HINGE = _dpo_spec(
    ({"loss_type": "hinge"}, {"loss_type": "hinge", "beta": 0.5}),
    ("hinge", "hinge,beta=0.5"),
    _dpo_perfect_at(1000.0),
)


class TestDPOLoss(LossContract):
    spec = DPO_SIGMOID


class TestDPOLossLabelSmoothing(LossContract):
    spec = DPO_SMOOTHED


class TestDPOLossIPO(LossContract):
    spec = DPO_IPO


class TestDPOLossIPOBeta(LossContract):
    spec = DPO_IPO_BETA


class TestDPOLossHinge(LossContract):
    spec = DPO_HINGE


# --- simpo_loss -------------------------------------------------------------------------------


def _simpo_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Mean log-probabilities per token, in [-3, 0)."""
    chosen = -3 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1e-3
    rejected = -3 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1e-3
    return chosen.to(dtype), rejected.to(dtype)


def _simpo_saturate(inputs: Inputs) -> Inputs:
    chosen, rejected = inputs
    saturated = torch.where(chosen > chosen.median(), 100.0, -100.0).to(chosen.dtype)
    saturated.view(-1)[0], saturated.view(-1)[1] = 100.0, -100.0
    return saturated, torch.zeros_like(rejected)


def _simpo_perfect(inputs: Inputs) -> Inputs:
    _, rejected = inputs
    return rejected + 100, rejected


def _simpo_errors() -> tuple[ErrorCase, ...]:
    fn = "simpo_loss"
    a = -torch.rand(4)
    return (
        ErrorCase(
            "int-chosen",
            lambda: simpo_loss(a.long(), a),
            TypeError,
            f"{fn}: chosen_logps must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "shape",
            lambda: simpo_loss(a, a[:2]),
            ValueError,
            f"{fn}: rejected_logps must have the shape of chosen_logps (4,), got (2,)",
        ),
        ErrorCase(
            "negative-beta",
            lambda: simpo_loss(a, a, beta=-2.0),
            ValueError,
            f"{fn}: beta must be a finite number > 0, got -2.0",
        ),
        ErrorCase(
            "negative-gamma",
            lambda: simpo_loss(a, a, gamma=-0.5),
            ValueError,
            f"{fn}: gamma must be a finite number >= 0, got -0.5",
        ),
        ErrorCase(
            "module-gamma",
            lambda: SimPOLoss(gamma=math.nan),
            ValueError,
            "SimPOLoss: gamma must be a finite number >= 0, got nan",
        ),
    )


SIMPO = LossSpec(
    function=simpo_loss,
    module=SimPOLoss,
    oracle=oracles.simpo,
    make_inputs=_simpo_inputs,
    shapes=SHAPES,
    options=({}, {"gamma": 0.0}, {"beta": 10.0, "gamma": 5.0}),
    saturate=_simpo_saturate,
    perfect=_simpo_perfect,
    errors=_simpo_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("default", "gamma=0", "beta=10,gamma=5"),
)


class TestSimPOLoss(LossContract):
    spec = SIMPO


# --- gradients with respect to all four (two) inputs, extremes --------------------------------

DPO_OPTIONS: tuple[dict[str, Any], ...] = (
    {},
    {"beta": 0.5, "label_smoothing": 0.2},
    {"loss_type": "ipo"},
    {"loss_type": "hinge", "beta": 0.5},
)


@ON_DEVICES
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", DPO_OPTIONS)
def test_dpo_gradcheck_every_input(options: dict[str, Any], reduction: Any, device: str) -> None:
    inputs = tuple(
        t.to(device).requires_grad_() for t in _dpo_inputs((6,), torch.float64, _seeded(1))
    )

    def loss(*logps: Tensor) -> Tensor:
        return dpo_loss(*logps, **options, reduction=reduction)

    assert torch.autograd.gradcheck(loss, inputs)


@ON_DEVICES
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_simpo_gradcheck_both_inputs(reduction: Any, device: str) -> None:
    inputs = tuple(
        t.to(device).requires_grad_() for t in _simpo_inputs((6,), torch.float64, _seeded(2))
    )
    assert torch.autograd.gradcheck(lambda c, r: simpo_loss(c, r, reduction=reduction), inputs)


@ON_DEVICES
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("options", DPO_OPTIONS)
def test_dpo_finite_at_extreme_log_probabilities(
    options: dict[str, Any], dtype: torch.dtype, device: str
) -> None:
    """Log-probabilities of -10 000 (long sequences) with margins of ±100 (±1000 in float32)."""
    big = 1000.0 if dtype == torch.float32 else 100.0
    pc = torch.tensor([-1e4 + big, -1e4 - big, -1e4, -50.0], device=device, dtype=dtype)
    rest = [torch.tensor([-1e4, -1e4, -1e4, -50.0], device=device, dtype=dtype) for _ in "abc"]
    inputs = [t.requires_grad_() for t in (pc, *rest)]
    value = dpo_loss(*inputs, **options)
    grads = torch.autograd.grad(value, inputs)
    assert value.dtype == dtype
    assert torch.isfinite(value)
    assert all(torch.isfinite(g).all() for g in grads)


def test_dpo_gradient_weight_is_sigma_of_minus_beta_h() -> None:
    """∂ℓ/∂π_c = −β σ(−βh), ∂ℓ/∂π_r = +β σ(−βh), and the reference's are their negatives."""
    inputs = [t.requires_grad_() for t in _dpo_inputs((16,), torch.float64, _seeded(3))]
    beta = 0.3
    grads = torch.autograd.grad(dpo_loss(*inputs, beta=beta, reduction="sum"), inputs)
    weight = beta * torch.sigmoid(-beta * _margin(tuple(t.detach() for t in inputs)))
    for grad, sign in zip(grads, (-1, 1, 1, -1), strict=True):
        torch.testing.assert_close(grad, sign * weight)


# --- parity with TRL and the SimPO authors' code ----------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5, 2.0])
@pytest.mark.parametrize(
    ("loss_type", "label_smoothing"),
    [
        ("sigmoid", 0.0),
        ("sigmoid", 0.1),
        ("sigmoid", 0.25),
        ("sigmoid", 0.5),
        ("ipo", 0.0),
        ("hinge", 0.0),
    ],
)
def test_dpo_matches_trl(
    loss_type: Any, label_smoothing: float, beta: float, reduction: Any
) -> None:
    """Ours equals TRL's `dpo_loss` (oracles.TRL_DPO), values and the four gradients."""
    inputs = [t.requires_grad_() for t in _dpo_inputs((64,), torch.float64, _seeded(4))]
    ours = dpo_loss(
        *inputs,
        beta=beta,
        label_smoothing=label_smoothing,
        loss_type=loss_type,
        reduction=reduction,
    )
    per_pair = oracles.trl_dpo_loss(
        *inputs, beta=beta, label_smoothing=label_smoothing, loss_type=loss_type
    )
    theirs = {"none": per_pair, "mean": per_pair.mean(), "sum": per_pair.sum()}[reduction]
    torch.testing.assert_close(ours, theirs)
    mine = torch.autograd.grad(ours.sum(), inputs)
    reference = torch.autograd.grad(theirs.sum(), inputs)
    for a, b in zip(mine, reference, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("beta", "gamma"), [(2.0, 0.5), (2.5, 1.375), (10.0, 3.0), (2.0, 0.0)])
def test_simpo_gamma_is_trls_simpo_gamma_and_beta_times_the_authors_ratio(
    beta: float, gamma: float
) -> None:
    """`gamma` = TRL's `simpo_gamma` (oracles.TRL_CPO) = β × the authors' `gamma_beta_ratio`
    (oracles.SIMPO_CODE); and not their ratio itself (unless γ = 0)."""
    chosen, rejected = (t.requires_grad_() for t in _simpo_inputs((64,), torch.float64, _seeded(5)))
    ours = simpo_loss(chosen, rejected, beta=beta, gamma=gamma, reduction="none")
    trl = oracles.trl_simpo_loss(chosen, rejected, beta=beta, simpo_gamma=gamma)
    authors = oracles.simpo_authors_loss(chosen, rejected, beta=beta, gamma_beta_ratio=gamma / beta)
    torch.testing.assert_close(ours, trl)
    torch.testing.assert_close(ours, authors)
    for theirs in (trl, authors):
        mine = torch.autograd.grad(ours.sum(), (chosen, rejected), retain_graph=True)
        reference = torch.autograd.grad(theirs.sum(), (chosen, rejected), retain_graph=True)
        for a, b in zip(mine, reference, strict=True):
            torch.testing.assert_close(a, b)
    if gamma:
        ratio_as_gamma = simpo_loss(chosen, rejected, beta=beta, gamma=gamma / beta)
        assert not torch.allclose(ratio_as_gamma, ours.mean())


def test_simpo_defaults_are_trls_and_the_authors() -> None:
    """β = 2, γ = 0.5: TRL's default `simpo_gamma` 0.5; the authors' defaults β = 2.0,
    `gamma_beta_ratio` = 0.25 (scripts/simpo_config.py at the commit of oracles.SIMPO_CODE)."""
    chosen, rejected = _simpo_inputs((32,), torch.float64, _seeded(6))
    torch.testing.assert_close(
        simpo_loss(chosen, rejected, reduction="none"),
        oracles.simpo_authors_loss(chosen, rejected, beta=2.0, gamma_beta_ratio=0.25),
    )


def test_simpo_is_reference_free_dpo_shifted_by_gamma() -> None:
    """With γ = 0, SimPO is DPO's sigmoid loss with β and zero reference log-probabilities."""
    chosen, rejected = _simpo_inputs((32,), torch.float64, _seeded(7))
    zero = torch.zeros_like(chosen)
    torch.testing.assert_close(
        simpo_loss(chosen, rejected, beta=2.0, gamma=0.0),
        dpo_loss(chosen, rejected, zero, zero, beta=2.0),
    )


# --- sequence_log_probs -----------------------------------------------------------------------


def _sequences(
    batch: int,
    length: int,
    vocabulary: int,
    dtype: torch.dtype,
    seed: int,
    ignore_index: int = -100,
) -> tuple[Tensor, Tensor]:
    """Logits and labels whose prompt (a random prefix) and padding (a random suffix) are
    ignored; the last row is ignored entirely."""
    gen = _seeded(seed)
    logits = 3 * torch.randn(batch, length, vocabulary, generator=gen, dtype=torch.float64)
    labels = torch.randint(vocabulary, (batch, length), generator=gen)
    prompt = torch.randint(0, max(length // 2, 1), (batch, 1), generator=gen)
    end = torch.randint(length // 2, length + 1, (batch, 1), generator=gen)
    position = torch.arange(length)
    labels = torch.where((position < prompt) | (position >= end), ignore_index, labels)
    labels[-1] = ignore_index
    return logits.to(dtype), labels


SEQUENCE_SHAPES = ((3, 6, 5), (4, 9, 11), (2, 1, 4), (2, 0, 3))


@ON_DEVICES
@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SEQUENCE_SHAPES, ids=str)
def test_sequence_log_probs_matches_the_loop_oracle(
    shape: tuple[int, int, int], dtype: torch.dtype, average: bool, device: str
) -> None:
    logits, labels = _sequences(*shape, dtype, seed=8)
    actual = sequence_log_probs(logits.to(device), labels.to(device), average=average)
    expected = oracles.sequence_log_probs(logits, labels, average=average)
    assert actual.dtype == dtype
    assert actual.shape == (shape[0],)
    torch.testing.assert_close(actual.cpu(), expected.to(dtype))
    assert (actual[-1] == 0).item()
    assert not torch.signbit(actual[-1]).item()


@ON_DEVICES
@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
def test_sequence_log_probs_ignore_index_may_be_a_token(average: bool, device: str) -> None:
    logits, labels = _sequences(3, 8, 5, torch.float64, seed=9, ignore_index=1)
    assert (labels == 1).any()
    actual = sequence_log_probs(
        logits.to(device), labels.to(device), ignore_index=1, average=average
    )
    expected = oracles.sequence_log_probs(logits, labels, ignore_index=1, average=average)
    torch.testing.assert_close(actual.cpu(), expected)


@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
def test_sequence_log_probs_matches_the_simpo_authors_get_batch_logps(average: bool) -> None:
    """The authors' (and TRL's 2024) `get_batch_logps`, oracles.SIMPO_CODE: equal wherever a
    sequence counts a token; theirs is NaN (0/0) for the mean of a sequence that counts none."""
    logits, labels = _sequences(4, 10, 7, torch.float64, seed=10)
    ours = sequence_log_probs(logits, labels, average=average)
    theirs = oracles.simpo_authors_batch_logps(logits, labels, average_log_prob=average)
    torch.testing.assert_close(ours[:-1], theirs[:-1])
    assert ours[-1].item() == 0.0
    assert math.isnan(theirs[-1].item()) if average else theirs[-1].item() == 0.0


def test_sequence_log_probs_without_the_shift_is_another_number() -> None:
    """The classic off-by-one: scoring labels[t] with logits[t] (no shift) is not the same."""
    logits, labels = _sequences(4, 10, 7, torch.float64, seed=11)
    right = sequence_log_probs(logits, labels)
    counted = labels != -100
    unshifted = torch.where(
        counted, logits.log_softmax(-1).gather(2, labels.clamp(min=0).unsqueeze(2)).squeeze(2), 0
    ).sum(1)
    assert (right[:-1] - unshifted[:-1]).abs().min() > 0.1


@ON_DEVICES
@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
def test_sequence_log_probs_gradcheck(average: bool, device: str) -> None:
    logits, labels = _sequences(3, 5, 4, torch.float64, seed=12)
    logits = logits.to(device).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: sequence_log_probs(x, labels.to(device), average=average), (logits,)
    )


@ON_DEVICES
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_sequence_log_probs_low_precision(dtype: torch.dtype, device: str) -> None:
    """Each token rounded once to the input dtype, summed in float32: within the rounding of the
    per-token values (2^-11 and 2^-8 relative) of float64 on the same rounded logits."""
    logits, labels = _sequences(4, 16, 9, torch.float64, seed=13)
    low = logits.to(device, dtype).requires_grad_()
    same = low.detach().double().requires_grad_()
    value = sequence_log_probs(low, labels.to(device), average=True)
    expected = sequence_log_probs(same, labels.to(device), average=True)
    assert value.dtype == torch.float32
    rtol, atol = {torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1.6e-2)}[dtype]
    torch.testing.assert_close(value.double(), expected, rtol=rtol, atol=atol)
    (grad,) = torch.autograd.grad(value.sum(), low)
    (expected_grad,) = torch.autograd.grad(expected.sum(), same)
    assert grad.dtype == dtype
    torch.testing.assert_close(grad.double(), expected_grad, rtol=rtol, atol=atol)


@ON_DEVICES
def test_sequence_log_probs_finite_at_saturated_logits(device: str) -> None:
    logits, labels = _sequences(3, 6, 5, torch.float32, seed=14)
    logits = torch.where(logits > 0, 100.0, -100.0).to(device).requires_grad_()
    value = sequence_log_probs(logits, labels.to(device))
    (grad,) = torch.autograd.grad(value.sum(), logits)
    assert torch.isfinite(value).all()
    assert torch.isfinite(grad).all()


@ON_DEVICES
def test_sequence_log_probs_compiles_fullgraph(device: str) -> None:
    logits, labels = _sequences(3, 6, 5, torch.float32, seed=15)
    logits, labels = logits.to(device), labels.to(device)
    torch._dynamo.reset()
    compiled = torch.compile(sequence_log_probs, fullgraph=True)
    for average in (False, True):
        torch.testing.assert_close(
            compiled(logits, labels, average=average),
            sequence_log_probs(logits, labels, average=average),
        )


def test_sequence_log_probs_rows_are_independent_chunks() -> None:
    logits, labels = _sequences(6, 8, 5, torch.float64, seed=16)
    whole = sequence_log_probs(logits, labels)
    chunks = [
        sequence_log_probs(lg, lb)
        for lg, lb in zip(torch.split(logits, 2), torch.split(labels, 2), strict=True)
    ]
    torch.testing.assert_close(torch.cat(chunks), whole)


class _LargestFloat32(TorchDispatchMode):
    """Records the largest float32 tensor that any ATen operation returns."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        self.largest = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, Tensor) and value.dtype == torch.float32:
                self.largest = max(self.largest, value.numel())
        return out


def test_sequence_log_probs_makes_no_float32_copy_of_bfloat16_logits() -> None:
    """Forward and backward of bfloat16 logits (B, T, V) allocate no float32 tensor larger than
    (B, T): no upcast copy of the logits and no float32 log-softmax."""
    logits, labels = _sequences(2, 8, 64, torch.bfloat16, seed=17)
    logits.requires_grad_()
    with _LargestFloat32() as census:
        value = sequence_log_probs(logits, labels)
        torch.autograd.grad(value.sum(), logits)
    assert census.largest <= 2 * 8


@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
def test_sequence_log_probs_no_host_sync_with_value_checks_off(average: bool) -> None:
    logits, labels = _sequences(3, 6, 5, torch.float32, seed=18)
    logits.requires_grad_()
    with _as_on_an_accelerator(), NoSync():
        value = sequence_log_probs(logits, labels, average=average)
        torch.autograd.grad(value.sum(), logits)


@NO_GPU
def test_sequence_log_probs_no_host_sync_on_cuda() -> None:
    logits, labels = _sequences(3, 6, 5, torch.bfloat16, seed=19)
    logits, labels = logits.cuda().requires_grad_(), labels.cuda()
    torch.cuda.synchronize()
    with cuda_sync_errors():
        value = sequence_log_probs(logits, labels, average=True)
        torch.autograd.grad(value.sum(), logits)
    torch.cuda.synchronize()


def _sequence_errors() -> list[tuple[Callable[[], object], type[Exception], str]]:
    fn = "sequence_log_probs"
    logits, labels = torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.long)
    return [
        (
            lambda: sequence_log_probs(logits.long(), labels),
            TypeError,
            f"{fn}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        (
            lambda: sequence_log_probs(logits, labels.float()),
            TypeError,
            f"{fn}: labels must be an integer tensor of class indices (torch.int64), got dtype "
            "torch.float32",
        ),
        (
            lambda: sequence_log_probs(logits[0], labels),
            ValueError,
            f"{fn}: logits must have 3 dimensions (B, T, V), got shape (3, 4)",
        ),
        (
            lambda: sequence_log_probs(logits, labels[:, :2]),
            ValueError,
            f"{fn}: labels must have shape (2, 3) (one label per position of logits), got (2, 2)",
        ),
        (
            lambda: sequence_log_probs(logits, torch.tensor([[0, 4, 1], [0, 0, 0]])),
            ValueError,
            f"{fn}: labels must hold class indices in [0, 4) or equal to ignore_index=-100, got 4",
        ),
    ]


@pytest.mark.parametrize(("call", "error", "message"), _sequence_errors())
def test_sequence_log_probs_errors(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()


def test_sequence_log_probs_is_a_helper_not_a_loss() -> None:
    """Public and on the page, but with no module, no `LossSpec`, no catalogue row or plot."""
    assert "sequence_log_probs" in HELPERS
    assert "sequence_log_probs" not in ABOUT
    assert ABOUT["dpo_loss"].family == ABOUT["simpo_loss"].family == "Language models"


# --- what the docstrings and the page state ---------------------------------------------------


def test_label_smoothing_moves_the_minimum_to_log_odds() -> None:
    """Conservative DPO is smallest at βh = log((1 − ε)/ε), where it is H(ε): ε = 0.1 and
    β = 0.5 give h = 4.394 and a floor of 0.3251 (the page's numbers)."""
    eps, beta = 0.1, 0.5
    best = math.log((1 - eps) / eps) / beta
    assert round(best, 3) == 4.394
    h = torch.tensor([best - 0.01, best, best + 0.01, 1000.0], dtype=torch.float64)
    zero = torch.zeros_like(h)
    loss = dpo_loss(h, zero, zero, zero, beta=beta, label_smoothing=eps, reduction="none")
    entropy = -(eps * math.log(eps) + (1 - eps) * math.log(1 - eps))
    assert abs(loss[1].item() - entropy) < 1e-12
    assert round(entropy, 4) == 0.3251
    assert loss[1] < loss[0]
    assert loss[1] < loss[2]
    assert loss[3].item() == pytest.approx(50.0)


def test_module_repr() -> None:
    assert repr(DPOLoss(loss_type="ipo", beta=0.5)) == (
        "DPOLoss(beta=0.5, label_smoothing=0.0, loss_type='ipo', reduction='mean')"
    )
    assert repr(SimPOLoss()) == "SimPOLoss(beta=2.0, gamma=0.5, reduction='mean')"


def test_empty_batch_mean_is_zero() -> None:
    empty = torch.zeros(0)
    assert dpo_loss(empty, empty, empty, empty).item() == 0.0
    assert simpo_loss(empty, empty).item() == 0.0
