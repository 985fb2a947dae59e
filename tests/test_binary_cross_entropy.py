"""Binary cross-entropy (probabilities and logits): the shared contract, identities with torch."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from deeplossdive import Reduction, value_checks
from deeplossdive._reduction import REDUCTIONS
from deeplossdive.functional import binary_cross_entropy, binary_cross_entropy_with_logits
from deeplossdive.nn import BCELoss, BCEWithLogitsLoss
from tests.harness import (
    ErrorCase,
    Inputs,
    LossContract,
    LossSpec,
    Options,
    _value_and_grad,
)
from tests.oracles import binary_cross_entropy as oracles

# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}
SHAPES = ((6, 5), (2, 3, 4, 5))  # (N, C) and (N, C, H, W); both end in 5


def _targets(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return torch.randint(2, shape, generator=gen).to(torch.float64)


def _weights(inputs: Inputs, gen: torch.Generator) -> Options:
    """(C,) along the last dimension for (N, C); one weight per element for (N, C, H, W)."""
    first = inputs[0]
    shape = first.shape[-1:] if first.dim() == 2 else first.shape
    return {"weight": torch.rand(shape, generator=gen, dtype=first.dtype) + 0.1}


# --- probabilities --------------------------------------------------------------------------


def _prob_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    probs = torch.sigmoid(2 * torch.randn(shape, generator=gen, dtype=torch.float64))
    return probs.to(dtype), _targets(shape, gen).to(dtype)


def _prob_saturate(inputs: Inputs) -> Inputs:
    """Probabilities of exactly 0 and 1, right and wrong; the first element confidently wrong."""
    probs, target = inputs
    saturated = (probs > 0.5).to(probs.dtype)
    saturated.view(-1)[0] = 1 - target.view(-1)[0]
    return saturated, target


def _prob_perfect(inputs: Inputs) -> Inputs:
    probs, target = inputs
    return target.to(probs.dtype).clone(), target


def _prob_errors() -> tuple[ErrorCase, ...]:
    fn = binary_cross_entropy
    probs, target = torch.rand(4, 3), torch.ones(4, 3)
    name = "binary_cross_entropy"
    return (
        ErrorCase(
            "int-probs",
            lambda: fn(target.long(), target),
            TypeError,
            f"{name}: probs must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-target",
            lambda: fn(probs, target.long()),
            TypeError,
            f"{name}: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "shape-N1-vs-N",
            lambda: fn(probs[:, :1], target[:, 0]),
            ValueError,
            f"{name}: target must have the shape of probs (4, 1), got (4,)",
        ),
        ErrorCase(
            "weight-per-sample-1d",
            lambda: fn(probs, target, weight=torch.ones(4)),
            ValueError,
            f"{name}: weight must have a shape that broadcasts to the shape of probs (4, 3) "
            "without enlarging it, got (4,)",
        ),
        ErrorCase(
            "weight-enlarges",
            lambda: fn(probs, target, weight=torch.ones(2, 4, 3)),
            ValueError,
            f"{name}: weight must have a shape that broadcasts to the shape of probs (4, 3) "
            "without enlarging it, got (2, 4, 3)",
        ),
        ErrorCase(
            "weight-dtype",
            lambda: fn(probs, target, weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            f"{name}: weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "probs-above-one",
            lambda: fn(torch.tensor([0.5, 1.5]), torch.tensor([1.0, 0.0])),
            ValueError,
            f"{name}: probs must hold values in [0, 1], got 1.5",
        ),
        ErrorCase(
            "probs-nan",
            lambda: fn(torch.tensor([0.5, math.nan]), torch.tensor([1.0, 0.0])),
            ValueError,
            f"{name}: probs must hold values in [0, 1], got nan",
        ),
        ErrorCase(
            "target-range",
            lambda: fn(probs, 2 * target),
            ValueError,
            f"{name}: target must hold values in [0, 1], got 2.0",
        ),
        ErrorCase(
            "module-weight-dtype",
            lambda: BCELoss(weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            "BCELoss: weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: fn(probs.tolist(), target),  # type: ignore[arg-type]
            TypeError,
            f"{name}: probs must be a torch.Tensor, got list",
        ),
    )


BCE = LossSpec(
    function=binary_cross_entropy,
    module=BCELoss,
    oracle=oracles.binary_cross_entropy,
    make_inputs=_prob_inputs,
    shapes=SHAPES,
    options=({},),
    saturate=_prob_saturate,
    perfect=_prob_perfect,
    weights=_weights,
    errors=_prob_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("plain",),
)


# --- logits ---------------------------------------------------------------------------------

POS_WEIGHT_PER_CLASS = torch.tensor([0.5, 1.0, 2.0, 3.0, 9.0], dtype=torch.float64)
POS_WEIGHT_SCALAR = torch.tensor(4.0, dtype=torch.float64)


def _logit_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return logits.to(dtype), _targets(shape, gen).to(dtype)


def _logit_saturate(inputs: Inputs) -> Inputs:
    logits, target = inputs
    return torch.where(logits > 0, 100.0, -100.0).to(logits.dtype), target


def _logit_perfect(inputs: Inputs) -> Inputs:
    logits, target = inputs
    return (200.0 * target - 100.0).to(logits.dtype), target


def _logit_errors() -> tuple[ErrorCase, ...]:
    fn = binary_cross_entropy_with_logits
    logits, target = torch.randn(4, 3), torch.ones(4, 3)
    name = "binary_cross_entropy_with_logits"
    images = torch.randn(2, 3, 4, 5)
    return (
        ErrorCase(
            "int-logits",
            lambda: fn(target.long(), target),
            TypeError,
            f"{name}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-target",
            lambda: fn(logits, target.long()),
            TypeError,
            f"{name}: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "shape-N1-vs-N",
            lambda: fn(logits[:, :1], target[:, 0]),
            ValueError,
            f"{name}: target must have the shape of logits (4, 1), got (4,)",
        ),
        ErrorCase(
            "pos-weight-wrong-class-count",
            lambda: fn(logits, target, pos_weight=torch.ones(4)),
            ValueError,
            f"{name}: pos_weight must have a shape that broadcasts to the shape of logits (4, 3) "
            "without enlarging it, got (4,)",
        ),
        ErrorCase(
            "pos-weight-class-dim-of-images",
            lambda: fn(images, torch.zeros_like(images), pos_weight=torch.ones(3)),
            ValueError,
            f"{name}: pos_weight must have a shape that broadcasts to the shape of logits "
            "(2, 3, 4, 5) without enlarging it, got (3,)",
        ),
        ErrorCase(
            "pos-weight-dtype",
            lambda: fn(logits, target, pos_weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            f"{name}: pos_weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "weight-enlarges",
            lambda: fn(logits, target, weight=torch.ones(2, 4, 3)),
            ValueError,
            f"{name}: weight must have a shape that broadcasts to the shape of logits (4, 3) "
            "without enlarging it, got (2, 4, 3)",
        ),
        ErrorCase(
            "weight-dtype",
            lambda: fn(logits, target, weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            f"{name}: weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "target-range",
            lambda: fn(logits, -target),
            ValueError,
            f"{name}: target must hold values in [0, 1], got -1.0",
        ),
        ErrorCase(
            "module-pos-weight-dtype",
            lambda: BCEWithLogitsLoss(pos_weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            "BCEWithLogitsLoss: pos_weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "module-weight-dtype",
            lambda: BCEWithLogitsLoss(weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            "BCEWithLogitsLoss: weight must be a floating-point tensor, got dtype torch.int64",
        ),
    )


BCE_WITH_LOGITS = LossSpec(
    function=binary_cross_entropy_with_logits,
    module=BCEWithLogitsLoss,
    oracle=oracles.binary_cross_entropy_with_logits,
    make_inputs=_logit_inputs,
    shapes=SHAPES,
    options=({}, {"pos_weight": POS_WEIGHT_PER_CLASS}, {"pos_weight": POS_WEIGHT_SCALAR}),
    saturate=_logit_saturate,
    perfect=_logit_perfect,
    weights=_weights,
    errors=_logit_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("plain", "pos_weight=(5,)", "pos_weight=()"),
)


class TestBinaryCrossEntropy(LossContract):
    spec = BCE

    # Two harness checks assume the first input is a logit; probabilities need their own.
    def test_finite_at_saturated_inputs(
        self, shape: tuple[int, ...], options: Options, reduction: str, device: str
    ) -> None:
        """Probabilities of exactly 0 and 1 (the harness pushes logits to ±100 instead)."""
        inputs = _prob_saturate(
            _prob_inputs(shape, torch.float32, torch.Generator().manual_seed(0))
        )
        inputs = tuple(t.to(device) for t in inputs)
        assert set(inputs[0].flatten().tolist()) == {0.0, 1.0}
        value, grad = _value_and_grad(binary_cross_entropy, inputs, **options, reduction=reduction)
        assert torch.isfinite(value).all(), value
        assert torch.isfinite(grad).all(), grad

    def test_invariants(self, device: str) -> None:
        """As the harness's, with the scale applied to logit(p) (scaling p leaves [0, 1])."""

        @given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 8), scale=st.floats(0.01, 30))
        @settings(deadline=None)
        def check(seed: int, n: int, scale: float) -> None:
            probs, target = _prob_inputs((n, 5), torch.float64, torch.Generator().manual_seed(seed))
            probs, target = torch.sigmoid(scale * torch.logit(probs)).to(device), target.to(device)
            unreduced = binary_cross_entropy(probs, target, reduction="none")
            mean = binary_cross_entropy(probs, target, reduction="mean")
            total = binary_cross_entropy(probs, target, reduction="sum")
            torch.testing.assert_close(total, mean * unreduced.numel())
            assert (unreduced >= 0).all()
            best = binary_cross_entropy(*_prob_perfect((probs, target)), reduction="none")
            assert (best == 0).all()

        check()


