"""NT-Xent: the shared contract, identities with torch's cross-entropy, parity with
pytorch-metric-learning, and the claims of docs/losses/nt_xent.md."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from monai.losses.contrastive import ContrastiveLoss as MonaiContrastiveLoss
from pytorch_metric_learning.losses import NTXentLoss as PMLNTXentLoss
from pytorch_metric_learning.reducers import DoNothingReducer
from torch import Tensor

from deeplossdive import Reduction
from deeplossdive.functional import nt_xent_loss
from deeplossdive.losses.nt_xent import _nt_xent_terms
from deeplossdive.nn import NTXentLoss
from tests.harness import ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import nt_xent as oracles

REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")
# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result and of the gradient (float16: 2^-11 relative, bfloat16: 2^-8).
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-3), torch.bfloat16: (1.6e-2, 1e-2)}


def _views(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    # Two noisy views of the same N points: the positive is usually, not always, the closest.
    base = torch.randn(shape, generator=gen, dtype=torch.float64)
    z1 = base + 0.5 * torch.randn(shape, generator=gen, dtype=torch.float64)
    z2 = base + 0.5 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return z1.to(dtype), z2.to(dtype)


def _saturate(inputs: Inputs) -> Inputs:
    z1, z2 = inputs
    return (
        torch.where(z1 > 0, 100.0, -100.0).to(z1.dtype),
        torch.where(z2 > 0, 100.0, -100.0).to(z2.dtype),
    )


def _errors() -> tuple[ErrorCase, ...]:
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    return (
        ErrorCase(
            "int-z1",
            lambda: nt_xent_loss(z1.long(), z2),
            TypeError,
            "nt_xent_loss: z1 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-z2",
            lambda: nt_xent_loss(z1, z2.int()),
            TypeError,
            "nt_xent_loss: z2 must be a floating-point tensor, got dtype torch.int32",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: nt_xent_loss(z1.tolist(), z2),  # type: ignore[arg-type]
            TypeError,
            "nt_xent_loss: z1 must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "1d-z1",
            lambda: nt_xent_loss(z1[0], z2[0]),
            ValueError,
            "nt_xent_loss: z1 must have 2 dimensions (N, D), got shape (3,)",
        ),
        ErrorCase(
            "3d-z1",
            lambda: nt_xent_loss(z1.view(4, 3, 1), z2.view(4, 3, 1)),
            ValueError,
            "nt_xent_loss: z1 must have 2 dimensions (N, D), got shape (4, 3, 1)",
        ),
        ErrorCase(
            "z2-shape",
            lambda: nt_xent_loss(z1, z2[:3]),
            ValueError,
            "nt_xent_loss: z2 must have the shape of z1 (4, 3), got (3, 3)",
        ),
        ErrorCase(
            "z2-dim",
            lambda: nt_xent_loss(z1, z2[:, :2]),
            ValueError,
            "nt_xent_loss: z2 must have the shape of z1 (4, 3), got (4, 2)",
        ),
        ErrorCase(
            "temperature-zero",
            lambda: nt_xent_loss(z1, z2, temperature=0.0),
            ValueError,
            "nt_xent_loss: temperature must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "temperature-negative",
            lambda: nt_xent_loss(z1, z2, temperature=-0.5),
            ValueError,
            "nt_xent_loss: temperature must be a finite number > 0, got -0.5",
        ),
        ErrorCase(
            "temperature-inf",
            lambda: nt_xent_loss(z1, z2, temperature=math.inf),
            ValueError,
            "nt_xent_loss: temperature must be a finite number > 0, got inf",
        ),
        ErrorCase(
            "temperature-nan",
            lambda: nt_xent_loss(z1, z2, temperature=math.nan),
            ValueError,
            "nt_xent_loss: temperature must be a finite number > 0, got nan",
        ),
        ErrorCase(
            "temperature-tensor",
            lambda: nt_xent_loss(z1, z2, temperature=torch.tensor(0.5)),  # type: ignore[arg-type]
            TypeError,
            "nt_xent_loss: temperature must be a real number, got Tensor",
        ),
        ErrorCase(
            "module-temperature",
            lambda: NTXentLoss(temperature=0.0),
            ValueError,
            "NTXentLoss: temperature must be a finite number > 0, got 0.0",
        ),
    )


NT_XENT = LossSpec(
    function=nt_xent_loss,
    module=NTXentLoss,
    oracle=oracles.nt_xent,
    make_inputs=_views,
    shapes=((6, 4), (16, 32)),
    options=(
        {"temperature": 0.5},
        {"temperature": 0.1},
        {"temperature": 0.005},
        {"temperature": 5.0},
    ),
    saturate=_saturate,
    # Bounded below by log(1 + (2N - 2) exp(-2 / T)) > 0: no input reaches 0 (see below).
    perfect=None,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    non_negative=True,
)


class TestNTXentLoss(LossContract):
    spec = NT_XENT


def _grads(value: Tensor, *wrt: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(value, wrt)


def _inputs(n: int = 8, d: int = 16, seed: int = 0) -> tuple[Tensor, Tensor]:
    z1, z2 = _views((n, d), torch.float64, torch.Generator().manual_seed(seed))
    return z1.requires_grad_(), z2.requires_grad_()


def _masked_logits(z1: Tensor, z2: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """The (2N, 2N) logits with -inf on the diagonal, and the column of each anchor's positive."""
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (u @ u.T / temperature).fill_diagonal_(-math.inf)
    n = z1.shape[0]
    return logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
