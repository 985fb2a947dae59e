"""Contrastive loss (Hadsell et al. 2006): the shared contract, the gradient, and PML's mapping."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss
from pytorch_metric_learning.reducers import SumReducer
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive.functional import contrastive_loss
from deeplossdive.nn import ContrastiveLoss
from tests.harness import ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import contrastive as oracles

# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Similar pairs close; dissimilar pairs at a random spread, some inside the margin."""
    x1 = torch.randn(shape, generator=gen, dtype=torch.float64)
    spread = 0.05 + 0.75 * torch.rand(shape[0], 1, generator=gen, dtype=torch.float64)
    x2 = x1 + spread * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.randint(2, (shape[0],), generator=gen)
    return x1.to(dtype), x2.to(dtype), target


def _saturate(inputs: Inputs) -> Inputs:
    """Values ±100: similar pairs up to 50 apart per coordinate; dissimilar pairs identical
    (distance 0, inside the margin) or opposite (far beyond it)."""
    x1, _, target = inputs
    x1 = torch.where(x1 >= 0, 100.0, -100.0).to(x1.dtype)
    scaled = x1 * torch.linspace(0.5, 1.0, x1.shape[1], dtype=x1.dtype)
    rows = torch.arange(x1.shape[0]).unsqueeze(1)
    dissimilar = torch.where(rows % 2 == 0, x1, -x1)
    return x1, torch.where(target.unsqueeze(1) == 1, scaled, dissimilar), target


def _perfect(inputs: Inputs) -> Inputs:
    """Similar pairs identical, dissimilar pairs 5·√D apart (beyond every margin tested)."""
    x1, _, target = inputs
    return x1, torch.where(target.unsqueeze(1) == 1, x1, x1 + 5.0), target


def _errors() -> tuple[ErrorCase, ...]:
    x1, x2, target = torch.randn(3, 4), torch.randn(3, 4), torch.tensor([1, 0, 1])
    fn = contrastive_loss
    return (
        ErrorCase(
            "int-x1",
            lambda: fn(x1.long(), x2, target),
            TypeError,
            "contrastive_loss: x1 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-x2",
            lambda: fn(x1, x2.long(), target),
            TypeError,
            "contrastive_loss: x2 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "1d-x1",
            lambda: fn(x1[0], x2[0], target[:1]),
            ValueError,
            "contrastive_loss: x1 must have 2 dimensions (N, D), got shape (4,)",
        ),
        ErrorCase(
            "x2-shape",
            lambda: fn(x1, x2[:, :3], target),
            ValueError,
            "contrastive_loss: x2 must have the shape of x1 (3, 4), got (3, 3)",
        ),
        ErrorCase(
            "dtype-mismatch",
            lambda: fn(x1, x2.double(), target),
            TypeError,
            "contrastive_loss: x2 must have the dtype of x1 (torch.float32), "
            "got dtype torch.float64",
        ),
        ErrorCase(
            "target-N1",
            lambda: fn(x1, x2, target.view(3, 1)),
            ValueError,
            "contrastive_loss: target must have shape (3,) (one label per pair), got (3, 1)",
        ),
        ErrorCase(
            "target-complex",
            lambda: fn(x1, x2, target.to(torch.complex64)),
            TypeError,
            "contrastive_loss: target must be a boolean, integer or floating-point tensor of "
            "labels 0 or 1, got dtype torch.complex64",
        ),
        ErrorCase(
            "target-not-a-tensor",
            lambda: fn(x1, x2, [1, 0, 1]),  # type: ignore[arg-type]
            TypeError,
            "contrastive_loss: target must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "target-plus-minus-one",
            lambda: fn(x1, x2, torch.tensor([1, -1, 1])),
            ValueError,
            "contrastive_loss: target must hold labels 0 or 1, got -1",
        ),
        ErrorCase(
            "target-float-half",
            lambda: fn(x1, x2, torch.tensor([1.0, 0.5, 0.0])),
            ValueError,
            "contrastive_loss: target must hold labels 0 or 1, got 0.5",
        ),
        ErrorCase(
            "negative-margin",
            lambda: fn(x1, x2, target, margin=-1.0),
            ValueError,
            "contrastive_loss: margin must be >= 0, got -1.0",
        ),
        ErrorCase(
            "module-margin",
            lambda: ContrastiveLoss(margin=float("nan")),
            ValueError,
            "ContrastiveLoss: margin must be >= 0, got nan",
        ),
    )