class TestBinaryCrossEntropyWithLogits(LossContract):
    spec = BCE_WITH_LOGITS


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


def _soft(shape: tuple[int, ...], seed: int) -> tuple[Tensor, Tensor]:
    """float64 logits and targets mixing 0, 1 and soft values."""
    gen = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = _targets(shape, gen)
    target.view(-1)[::3] = torch.rand(
        target.view(-1)[::3].shape, generator=gen, dtype=torch.float64
    )
    return logits, target


WEIGHT_SHAPES = {
    (6, 5): [(6, 5), (5,), (6, 1), (1, 5), ()],
    (2, 3, 4, 5): [(2, 3, 4, 5), (3, 1, 1), (5,), (4, 5), (2, 1, 1, 1)],
}
WEIGHT_CASES = [(shape, w) for shape, ws in WEIGHT_SHAPES.items() for w in ws]


# --- identities with torch: "none" and "sum" equal; "mean" is torch's times N / Σ w ----------


@pytest.mark.parametrize(("shape", "weight_shape"), WEIGHT_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_weighted_reductions_against_torch(
    shape: tuple[int, ...], weight_shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    logits, target = _soft(shape, 1)
    probs = torch.sigmoid(logits).to(dtype).requires_grad_(True)
    target = target.to(dtype)
    weight = torch.rand(weight_shape, generator=torch.Generator().manual_seed(2)).to(dtype) + 0.1
    total_weight = weight.expand(shape).sum()
    for reduction in REDUCTIONS:
        ours = binary_cross_entropy(probs, target, weight=weight, reduction=reduction)
        theirs = F.binary_cross_entropy(probs, target, weight=weight, reduction=reduction)
        if reduction == "mean":
            theirs = theirs * probs.numel() / total_weight
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(_grad(ours.sum(), probs), _grad(theirs.sum(), probs))
        oracle = oracles.binary_cross_entropy(probs, target, weight=weight, reduction=reduction).to(
            dtype
        )
        torch.testing.assert_close(ours, oracle)


@pytest.mark.parametrize(("shape", "weight_shape"), WEIGHT_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_with_logits_weighted_reductions_against_torch(
    shape: tuple[int, ...], weight_shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    logits, target = _soft(shape, 3)
    logits = logits.to(dtype).requires_grad_(True)
    target = target.to(dtype)
    gen = torch.Generator().manual_seed(4)
    weight = torch.rand(weight_shape, generator=gen).to(dtype) + 0.1
    pos_weight = 4 * torch.rand(weight_shape, generator=gen).to(dtype)
    total_weight = weight.expand(shape).sum()
    for reduction in REDUCTIONS:
        kwargs = {"weight": weight, "pos_weight": pos_weight, "reduction": reduction}
        ours = binary_cross_entropy_with_logits(logits, target, **kwargs)  # type: ignore[arg-type]
        theirs = F.binary_cross_entropy_with_logits(logits, target, **kwargs)  # type: ignore[arg-type]
        if reduction == "mean":
            theirs = theirs * logits.numel() / total_weight
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(_grad(ours.sum(), logits), _grad(theirs.sum(), logits))
        oracle = oracles.binary_cross_entropy_with_logits(logits, target, **kwargs).to(dtype)  # type: ignore[arg-type]
        torch.testing.assert_close(ours, oracle)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "pos_weight_shape", [(5,), (), (3, 1, 1), (2, 3, 4, 5)], ids=["C-last", "scalar", "C11", "full"]
)
def test_pos_weight_mean_is_a_plain_mean_as_in_torch(
    reduction: Reduction, pos_weight_shape: tuple[int, ...]
) -> None:
    logits, target = _soft((2, 3, 4, 5), 5)
    logits.requires_grad_(True)
    pos_weight = 5 * torch.rand(pos_weight_shape, dtype=torch.float64)
    ours = binary_cross_entropy_with_logits(
        logits, target, pos_weight=pos_weight, reduction=reduction
    )
    theirs = F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=pos_weight, reduction=reduction
    )
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours.sum(), logits), _grad(theirs.sum(), logits))


