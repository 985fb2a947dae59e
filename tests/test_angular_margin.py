"""ArcFace and CosFace: the shared contract, parity with pytorch-metric-learning, the numerics.

The shared tester calls `module(*inputs)` with the function's inputs (embeddings, weight,
labels); these modules hold `weight` as a parameter and take (embeddings, labels). The spec's
module is therefore `_WeightAsInput`, which runs the module with the weight given as its
parameter (`torch.func.functional_call`): module == function with the same weight. The modules'
own parameter (pickling, state_dict, `.to`, initialization) is tested below.

pytorch-metric-learning (2.9): `ArcFaceLoss(num_classes, embedding_size, margin=28.6, scale=64)`
takes the margin in DEGREES (28.6° = 0.49916 rad, its rounding of 0.5 rad), ours in radians:
`margin_degrees = math.degrees(margin)`. `CosFaceLoss(num_classes, embedding_size, margin=0.35,
scale=64)`: the same margin as ours. Both hold `W` of shape (D, C), the transpose of our (C, D)
`weight`, and average over the batch (their default `MeanReducer`): our `reduction="mean"`.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
from pytorch_metric_learning import losses as pml
from torch import Tensor, nn
from torch.func import functional_call

from deeplossdive import Reduction, value_checks
from deeplossdive._validation import _as_on_an_accelerator
from deeplossdive.functional import arcface_loss, cosface_loss
from deeplossdive.nn import ArcFaceLoss, CosFaceLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import angular_margin as oracles
from tests.syncs import NoSync, cuda_sync_errors

NUM_CLASSES = 5
SHAPES = ((6, 8), (9, 5))  # (N, D), D >= C so that the perfect input has orthogonal classes
# float16/bfloat16 inputs are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) and of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}

Head = type[ArcFaceLoss] | type[CosFaceLoss]


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Random embeddings, weights and labels; every third row near the opposite of its class's
    weight (θ within about 0.1 of π), so that ArcFace's rule past θ = π − m is exercised."""
    n, dim = shape
    weight = torch.randn(NUM_CLASSES, dim, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    embeddings = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    opposite = -weight[labels] + 0.1 * embeddings
    embeddings = torch.where((torch.arange(n) % 3 == 2)[:, None], opposite, embeddings)
    return embeddings.to(dtype), weight.to(dtype), labels


def _saturate(inputs: Inputs) -> Inputs:
    """Embeddings of values ±100 (only their direction matters: the loss stays that of a sign
    pattern)."""
    embeddings, weight, labels = inputs
    return torch.where(embeddings >= 0, 100.0, -100.0).to(embeddings.dtype), weight, labels


def _perfect(inputs: Inputs) -> Inputs:
    """Orthogonal unit weights and each embedding on its class's: the loss is
    log(1 + (C − 1)·e^{−s·ψ(0)}), below 1e-9 for every option set."""
    embeddings, _, labels = inputs
    dim = embeddings.shape[1]
    weight = torch.eye(NUM_CLASSES, dim, dtype=embeddings.dtype)
    return weight[labels], weight, labels


class _WeightAsInput(nn.Module):
    """`loss` called with the function's inputs, its `weight` parameter replaced by the input."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, embeddings: Tensor, weight: Tensor, labels: Tensor) -> Tensor:
        result: Tensor = functional_call(self.loss, {"weight": weight}, (embeddings, labels))
        return result


def _module(head: Head, dim: int) -> Callable[..., nn.Module]:
    def build(**options: Any) -> nn.Module:
        return _WeightAsInput(head(NUM_CLASSES, dim, **options))

    build.__name__ = head.__name__  # the name in the module's error messages
    return build


def _errors(function: Callable[..., Tensor], head: Head) -> tuple[ErrorCase, ...]:
    fn, mod = function.__name__, head.__name__
    e, w, y = torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 4, 2])
    margin_rule = (
        "in [0, 1.5707963267948966)" if function is arcface_loss else "a finite number >= 0"
    )
    shape_rule = "with C >= 1 (one row per class, the embeddings' D, as nn.Linear's weight)"
    return (
        ErrorCase(
            "label-too-large",
            lambda: function(e, w, torch.tensor([0, 5, 1])),
            ValueError,
            f"{fn}: labels must be in [0, 5), got 5",
        ),
        ErrorCase(
            "negative-label",
            lambda: function(e, w, torch.tensor([0, -1, 1])),
            ValueError,
            f"{fn}: labels must be in [0, 5), got -1",
        ),
        ErrorCase(
            "float-labels",
            lambda: function(e, w, y.float()),
            TypeError,
            f"{fn}: labels must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "labels-shape",
            lambda: function(e, w, y[:2]),
            ValueError,
            f"{fn}: labels must have shape (3,) (one label per embedding), got (2,)",
        ),
        ErrorCase(
            "weight-transposed",
            lambda: function(e, w.t(), y),
            ValueError,
            f"{fn}: weight must have shape (C, 4) {shape_rule}, got (4, 5)",
        ),
        ErrorCase(
            "weight-1d",
            lambda: function(e, w[0], y),
            ValueError,
            f"{fn}: weight must have shape (C, 4) {shape_rule}, got (4,)",
        ),
        ErrorCase(
            "no-class",
            lambda: function(e, w[:0], y),
            ValueError,
            f"{fn}: weight must have shape (C, 4) {shape_rule}, got (0, 4)",
        ),
        ErrorCase(
            "embeddings-1d",
            lambda: function(e[0], w, y),
            ValueError,
            f"{fn}: embeddings must have 2 dimensions (N, D), got shape (4,)",
        ),
        ErrorCase(
            "int-embeddings",
            lambda: function(e.long(), w, y),
            TypeError,
            f"{fn}: embeddings must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-weight",
            lambda: function(e, w.long(), y),
            TypeError,
            f"{fn}: weight must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "negative-margin",
            lambda: function(e, w, y, margin=-0.1),
            ValueError,
            f"{fn}: margin must be {margin_rule}, got -0.1",
        ),
        ErrorCase(
            "zero-scale",
            lambda: function(e, w, y, scale=0.0),
            ValueError,
            f"{fn}: scale must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "infinite-scale",
            lambda: function(e, w, y, scale=math.inf),
            ValueError,
            f"{fn}: scale must be a finite number > 0, got inf",
        ),
        ErrorCase(
            "module-margin",
            lambda: head(5, 4, margin=math.nan),
            ValueError,
            f"{mod}: margin must be {margin_rule}, got nan",
        ),
        ErrorCase(
            "module-scale",
            lambda: head(5, 4, scale=-1.0),
            ValueError,
            f"{mod}: scale must be a finite number > 0, got -1.0",
        ),
        ErrorCase(
            "module-num-classes",
            lambda: head(0, 4),
            ValueError,
            f"{mod}: num_classes must be an integer >= 1, got 0",
        ),
        ErrorCase(
            "module-embedding-dim",
            lambda: head(5, 2.5),  # type: ignore[arg-type]
            ValueError,
            f"{mod}: embedding_dim must be an integer >= 1, got 2.5",
        ),
    )


ARC_ERRORS = (
    *_errors(arcface_loss, ArcFaceLoss),
    ErrorCase(
        "margin-right-angle",
        lambda: arcface_loss(torch.randn(2, 3), torch.randn(4, 3), torch.tensor([0, 1]), margin=2),
        ValueError,
        "arcface_loss: margin must be in [0, 1.5707963267948966), got 2",
    ),
)


def _spec(
    function: Callable[..., Tensor],
    head: Head,
    oracle: Callable[..., Tensor],
    options: tuple[dict[str, Any], ...],
    errors: tuple[ErrorCase, ...],
) -> LossSpec:
    return LossSpec(
        function=function,
        module=_module(head, SHAPES[0][1]),
        oracle=oracle,
        make_inputs=_inputs,
        shapes=SHAPES,
        options=options,
        saturate=_saturate,
        perfect=_perfect,
        errors=errors,
        low_precision_tol=LOW_PRECISION_TOL,
    )


ARCFACE = _spec(
    arcface_loss,
    ArcFaceLoss,
    oracles.arcface,
    (
        {"margin": 0.5, "scale": 64.0},
        {"margin": 0.0, "scale": 30.0},
        {"margin": 1.2, "scale": 64.0},
        {"margin": 0.3, "scale": 32.0},
    ),
    ARC_ERRORS,
)
COSFACE = _spec(
    cosface_loss,
    CosFaceLoss,
    oracles.cosface,
    (
        {"margin": 0.35, "scale": 64.0},
        {"margin": 0.0, "scale": 30.0},
        {"margin": 0.6, "scale": 64.0},
    ),
    _errors(cosface_loss, CosFaceLoss),
)


class TestArcFaceLoss(LossContract):
    spec = ARCFACE


class TestCosFaceLoss(LossContract):
    spec = COSFACE


BOTH = pytest.mark.parametrize(
    ("function", "head"), [(arcface_loss, ArcFaceLoss), (cosface_loss, CosFaceLoss)]
)


def _leaves(seed: int, shape: tuple[int, int] = (12, 6)) -> tuple[Tensor, Tensor, Tensor]:
    e, w, y = _inputs(shape, torch.float64, _seeded(seed))
    return e.requires_grad_(True), w.requires_grad_(True), y


# --- parity with pytorch-metric-learning -------------------------------------------------------


def _pml(function: Callable[..., Tensor], weight: Tensor, margin: float, scale: float) -> Any:
    """PML's loss with `W` = our weight transposed; ArcFace's margin in degrees."""
    num_classes, dim = weight.shape
    if function is arcface_loss:
        theirs: Any = pml.ArcFaceLoss(num_classes, dim, margin=math.degrees(margin), scale=scale)
    else:
        theirs = pml.CosFaceLoss(num_classes, dim, margin=margin, scale=scale)
    theirs.W = nn.Parameter(weight.detach().t().clone())
    return theirs


@BOTH
@pytest.mark.parametrize("margin", [0.0, 0.35, 0.5, 1.2])
@pytest.mark.parametrize("scale", [1.0, 30.0, 64.0])
def test_equals_pytorch_metric_learning(
    function: Callable[..., Tensor], head: Head, margin: float, scale: float
) -> None:
    e, w, y = _leaves(1)
    theirs = _pml(function, w, margin, scale)
    expected = theirs(e, y)
    actual = function(e, w, y, margin=margin, scale=scale)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    grad_e, grad_w = torch.autograd.grad(actual, (e, w))
    their_e, their_w = torch.autograd.grad(expected, (e, theirs.W))
    torch.testing.assert_close(grad_e, their_e, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_w, their_w.t(), rtol=1e-10, atol=1e-12)


def test_pml_default_margin_is_half_a_radian_rounded_to_degrees() -> None:
    """PML's 28.6° is 0.49916 rad: the same loss as ours at that margin, not at 0.5."""
    e, w, y = _leaves(2)
    theirs = pml.ArcFaceLoss(NUM_CLASSES, w.shape[1])
    theirs.W = nn.Parameter(w.detach().t().clone())
    assert math.radians(28.6) == pytest.approx(0.49916, abs=1e-5)
    torch.testing.assert_close(arcface_loss(e, w, y, margin=math.radians(28.6)), theirs(e, y))
    assert not torch.allclose(arcface_loss(e, w, y), theirs(e, y))


def test_module_equals_pytorch_metric_learning_module() -> None:
    torch.manual_seed(3)
    ours = ArcFaceLoss(NUM_CLASSES, 6, margin=0.4).double()
    theirs = _pml(arcface_loss, ours.weight, 0.4, 64.0)
    e, _, y = _leaves(3)
    torch.testing.assert_close(ours(e, y), theirs(e, y))


# --- gradients and the numerics --------------------------------------------------------------


@BOTH
def test_gradcheck_weight(function: Callable[..., Tensor], head: Head) -> None:
    """The harness checks the embeddings' gradient; the weight gets its own here."""
    e, w, y = _leaves(4, (7, 5))
    for options in (ARCFACE if function is arcface_loss else COSFACE).options:
        assert torch.autograd.gradcheck(
            lambda a, b, o=options: function(a, b, y, **o, reduction="none"), (e, w)
        )


def test_finite_gradient_at_cosine_plus_and_minus_one() -> None:
    """An embedding exactly on its class's weight (cos θ = 1) and exactly opposite (cos θ = −1):
    our gradient is finite; PML's, through acos, is NaN at both."""
    weight = torch.eye(3, dtype=torch.float64)
    labels = torch.tensor([0, 1])
    embeddings = torch.tensor([[1.0, 0, 0], [0, -1.0, 0]], dtype=torch.float64, requires_grad=True)
    loss = arcface_loss(embeddings, weight, labels, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), embeddings)
    assert torch.isfinite(grad).all()
    # θ = π, past π − m: ψ = −1 − m·sin m and the two other logits 0, so the loss is
    # log(1 + 2e^{−64ψ}·...) = −64ψ + log 2 up to e^{64ψ}.
    expected = -64 * (-1 - 0.5 * math.sin(0.5)) + math.log(2)
    assert loss[1].item() == pytest.approx(expected, rel=1e-12)
    theirs = _pml(arcface_loss, weight, 0.5, 64.0)
    (their_grad,) = torch.autograd.grad(theirs(embeddings, labels), embeddings)
    assert torch.isnan(their_grad).all()