CONTRASTIVE = LossSpec(
    function=contrastive_loss,
    module=ContrastiveLoss,
    oracle=oracles.contrastive,
    make_inputs=_inputs,
    shapes=((6, 8), (10, 3)),
    options=({"margin": 1.0}, {"margin": 0.5}, {"margin": 2.0}, {"margin": 0.0}),
    saturate=_saturate,
    perfect=_perfect,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestContrastiveLoss(LossContract):
    spec = CONTRASTIVE


def _leaves(seed: int, shape: tuple[int, int] = (12, 5)) -> tuple[Tensor, Tensor, Tensor]:
    x1, x2, target = _inputs(shape, torch.float64, torch.Generator().manual_seed(seed))
    return x1.requires_grad_(True), x2.requires_grad_(True), target


def test_gradcheck_second_embedding() -> None:
    x1, x2, target = _leaves(20, (8, 4))
    for margin in (0.5, 1.0, 2.0):
        assert torch.autograd.gradcheck(
            lambda a, b, m=margin: contrastive_loss(a, b, target, margin=m, reduction="none"),
            (x1, x2),
        )


def test_gradient_formula() -> None:
    """∂ℓ/∂x1 = y·(x1 − x2) − (1 − y)·max(0, m − d)·(x1 − x2)/d, and ∂ℓ/∂x2 = −∂ℓ/∂x1."""
    x1, x2, target = _leaves(21, (40, 6))
    margin = 1.5
    g1, g2 = torch.autograd.grad(
        contrastive_loss(x1, x2, target, margin=margin, reduction="sum"), (x1, x2)
    )
    diff = (x1 - x2).detach()
    d = diff.norm(dim=1, keepdim=True)
    y = target.unsqueeze(1).double()
    expected = y * diff - (1 - y) * torch.clamp_min(margin - d, 0) * diff / d
    torch.testing.assert_close(g1, expected)
    torch.testing.assert_close(g2, -expected)
    assert 0 < int(((1 - y) * (d < margin)).sum()) < int((1 - y).sum())  # both regimes present


def test_identical_embeddings_give_finite_gradients() -> None:
    x1 = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    target = torch.tensor([1, 0])  # a similar pair and a dissimilar pair, each at d = 0
    loss = contrastive_loss(x1, x2, target, margin=2.0, reduction="none")
    torch.testing.assert_close(loss.detach(), torch.tensor([0.0, 2.0], dtype=torch.float64))
    g1, g2 = torch.autograd.grad(loss.sum(), (x1, x2))
    assert torch.isfinite(g1).all()
    assert torch.isfinite(g2).all()
    # Similar: the exact gradient 0. Dissimilar: no direction to push in; taken as 0.
    assert g1.abs().max() == 0
    assert g2.abs().max() == 0
    # The naive formula from the norm is NaN there.
    naive = 0.5 * torch.clamp_min(2.0 - torch.sqrt(((x1 - x2) ** 2).sum(dim=1)), 0) ** 2
    (g_naive,) = torch.autograd.grad(naive.sum(), x1)
    assert torch.isnan(g_naive).all()


def test_paper_labels_are_the_opposite() -> None:
    """Labels of the paper (Y = 0 similar) passed as they are train the embedding backwards."""
    x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    x2 = torch.tensor([[0.1, 0.0], [3.0, 0.0]])  # a close pair and a far pair
    same_class = torch.tensor([1, 0])  # the close pair is the similar one
    right = contrastive_loss(x1, x2, same_class, reduction="none")
    paper_y = 1 - same_class  # the paper's Y for the same pairs
    wrong = contrastive_loss(x1, x2, paper_y, reduction="none")
    torch.testing.assert_close(right, torch.tensor([0.005, 0.0]))
    torch.testing.assert_close(wrong, torch.tensor([0.405, 4.5]))
    torch.testing.assert_close(contrastive_loss(x1, x2, 1 - paper_y), right.mean())


@pytest.mark.parametrize("label_dtype", [torch.bool, torch.int64, torch.uint8, torch.float32])
def test_label_dtypes(label_dtype: torch.dtype) -> None:
    x1, x2, target = _leaves(22)
    torch.testing.assert_close(
        contrastive_loss(x1, x2, target.to(label_dtype)), contrastive_loss(x1, x2, target)
    )


def test_value_checks_switch() -> None:
    x1, x2 = torch.zeros(2, 3), torch.ones(2, 3)
    with value_checks(False):
        # With the checks off, a label other than 1 counts as dissimilar.
        loss = contrastive_loss(x1, x2, torch.tensor([2, 0]), margin=2.0, reduction="none")
    expected = 0.5 * (2.0 - 3**0.5) ** 2
    torch.testing.assert_close(loss, torch.tensor([expected, expected]))
    with pytest.raises(ValueError, match="must hold labels 0 or 1, got 2"):
        contrastive_loss(x1, x2, torch.tensor([2, 0]))


@pytest.mark.parametrize("similar", [True, False])
def test_one_pair_is_half_the_square_of_pytorch_metric_learning(similar: bool) -> None:
    """A batch of 2 embeddings is one pair: ours = ½ · PML², PML with pos_margin 0, neg_margin m,
    unnormalised L2 distances."""
    gen = torch.Generator().manual_seed(23)
    pair = (0.3 * torch.randn(2, 5, generator=gen, dtype=torch.float64)).requires_grad_(True)
    labels = torch.tensor([0, 0]) if similar else torch.tensor([0, 1])
    pml = PMLContrastiveLoss(
        pos_margin=0.0, neg_margin=1.2, distance=LpDistance(normalize_embeddings=False)
    )
    theirs = 0.5 * pml(pair, labels) ** 2
    ours = contrastive_loss(pair[:1], pair[1:], torch.tensor([int(similar)]), margin=1.2)
    assert ours.item() > 0
    torch.testing.assert_close(ours, theirs)
    (g_ours,) = torch.autograd.grad(ours, pair)
    (g_theirs,) = torch.autograd.grad(theirs, pair)
    torch.testing.assert_close(g_ours, g_theirs)


def test_pytorch_metric_learning_terms_are_unsquared() -> None:
    """On explicit pairs PML's per-pair term is √(2ℓ): its sum (SumReducer) is Σ √(2ℓ_n), and its
    default reducer averages the non-zero terms of the similar and of the dissimilar pairs
    separately, then adds the two averages."""
    x1, x2, target = _inputs((10, 4), torch.float64, torch.Generator().manual_seed(24))
    n = x1.shape[0]
    rows = torch.arange(n)
    similar, dissimilar = rows[target == 1], rows[target == 0]
    x2[dissimilar[0]] += 5.0  # one dissimilar pair beyond the margin
    x1.requires_grad_(True)
    x2.requires_grad_(True)
    pairs = (similar, n + similar, dissimilar, n + dissimilar)
    embeddings = torch.cat([x1, x2])
    distance = LpDistance(normalize_embeddings=False)
    ours = contrastive_loss(x1, x2, target, reduction="none")
    terms = torch.sqrt(2 * ours)

    summed = PMLContrastiveLoss(distance=distance, reducer=SumReducer())
    torch.testing.assert_close(summed(embeddings, indices_tuple=pairs), terms.sum())

    default = PMLContrastiveLoss(distance=distance)(embeddings, indices_tuple=pairs)
    sim_terms, dis_terms = terms[target == 1], terms[target == 0]
    assert (dis_terms == 0).any()  # some dissimilar pairs beyond the margin: left out
    expected = sim_terms[sim_terms > 0].mean() + dis_terms[dis_terms > 0].mean()
    torch.testing.assert_close(default, expected)


def test_module_repr() -> None:
    assert repr(ContrastiveLoss(margin=2.0)) == "ContrastiveLoss(margin=2.0, reduction='mean')"