def test_pos_weight_class_vector_runs_along_the_last_dimension() -> None:
    """(C,) weights the last dimension, as in torch: for (N, C, H, W) use (C, 1, 1)."""
    logits, target = _soft((2, 3, 4, 3), 6)  # C == W == 3: (3,) is accepted, and means W
    pos_weight = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    along_w = binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
    along_c = binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight.view(3, 1, 1))
    torch.testing.assert_close(
        along_w, F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
    )
    torch.testing.assert_close(
        along_c,
        F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight.view(3, 1, 1)),
    )
    assert not torch.allclose(along_w, along_c)


def test_pos_weight_equals_duplicating_positives() -> None:
    logits, target = _soft((7,), 7)
    target = (target > 0.5).to(target.dtype)
    logits.requires_grad_(True)
    weighted = binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(3.0), reduction="sum"
    )
    copies = torch.where(target == 1, 3, 1)
    duplicated = binary_cross_entropy_with_logits(
        logits.repeat_interleave(copies), target.repeat_interleave(copies), reduction="sum"
    )
    torch.testing.assert_close(weighted, duplicated)
    torch.testing.assert_close(_grad(weighted, logits), _grad(duplicated, logits))


@pytest.mark.parametrize("pos_weight", [1.0, 0.3, 3.0, 9.0])
def test_gradient_formula(pos_weight: float) -> None:
    logits, target = _soft((6, 5), 8)
    logits.requires_grad_(True)
    loss = binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(pos_weight, dtype=torch.float64), reduction="sum"
    )
    sigma = torch.sigmoid(logits.detach())
    formula = (1 + (pos_weight - 1) * target) * sigma - pos_weight * target
    torch.testing.assert_close(_grad(loss, logits), formula)


