"""Triplet margin loss: the shared contract, identities with torch.nn and with PML."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss as PMLTripletMarginLoss
from pytorch_metric_learning.reducers import MeanReducer
from torch import Tensor

from deeplossdive import Reduction
from deeplossdive.functional import triplet_margin_loss
from deeplossdive.nn import TripletMarginLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import triplet as oracles

# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _l1_distance(x: Tensor, y: Tensor) -> Tensor:
    return (x - y).abs().sum(dim=-1)


def _cosine_distance(x: Tensor, y: Tensor) -> Tensor:
    return 1 - F.cosine_similarity(x, y)


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Positives near their anchor; negatives at a random spread, some inside the margin."""
    anchor = torch.randn(shape, generator=gen, dtype=torch.float64)
    positive = anchor + 0.7 * torch.randn(shape, generator=gen, dtype=torch.float64)
    spread = 0.3 + 1.7 * torch.rand(shape[0], 1, generator=gen, dtype=torch.float64)
    negative = anchor + spread * torch.randn(shape, generator=gen, dtype=torch.float64)
    return anchor.to(dtype), positive.to(dtype), negative.to(dtype)


def _saturate(inputs: Inputs) -> Inputs:
    """Embeddings of values ±100: even rows satisfied by far, odd rows violated by far.

    The far embedding is -anchor scaled by a different factor per coordinate, so that no two
    coordinates of a difference tie (a tie is a kink of the max-norm).
    """
    anchor = torch.where(inputs[0] >= 0, 100.0, -100.0).to(inputs[0].dtype)
    odd = (torch.arange(anchor.shape[0]) % 2 == 1).unsqueeze(1)
    far = -anchor * torch.linspace(0.5, 1.0, anchor.shape[1], dtype=anchor.dtype)
    positive = torch.where(odd, far, anchor)
    negative = torch.where(odd, anchor, far)
    return anchor, positive, negative


def _perfect(inputs: Inputs) -> Inputs:
    """d(a, p) = 0 (up to eps) and d(a, n) = 5·√D, beyond every margin tested."""
    anchor = inputs[0]
    return anchor, anchor.clone(), anchor + 5.0


def _errors() -> tuple[ErrorCase, ...]:
    a, p, n = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    fn = triplet_margin_loss
    return (
        ErrorCase(
            "int-anchor",
            lambda: fn(a.long(), p, n),
            TypeError,
            "triplet_margin_loss: anchor must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-negative",
            lambda: fn(a, p, n.long()),
            TypeError,
            "triplet_margin_loss: negative must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: fn(a, p.tolist(), n),  # type: ignore[arg-type]
            TypeError,
            "triplet_margin_loss: positive must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "1d-anchor",
            lambda: fn(a[0], p[0], n[0]),
            ValueError,
            "triplet_margin_loss: anchor must have 2 dimensions (N, D), got shape (4,)",
        ),
        ErrorCase(
            "positive-shape",
            lambda: fn(a, p[:2], n),
            ValueError,
            "triplet_margin_loss: positive must have the shape of anchor (3, 4), got (2, 4)",
        ),
        ErrorCase(
            "negative-shape",
            lambda: fn(a, p, n.view(3, 4, 1)),
            ValueError,
            "triplet_margin_loss: negative must have the shape of anchor (3, 4), got (3, 4, 1)",
        ),
        ErrorCase(
            "dtype-mismatch",
            lambda: fn(a, p.double(), n),
            TypeError,
            "triplet_margin_loss: positive must have the dtype of anchor (torch.float32), "
            "got dtype torch.float64",
        ),
        ErrorCase(
            "negative-margin",
            lambda: fn(a, p, n, margin=-0.1),
            ValueError,
            "triplet_margin_loss: margin must be >= 0, got -0.1",
        ),
        ErrorCase(
            "p-below-one",
            lambda: fn(a, p, n, p=0.5),
            ValueError,
            "triplet_margin_loss: p must be >= 1.0, got 0.5",
        ),
        ErrorCase(
            "negative-eps",
            lambda: fn(a, p, n, eps=-1e-6),
            ValueError,
            "triplet_margin_loss: eps must be >= 0, got -1e-06",
        ),
        ErrorCase(
            "p-with-distance",
            lambda: fn(a, p, n, p=1.0, distance=_l1_distance),
            ValueError,
            "triplet_margin_loss: p must be left at its default 2.0 when distance is given "
            "(the callable replaces the p-norm), got 1.0",
        ),
        ErrorCase(
            "eps-with-distance",
            lambda: fn(a, p, n, eps=0.0, distance=_l1_distance),
            ValueError,
            "triplet_margin_loss: eps must be left at its default 1e-06 when distance is given "
            "(the callable replaces the p-norm), got 0.0",
        ),
        ErrorCase(
            "distance-not-callable",
            lambda: fn(a, p, n, distance="cosine"),  # type: ignore[arg-type]
            TypeError,
            "triplet_margin_loss: distance must be a callable (x, y) -> distances or None, got str",
        ),
        ErrorCase(
            "distance-matrix",
            lambda: fn(a, p, n, distance=torch.cdist),
            ValueError,
            "triplet_margin_loss: distance(x, y) must have shape (3,) (one distance per row), "
            "got (3, 3)",
        ),
        ErrorCase(
            "distance-keepdim",
            lambda: fn(a, p, n, distance=lambda x, y: _l1_distance(x, y).unsqueeze(1)),
            ValueError,
            "triplet_margin_loss: distance(x, y) must have shape (3,) (one distance per row), "
            "got (3, 1)",
        ),
        ErrorCase(
            "distance-integer",
            lambda: fn(a, p, n, distance=lambda x, y: (x - y).abs().sum(-1).long()),
            TypeError,
            "triplet_margin_loss: distance(x, y) must be a floating-point tensor, "
            "got dtype torch.int64",
        ),
        ErrorCase(
            "module-margin",
            lambda: TripletMarginLoss(margin=-1.0),
            ValueError,
            "TripletMarginLoss: margin must be >= 0, got -1.0",
        ),
        ErrorCase(
            "module-p-with-distance",
            lambda: TripletMarginLoss(p=3.0, distance=_l1_distance),
            ValueError,
            "TripletMarginLoss: p must be left at its default 2.0 when distance is given "
            "(the callable replaces the p-norm), got 3.0",
        ),
    )