def _psi(theta: Tensor, margin: float) -> Tensor:
    """ArcFace's true-class cosine at angle θ, read back from the loss's logits."""
    embeddings = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=theta.dtype)
    labels = torch.zeros(theta.shape[0], dtype=torch.long)
    # With scale 1 and the other class's logit sin θ: loss = log(1 + e^{sin θ − ψ}).
    loss = arcface_loss(embeddings, weight, labels, margin=margin, scale=1.0, reduction="none")
    return torch.sin(theta) - torch.log(torch.expm1(loss))


def test_past_pi_minus_m_the_target_cosine_keeps_decreasing() -> None:
    """cos(θ + m) turns back up past π − m (θ = 3 gives a larger logit than θ = 2.7 with
    m = 0.5); ψ keeps decreasing, with a step down of cos m + m·sin m − 1 = 0.117 at π − m."""
    margin = 0.5
    assert math.cos(3.0 + margin) > math.cos(2.7 + margin)  # −0.936 > −0.998
    theta = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    psi = _psi(theta, margin)
    assert (psi.diff() <= 1e-12).all()
    at = math.pi - margin
    below = _psi(torch.tensor([at - 1e-9], dtype=torch.float64), margin).item()
    above = _psi(torch.tensor([at + 1e-9], dtype=torch.float64), margin).item()
    step = math.cos(margin) + margin * math.sin(margin) - 1
    assert round(step, 3) == 0.117
    assert below - above == pytest.approx(step, abs=1e-6)