def test_probs_and_logits_forms_agree_away_from_saturation() -> None:
    logits, target = _soft((6, 5), 9)
    logits.requires_grad_(True)
    from_probs = binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum")
    from_logits = binary_cross_entropy_with_logits(logits, target, reduction="sum")
    torch.testing.assert_close(from_probs, from_logits)
    torch.testing.assert_close(_grad(from_probs, logits), _grad(from_logits, logits))


# --- probabilities of exactly 0 and 1 --------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_probs_at_zero_and_one(dtype: torch.dtype) -> None:
    """Values are torch's (log clamped at -100); gradients are those of the value: finite."""
    probs = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0], dtype=dtype, requires_grad=True)
    target = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.3, 0.3], dtype=dtype)
    loss = binary_cross_entropy(probs, target, reduction="none")
    expected = torch.tensor([100.0, 100.0, 0.0, 0.0, 30.0, 70.0], dtype=dtype)
    torch.testing.assert_close(loss, expected)
    grad = _grad(loss.sum(), probs)
    # The clamped term is flat (0); the other is the exact derivative of the remaining log.
    torch.testing.assert_close(grad, torch.tensor([0.0, 0.0, -1.0, 1.0, 0.7, -0.3], dtype=dtype))
    if dtype in (torch.float32, torch.float64):
        torch.testing.assert_close(F.binary_cross_entropy(probs, target, reduction="none"), loss)
        # torch: (p - t) / max(p (1 - p), 1e-12), not the derivative of the value it returns.
        theirs = _grad(F.binary_cross_entropy(probs, target, reduction="sum"), probs)
        torch.testing.assert_close(
            theirs, torch.tensor([1e12, -1e12, 0.0, 0.0, -3e11, 7e11], dtype=dtype)
        )


def test_sigmoid_then_bce_is_stuck_where_logits_are_exact() -> None:
    logits = torch.tensor([20.0, 40.0], requires_grad=True)  # float32, confidently wrong
    target = torch.zeros(2)
    assert torch.equal(torch.sigmoid(logits), torch.ones(2))
    for fn in (F.binary_cross_entropy, binary_cross_entropy):
        loss = fn(torch.sigmoid(logits), target, reduction="none")
        assert torch.equal(loss.detach(), torch.tensor([100.0, 100.0]))
        assert torch.equal(_grad(loss.sum(), logits), torch.zeros(2))
    loss = binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert torch.equal(loss.detach(), torch.tensor([20.0, 40.0]))
    assert torch.equal(_grad(loss.sum(), logits), torch.ones(2))