def test_is_cross_entropy_over_masked_similarities(
    reduction: Reduction, temperature: float
) -> None:
    z1, z2 = _inputs()
    ours = nt_xent_loss(z1, z2, temperature=temperature, reduction=reduction)
    ce = F.cross_entropy(*_masked_logits(z1, z2, temperature), reduction=reduction)
    torch.testing.assert_close(ours, ce)
    for a, b in zip(_grads(ours.sum(), z1, z2), _grads(ce.sum(), z1, z2), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_matches_pytorch_metric_learning(temperature: float) -> None:
    """PML's NTXentLoss on the 2N stacked views with labels arange(N) twice: its one positive pair
    per anchor, in anchor order; MeanReducer (its default) is our "mean", DoNothingReducer our
    "none". Values and gradients."""
    z1, z2 = _inputs(n=10, d=6, seed=1)
    labels = torch.arange(10).repeat(2)
    pml = PMLNTXentLoss(temperature=temperature)(torch.cat([z1, z2]), labels)
    ours = nt_xent_loss(z1, z2, temperature=temperature)
    torch.testing.assert_close(ours, pml)
    for a, b in zip(_grads(ours, z1, z2), _grads(pml, z1, z2), strict=True):
        torch.testing.assert_close(a, b)
    unreduced = PMLNTXentLoss(temperature=temperature, reducer=DoNothingReducer())(
        torch.cat([z1, z2]), labels
    )["loss"]
    anchors, positives = unreduced["indices"]
    assert torch.equal(anchors, torch.arange(20))
    assert torch.equal(positives, torch.cat([torch.arange(10, 20), torch.arange(10)]))
    torch.testing.assert_close(
        nt_xent_loss(z1, z2, temperature=temperature, reduction="none"), unreduced["losses"]
    )


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_matches_monai_contrastive_loss(temperature: float) -> None:
    """MONAI's ContrastiveLoss(temperature)(z1, z2) is SimCLR's NT-Xent over the 2N anchors, the
    mean: our "mean" with the same temperature. Values and gradients, float64."""
    z1, z2 = _inputs(n=10, d=6, seed=2)
    monai = MonaiContrastiveLoss(temperature=temperature)(z1, z2)
    ours = nt_xent_loss(z1, z2, temperature=temperature)
    torch.testing.assert_close(ours, monai)
    for a, b in zip(_grads(ours, z1, z2), _grads(monai, z1, z2), strict=True):
        torch.testing.assert_close(a, b)


def test_monai_overflows_at_small_temperature() -> None:
    """The page's claim: MONAI exponentiates cos/T without subtracting a maximum, so in float32
    exp(1 / 0.01) overflows and its loss is NaN; ours is finite."""
    z1, z2 = (t.float() for t in _inputs(n=8, d=16, seed=0))
    assert torch.isnan(MonaiContrastiveLoss(temperature=0.01)(z1, z2))
    assert torch.isfinite(nt_xent_loss(z1, z2, temperature=0.01))
    assert torch.isfinite(MonaiContrastiveLoss(temperature=0.05)(z1, z2))


def test_pytorch_metric_learning_caps_the_loss_at_small_temperature() -> None:
    """The page's claim: PML computes log(p + tiny); where p underflows (float32, T = 0.005) its
    loss stops at -log(tiny) = 87.34 with a zero gradient, ours keeps growing."""
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z2 = torch.tensor([[-1.0, 0.1], [0.0, 1.0]], requires_grad=True)
    pml = PMLNTXentLoss(temperature=0.005, reducer=DoNothingReducer())(
        torch.cat([z1, z2]), torch.tensor([0, 1, 0, 1])
    )["loss"]["losses"]
    ours = nt_xent_loss(z1, z2, temperature=0.005, reduction="none")
    cap = -math.log(torch.finfo(torch.float32).tiny)
    assert abs(cap - 87.3365) < 1e-4
    assert abs(pml[0].item() - cap) < 1e-3
    assert ours[0].item() > 199
    (pml_grad,) = torch.autograd.grad(pml[0], z1)
    (our_grad,) = torch.autograd.grad(ours[0], z1)
    assert pml_grad[0].abs().max() == 0
    assert our_grad[0].abs().max() > 1
    assert torch.isfinite(our_grad).all()


def test_swapping_the_views_swaps_the_halves() -> None:
    z1, z2 = _inputs()
    a = nt_xent_loss(z1, z2, reduction="none")
    b = nt_xent_loss(z2, z1, reduction="none")
    torch.testing.assert_close(a, b.roll(8))


@pytest.mark.parametrize("scale", [1e-3, 7.0, 1e4])
def test_invariant_to_the_norm_of_each_embedding(scale: float) -> None:
    z1, z2 = _inputs()
    row_scales = torch.linspace(0.5, 3.0, 8, dtype=torch.float64)[:, None]
    torch.testing.assert_close(
        nt_xent_loss(scale * row_scales * z1, z2, reduction="none"),
        nt_xent_loss(z1, z2, reduction="none"),
    )


def test_gradient_with_respect_to_the_logits() -> None:
    """d l_i / d s_ij = (softmax_j - 1[j = p(i)]) / T, the self entry excluded."""
    z1, z2 = _inputs(n=5, d=4)
    temperature = 0.3
    u = F.normalize(torch.cat([z1, z2]).detach(), dim=1).requires_grad_()
    index = torch.arange(10)
    positive = (index + 5) % 10
    for i in range(10):
        sims = u @ u.T
        similarity = sims.detach().requires_grad_()
        # Re-run the loss from a similarity leaf: anchor i's logits are row i of s / T.
        logits = (similarity[i] / temperature).masked_fill(index == i, -math.inf)
        loss_i = -torch.log_softmax(logits, 0)[positive[i]]
        (grad,) = torch.autograd.grad(loss_i, similarity)
        probs = torch.softmax(logits.detach(), 0)
        expected = torch.zeros(10, 10, dtype=torch.float64)
        expected[i] = (probs - F.one_hot(positive[i], 10)) / temperature
        expected[i, i] = 0
        torch.testing.assert_close(grad, expected)
        ours_i = _nt_xent_terms(u, u, index, positive, temperature)[i]
        torch.testing.assert_close(ours_i, loss_i)


def test_gradient_with_respect_to_the_unit_embeddings() -> None:
    """dL/du_k = (1/T)[sum_j (P_kj - d_{j,p(k)}) u_j + sum_i (P_ik - d_{k,p(i)}) u_i], the page's
    formula, for L the sum over anchors."""
    z1, z2 = _inputs(n=6, d=5, seed=3)
    temperature = 0.2
    u = F.normalize(torch.cat([z1, z2]).detach(), dim=1)
    u1, u2 = u[:6].clone().requires_grad_(), u[6:].clone().requires_grad_()
    loss = nt_xent_loss(u1, u2, temperature=temperature, reduction="sum")
    grad = torch.cat(_grads(loss, u1, u2))
    logits = (u @ u.T / temperature).fill_diagonal_(-math.inf)
    probs = torch.softmax(logits, dim=1)
    target = F.one_hot(torch.cat([torch.arange(6, 12), torch.arange(6)]), 12).double()
    g = (probs - target) / temperature
    formula = g @ u + g.T @ u
    # Only the tangential part reaches z: the loss cannot see the norm of u.
    tangential = grad - (grad * u).sum(1, keepdim=True) * u
    torch.testing.assert_close(tangential, formula - (formula * u).sum(1, keepdim=True) * u)


def test_gradcheck_both_views() -> None:
    z1, z2 = _inputs(n=4, d=3)
    for temperature in (0.5, 0.05):
        assert torch.autograd.gradcheck(
            lambda a, b, t=temperature: nt_xent_loss(a, b, temperature=t, reduction="none"),
            (z1, z2),
        )


def test_collapsed_embeddings_give_log_2n_minus_1() -> None:
    for n in (1, 2, 8, 128):
        z = torch.ones(n, 3, dtype=torch.float64)
        value = nt_xent_loss(z, z, temperature=0.5)
        assert abs(value.item() - math.log(2 * n - 1)) < 1e-12


@pytest.mark.parametrize("temperature", [0.05, 0.5, 5.0])
def test_lower_bound(temperature: float) -> None:
    """l_i >= log(1 + (2N - 2) exp(-2 / T)) > 0: similarities lie in [-1, 1]."""
    z1, z2 = _inputs(n=8, d=64, seed=5)
    bound = math.log1p(14 * math.exp(-2 / temperature))
    assert bound > 0
    values = nt_xent_loss(z1, z2, temperature=temperature, reduction="none")
    assert (values >= bound).all()
    # Reached in the limit by one sample (no negatives: exactly 0) and by 2 antipodal samples.
    pair = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    antipodal = nt_xent_loss(pair, pair, temperature=temperature, reduction="none")
    torch.testing.assert_close(
        antipodal, torch.full((4,), math.log1p(2 * math.exp(-2 / temperature)), dtype=torch.float64)
    )
    assert nt_xent_loss(pair[:1], pair[:1], temperature=temperature).item() == 0


def test_finite_at_small_temperature_and_any_norm() -> None:
    """The issue's bar: finite values and gradients at T = 0.005 in float32, embeddings of any
    norm; the naive exp-then-divide form overflows to NaN on the same inputs."""
    gen = torch.Generator().manual_seed(2)
    for scale in (1e-20, 1.0, 1e15):
        z1 = (scale * torch.randn(16, 8, generator=gen)).requires_grad_()
        z2 = (scale * torch.randn(16, 8, generator=gen)).requires_grad_()
        for reduction in REDUCTIONS:
            value = nt_xent_loss(z1, z2, temperature=0.005, reduction=reduction)
            grads = _grads(value.sum(), z1, z2)
            assert torch.isfinite(value).all()
            assert all(torch.isfinite(g).all() for g in grads)
    u = F.normalize(torch.cat([z1, z2]).detach(), dim=1)
    naive = torch.exp(u @ u.T / 0.005)
    assert torch.isinf(naive).any()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_at_small_temperature(dtype: torch.dtype) -> None:
    z1, z2 = _views((16, 8), torch.float64, torch.Generator().manual_seed(4))
    low1, low2 = z1.to(dtype).requires_grad_(), z2.to(dtype).requires_grad_()
    value = nt_xent_loss(low1, low2, temperature=0.005)
    assert value.dtype == dtype
    grads = _grads(value, low1, low2)
    assert torch.isfinite(value)
    assert all(torch.isfinite(g).all() for g in grads)
    expected = nt_xent_loss(low1.detach().double(), low2.detach().double(), temperature=0.005)
    torch.testing.assert_close(value.double(), expected, rtol=1.6e-2, atol=0)


def test_empty_and_single_sample() -> None:
    empty = torch.zeros(0, 3, requires_grad=True)
    assert nt_xent_loss(empty, empty).item() == 0
    assert nt_xent_loss(empty, empty, reduction="sum").item() == 0
    assert nt_xent_loss(empty, empty, reduction="none").shape == (0,)
    one = torch.randn(1, 3)
    # One sample: each view's only candidate is its positive.
    assert torch.equal(nt_xent_loss(one, one.flip(1), reduction="none"), torch.zeros(2))


def test_zero_embedding_is_finite() -> None:
    z1 = torch.zeros(3, 4, requires_grad=True)
    z2 = torch.randn(3, 4, requires_grad=True)
    value = nt_xent_loss(z1, z2)
    assert torch.isfinite(value)
    assert all(torch.isfinite(g).all() for g in _grads(value, z1, z2))


def test_module_repr() -> None:
    assert repr(NTXentLoss(temperature=0.1)) == "NTXentLoss(temperature=0.1, reduction='mean')"