@BOTH
def test_floor_when_the_scale_is_too_small(function: Callable[..., Tensor], head: Head) -> None:
    """At the best possible configuration for two classes (the embedding on its class, the
    other class opposite) the loss is log(1 + e^{−s(ψ(0) + 1)}): s = 1 cannot go below 0.142
    (ArcFace, m = 0.5), s = 64 reaches e^{−120}."""
    weight = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    embeddings, labels = weight[:1], torch.tensor([0])
    target = math.cos(0.5) if function is arcface_loss else 1 - 0.35
    for scale in (1.0, 16.0, 64.0):
        floor = math.log1p(math.exp(-scale * (target + 1)))
        loss = function(embeddings, weight, labels, scale=scale)
        assert loss.item() == pytest.approx(floor, rel=1e-12)
    assert round(math.log1p(math.exp(-(math.cos(0.5) + 1))), 3) == 0.142


def test_low_precision_computes_in_float32() -> None:
    """float16/bfloat16 inputs give the float32 computation of the same values, rounded once;
    a float32 weight with float16 embeddings (a float32 parameter, a half-precision network)
    gives a float32 loss."""
    e, w, y = _inputs((16, 8), torch.float64, _seeded(5))
    for dtype in (torch.float16, torch.bfloat16):
        low_e, low_w = e.to(dtype), w.to(dtype)
        expected = arcface_loss(low_e.float(), low_w.float(), y)
        actual = arcface_loss(low_e, low_w, y)
        assert actual.dtype == dtype
        assert actual == expected.to(dtype)
        mixed = arcface_loss(low_e, w.float(), y)
        assert mixed.dtype == torch.float32
        torch.testing.assert_close(mixed, arcface_loss(low_e.float(), w.float(), y))