def test_cpu_autocast_runs_torch_bce_in_float32_after_the_damage() -> None:
    """CPU autocast does not refuse F.binary_cross_entropy; the bfloat16 sigmoid already lost x."""
    linear = torch.nn.Linear(1, 1)
    with torch.no_grad():
        linear.weight.fill_(1.0)
        linear.bias.fill_(0.0)
    x = torch.tensor([[7.0], [20.0]])
    target = torch.zeros(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = linear(x).squeeze(1)
        probs = torch.sigmoid(logits)
        torch_bce = F.binary_cross_entropy(probs, target, reduction="none")
        ours = binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert logits.dtype == probs.dtype == torch.bfloat16
    assert torch.equal(probs, torch.ones(2, dtype=torch.bfloat16))
    assert torch_bce.dtype == torch.float32
    assert torch.equal(torch_bce, torch.tensor([100.0, 100.0]))
    assert ours.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), torch.tensor([7.0009, 20.0]), rtol=0, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA autocast needs a GPU")
def test_cuda_autocast_refuses_torch_bce() -> None:
    probs = torch.rand(4, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(probs, torch.zeros_like(probs))
        finite = binary_cross_entropy(probs, torch.zeros_like(probs))
    assert torch.isfinite(finite)


def test_softmax_caps_two_present_labels() -> None:
    logits = torch.tensor([[5.0, 5.0, -5.0]], dtype=torch.float64)
    target = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    softmax_loss = binary_cross_entropy(torch.softmax(logits, dim=1), target)
    sigmoid_loss = binary_cross_entropy_with_logits(logits, target)
    floor = 2 * math.log(2) / 3  # both labels at p = 1/2, however large the logits
    assert softmax_loss > floor
    assert abs(softmax_loss - floor) < 1e-4
    assert sigmoid_loss < 0.007


# --- the rest of the contract ------------------------------------------------------------------


def test_empty_batch() -> None:
    for fn in (binary_cross_entropy, binary_cross_entropy_with_logits):
        first = torch.zeros(0, 3, requires_grad=True)
        target = torch.zeros(0, 3)
        for reduction in REDUCTIONS:
            value = fn(first, target, reduction=reduction)
            assert torch.isfinite(value).all()
        mean = fn(first, target)
        assert mean.item() == 0.0
        assert _grad(mean, first).shape == (0, 3)


def test_all_zero_weights_mean_is_zero() -> None:
    probs, target = torch.rand(3, 2, requires_grad=True), torch.ones(3, 2)
    loss = binary_cross_entropy(probs, target, weight=torch.zeros(2))
    assert loss.item() == 0.0
    assert _grad(loss, probs).abs().max() == 0


def test_value_checks_switch() -> None:
    probs, bad = torch.full((4,), 1.5), torch.full((4,), 2.0)
    with value_checks(False):
        binary_cross_entropy(probs, torch.ones(4))
        binary_cross_entropy_with_logits(probs, bad)
    with pytest.raises(ValueError, match="probs must hold values in"):
        binary_cross_entropy(probs, torch.ones(4))
    with pytest.raises(ValueError, match="target must hold values in"):
        binary_cross_entropy_with_logits(probs, bad)


def test_compile_with_pos_weight() -> None:
    logits, target = _soft((2, 3, 4, 5), 10)
    pos_weight = torch.rand(3, 1, 1, dtype=torch.float64) * 3
    kwargs: Options = {"pos_weight": pos_weight, "weight": torch.rand(5, dtype=torch.float64)}
    torch._dynamo.reset()
    compiled = torch.compile(binary_cross_entropy_with_logits, fullgraph=True)
    value, grad = _value_and_grad(compiled, (logits, target), **kwargs)
    expected, expected_grad = _value_and_grad(
        binary_cross_entropy_with_logits, (logits, target), **kwargs
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_modules_move_buffers_and_repr() -> None:
    criterion = BCEWithLogitsLoss(
        weight=torch.ones(3), pos_weight=torch.tensor([1.0, 2.0, 3.0]), reduction="sum"
    )
    assert set(dict(criterion.named_buffers())) == {"weight", "pos_weight"}
    criterion = criterion.double()
    assert criterion.pos_weight is not None
    assert criterion.pos_weight.dtype == torch.float64
    assert repr(criterion) == "BCEWithLogitsLoss(reduction='sum')"
    assert repr(BCELoss()) == "BCELoss(reduction='mean')"
    assert "weight" in dict(BCELoss(weight=torch.ones(2)).named_buffers())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BCELoss()(torch.rand(2, 2), torch.ones(2, 2))