TRIPLET = LossSpec(
    function=triplet_margin_loss,
    module=TripletMarginLoss,
    oracle=oracles.triplet_margin,
    make_inputs=_inputs,
    shapes=((6, 8), (10, 3)),
    options=(
        {"margin": 1.0},
        {"margin": 0.5, "p": 1.0, "swap": True},
        {"margin": 2.0, "p": float("inf")},
        {"margin": 1.0, "p": 3.0, "eps": 0.0},
        {"margin": 0.0, "swap": True},
        {"margin": 1.5, "distance": _l1_distance, "swap": True},
    ),
    ids=("default", "p1-swap", "pinf-m2", "p3-eps0", "m0-swap", "l1-callable-swap"),
    saturate=_saturate,
    perfect=_perfect,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestTripletMarginLoss(LossContract):
    spec = TRIPLET


def _grads(value: Tensor, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return torch.autograd.grad(value.sum(), inputs)


def _leaves(seed: int, shape: tuple[int, int] = (12, 5)) -> tuple[Tensor, Tensor, Tensor]:
    inputs = _inputs(shape, torch.float64, torch.Generator().manual_seed(seed))
    a, p, n = (t.clone().requires_grad_(True) for t in inputs)
    return a, p, n


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("eps", [1e-6, 0.0, 0.1])
def test_equals_torch_triplet_margin_loss(
    reduction: Reduction, p: float, swap: bool, eps: float
) -> None:
    a, pos, neg = _leaves(11)
    ours = triplet_margin_loss(
        a, pos, neg, margin=1.3, p=p, swap=swap, eps=eps, reduction=reduction
    )
    theirs = F.triplet_margin_loss(
        a, pos, neg, margin=1.3, p=p, swap=swap, eps=eps, reduction=reduction
    )
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    for g_ours, g_theirs in zip(
        _grads(ours, (a, pos, neg)), _grads(theirs, (a, pos, neg)), strict=True
    ):
        torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("distance", [None, _l1_distance, _cosine_distance, F.pairwise_distance])
def test_equals_torch_triplet_margin_with_distance_loss(
    reduction: Reduction, swap: bool, distance: object
) -> None:
    a, pos, neg = _leaves(12)
    margin = 0.4 if distance is _cosine_distance else 1.0
    ours = triplet_margin_loss(
        a,
        pos,
        neg,
        margin=margin,
        swap=swap,
        distance=distance,  # type: ignore[arg-type]
        reduction=reduction,
    )
    theirs = F.triplet_margin_with_distance_loss(
        a,
        pos,
        neg,
        distance_function=distance,  # type: ignore[arg-type]
        margin=margin,
        swap=swap,
        reduction=reduction,
    )
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    for g_ours, g_theirs in zip(
        _grads(ours, (a, pos, neg)), _grads(theirs, (a, pos, neg)), strict=True
    ):
        torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=0)


def test_module_equals_torch_modules() -> None:
    a, pos, neg = _leaves(13)
    torch.testing.assert_close(
        TripletMarginLoss(margin=0.7, p=1.0, swap=True)(a, pos, neg),
        torch.nn.TripletMarginLoss(margin=0.7, p=1.0, swap=True)(a, pos, neg),
        rtol=0,
        atol=0,
    )
    torch.testing.assert_close(
        TripletMarginLoss(margin=0.3, distance=_cosine_distance)(a, pos, neg),
        torch.nn.TripletMarginWithDistanceLoss(distance_function=_cosine_distance, margin=0.3)(
            a, pos, neg
        ),
        rtol=0,
        atol=0,
    )


def test_gradcheck_every_input() -> None:
    """The harness checks the anchor's gradient; positive and negative get theirs here."""
    a, pos, neg = _leaves(14, (6, 4))
    for options in TRIPLET.options:
        assert torch.autograd.gradcheck(
            lambda x, y, z, o=options: triplet_margin_loss(x, y, z, **o, reduction="none"),
            (a, pos, neg),
        )


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_finite_gradient_when_anchor_equals_positive(p: float, eps: float) -> None:
    a = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    pos = a.detach().clone().requires_grad_(True)
    neg = (a.detach() + 0.1).requires_grad_(True)  # inside the margin: the loss is active
    loss = triplet_margin_loss(a, pos, neg, p=p, eps=eps)
    assert loss.item() > 0
    for grad in _grads(loss, (a, pos, neg)):
        assert torch.isfinite(grad).all()
    if eps == 0.0:
        # d(a, p) = 0 exactly: its gradient is taken as 0, so only the negative term pulls.
        ga, gp, gn = _grads(triplet_margin_loss(a, pos, neg, p=p, eps=0.0), (a, pos, neg))
        assert gp.abs().max() == 0
        torch.testing.assert_close(ga, -gn)


def test_naive_norm_has_nan_gradient_at_zero_distance() -> None:
    """What the care above avoids: sqrt(sum(diff²)) differentiated at a zero difference."""
    a = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    naive = torch.sqrt(((a - a.detach()) ** 2).sum(dim=1)).sum()
    (grad,) = torch.autograd.grad(naive, a)
    assert torch.isnan(grad).all()


def test_eps_is_added_to_the_difference_as_in_torch() -> None:
    """d(a, a) = eps·√D, and d(a, a + 0.5) = 0.5·√D − eps·√D: here 2e-6 each way, D = 4."""
    a = torch.zeros(1, 4, dtype=torch.float64)
    loss = triplet_margin_loss(a, a, a + 0.5, margin=1.0, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([4e-6], dtype=torch.float64), rtol=1e-9, atol=0)
    assert triplet_margin_loss(a, a, a + 0.5, margin=1.0, eps=0.0).item() == 0.0
    torch.testing.assert_close(F.pairwise_distance(a, a), torch.tensor([2e-6], dtype=torch.float64))


def test_swap_uses_the_closer_of_anchor_and_positive() -> None:
    anchor = torch.tensor([[0.0, 0.0]])
    positive = torch.tensor([[1.0, 0.0]])
    negative = torch.tensor([[1.5, 0.0]])  # 1.5 from the anchor, 0.5 from the positive
    plain = triplet_margin_loss(anchor, positive, negative, eps=0.0)
    swapped = triplet_margin_loss(anchor, positive, negative, eps=0.0, swap=True)
    assert plain.item() == pytest.approx(1 + 1 - 1.5)
    assert swapped.item() == pytest.approx(1 + 1 - 0.5)


@pytest.mark.parametrize("swap", [False, True])
def test_equals_pytorch_metric_learning_on_explicit_triplets(swap: bool) -> None:
    """PML with unnormalised L2 distances, the triplets given, a plain mean: eps = 0 here."""
    a, pos, neg = _leaves(15, (9, 4))
    n = a.shape[0]
    embeddings = torch.cat([a, pos, neg])
    triplets = (torch.arange(n), n + torch.arange(n), 2 * n + torch.arange(n))
    pml = PMLTripletMarginLoss(
        margin=0.8,
        swap=swap,
        distance=LpDistance(normalize_embeddings=False),
        reducer=MeanReducer(),
    )
    theirs = pml(embeddings, indices_tuple=triplets)
    ours = triplet_margin_loss(a, pos, neg, margin=0.8, swap=swap, eps=0.0)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grads(ours, (a, pos, neg)), _grads(theirs, (a, pos, neg)))

    # PML's default reducer averages over the non-zero losses only.
    default_reducer = PMLTripletMarginLoss(
        margin=0.8, swap=swap, distance=LpDistance(normalize_embeddings=False)
    )
    per_triplet = triplet_margin_loss(a, pos, neg, margin=0.8, swap=swap, eps=0.0, reduction="none")
    assert 0 < int((per_triplet > 0).sum()) < n
    torch.testing.assert_close(
        default_reducer(embeddings, indices_tuple=triplets),
        per_triplet.sum() / (per_triplet > 0).sum(),
    )


def test_module_repr() -> None:
    assert repr(TripletMarginLoss(margin=0.5, swap=True)) == (
        "TripletMarginLoss(margin=0.5, p=2.0, eps=1e-06, swap=True, reduction='mean')"
    )
    assert repr(TripletMarginLoss(distance=_l1_distance)) == (
        "TripletMarginLoss(margin=1.0, distance=_l1_distance, swap=False, reduction='mean')"
    )