def test_autocast_leaves_the_cosines_in_float32() -> None:
    e, w, y = _inputs((16, 8), torch.float32, _seeded(6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = arcface_loss(e, w, y)
    assert inside.dtype == torch.float32
    assert inside == arcface_loss(e, w, y)


def test_float16_softmax_of_scaled_cosines_overflows() -> None:
    """What the float32 logits avoid: e^{s·cos} overflows float16 from s·cos = 11.09 on
    (log 65504), so a softmax written out in float16 is inf/inf; and float16's spacing in
    [32, 64) is 2^-5 = 0.03125, a rounding of 0.0005 in cos θ at s = 64."""
    assert round(math.log(torch.finfo(torch.float16).max), 2) == 11.09
    logits = torch.tensor([64.0 * 0.9, 64.0 * 0.2], dtype=torch.float16)
    naive = logits.exp() / logits.exp().sum()
    assert torch.isnan(naive[0])
    assert torch.finfo(torch.float16).eps * 32 == 2**-5
    assert pytest.approx(0.0005, rel=0.03) == 2**-5 / 64


def test_empty_batch() -> None:
    e, w, y = torch.zeros(0, 4, requires_grad=True), torch.randn(3, 4), torch.zeros(0).long()
    reductions: tuple[Reduction, ...] = ("none", "mean", "sum")
    for reduction in reductions:
        loss = arcface_loss(e, w, y, reduction=reduction)
        assert loss.numel() == 0 if reduction == "none" else loss.item() == 0.0


def test_zero_embedding_has_cosine_zero() -> None:
    """A zero embedding has cosine 0 with every class: the loss of uniform logits but the true
    class's, s·ψ(π/2)."""
    w = torch.randn(4, 3, dtype=torch.float64)
    loss = arcface_loss(torch.zeros(1, 3, dtype=torch.float64), w, torch.tensor([2]), scale=8.0)
    psi = math.cos(math.pi / 2 + 0.5)
    expected = -math.log(math.exp(8 * psi) / (math.exp(8 * psi) + 3))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


# --- the modules ----------------------------------------------------------------------------


@BOTH
def test_module_holds_its_weight_as_a_parameter(
    function: Callable[..., Tensor], head: Head
) -> None:
    torch.manual_seed(7)
    module = head(NUM_CLASSES, 6, margin=0.3, scale=16.0, reduction="sum")
    assert [name for name, _ in module.named_parameters()] == ["weight"]
    assert list(module.buffers()) == []
    assert module.weight.shape == (NUM_CLASSES, 6)
    e, _, y = _inputs((10, 6), torch.float32, _seeded(8))
    loss = module(e, y)
    torch.testing.assert_close(
        loss, function(e, module.weight, y, margin=0.3, scale=16.0, reduction="sum"), rtol=0, atol=0
    )
    (grad,) = torch.autograd.grad(loss, module.weight)
    assert grad.abs().sum() > 0


@BOTH
def test_module_pickles_round_trips_state_dict_and_moves(
    function: Callable[..., Tensor], head: Head
) -> None:
    torch.manual_seed(9)
    module = head(NUM_CLASSES, 6, margin=0.2)
    e, _, y = _inputs((10, 6), torch.float32, _seeded(10))
    expected = module(e, y)
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    fresh = head(NUM_CLASSES, 6, margin=0.2)
    assert not torch.equal(fresh.weight, module.weight)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(fresh(e, y), expected, rtol=0, atol=0)
    unpickled = pickle.loads(pickle.dumps(module))
    assert repr(unpickled) == repr(module)
    torch.testing.assert_close(unpickled(e, y), expected, rtol=0, atol=0)
    double = module.double()
    assert double.weight.dtype == torch.float64
    torch.testing.assert_close(double(e.double(), y), expected.double(), rtol=1e-6, atol=1e-5)


def test_module_weight_initialization_is_standard_normal() -> None:
    """As PML's `W` (torch.nn.init.normal_): mean 0, standard deviation 1."""
    torch.manual_seed(11)
    weight = ArcFaceLoss(500, 64).weight.detach()
    assert abs(weight.mean().item()) < 0.01
    assert abs(weight.std().item() - 1) < 0.01


def test_module_repr() -> None:
    assert (
        repr(ArcFaceLoss(10, 3)) == "ArcFaceLoss(10, 3, margin=0.5, scale=64.0, reduction='mean')"
    )
    assert repr(CosFaceLoss(10, 3, scale=30, reduction="none")) == (
        "CosFaceLoss(10, 3, margin=0.35, scale=30.0, reduction='none')"
    )


def test_module_runs_without_host_sync() -> None:
    """The modules (the functions are in tests/test_no_sync.py), forward and backward."""
    e, _, y = _inputs((10, 8), torch.float32, _seeded(12))
    for head in (ArcFaceLoss, CosFaceLoss):
        module = head(NUM_CLASSES, 8)
        with _as_on_an_accelerator(), NoSync():
            torch.autograd.grad(module(e.requires_grad_(True), y), module.weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@BOTH
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cuda_equals_cpu_without_host_sync(
    function: Callable[..., Tensor], head: Head, reduction: Reduction
) -> None:
    """On a GPU with value checks off (the default there): no sync, the CPU's values and
    gradients (float64), the module too."""
    e, w, y = _leaves(13, (64, 16))
    expected = function(e, w, y, reduction=reduction)
    grads = torch.autograd.grad(expected.sum(), (e, w))
    ce, cw = (t.detach().cuda().requires_grad_(True) for t in (e, w))
    cy, module = y.cuda(), head(NUM_CLASSES, 16).cuda()
    with value_checks("auto"), cuda_sync_errors():
        actual = function(ce, cw, cy, reduction=reduction)
        cuda_grads = torch.autograd.grad(actual.sum(), (ce, cw))
        (module_grad,) = torch.autograd.grad(module(ce.float(), cy), module.weight)
    torch.testing.assert_close(actual.cpu(), expected)
    for ours, theirs in zip(cuda_grads, grads, strict=True):
        torch.testing.assert_close(ours.cpu(), theirs)
    assert torch.isfinite(module_grad).all()
