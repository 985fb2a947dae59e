"""Cosine embedding loss: the shared contract, identity with torch.nn, labels validated to ±1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss
from pytorch_metric_learning.reducers import SumReducer
from torch import Tensor

from deeplossdive import Reduction, value_checks
from deeplossdive.functional import cosine_embedding_loss
from deeplossdive.nn import CosineEmbeddingLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import cosine_embedding as oracles

# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Pairs with cosines spread over (-1, 1); labels ±1 at random."""
    x1 = torch.randn(shape, generator=gen, dtype=torch.float64)
    lean = 2 * torch.rand(shape[0], 1, generator=gen, dtype=torch.float64) - 1
    x2 = lean * x1 + 0.8 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = 2 * torch.randint(2, (shape[0],), generator=gen) - 1
    return x1.to(dtype), x2.to(dtype), target


def _saturate(inputs: Inputs) -> Inputs:
    """Values ±100 in an odd dimension D: every cosine is k/D with k odd, never on a margin."""
    x1, x2, target = inputs
    return (
        torch.where(x1 >= 0, 100.0, -100.0).to(x1.dtype),
        torch.where(x2 >= 0, 100.0, -100.0).to(x2.dtype),
        target,
    )


def _perfect(inputs: Inputs) -> Inputs:
    """Similar pairs aligned (cos = 1), dissimilar pairs opposed (cos = -1 <= every margin)."""
    x1, _, target = inputs
    return x1, target.unsqueeze(1).to(x1.dtype) * x1, target


def _errors() -> tuple[ErrorCase, ...]:
    x1, x2, target = torch.randn(3, 4), torch.randn(3, 4), torch.tensor([1, -1, 1])
    fn = cosine_embedding_loss
    return (
        ErrorCase(
            "int-x1",
            lambda: fn(x1.long(), x2, target),
            TypeError,
            "cosine_embedding_loss: x1 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "1d-x1",
            lambda: fn(x1[0], x2[0], target[:1]),
            ValueError,
            "cosine_embedding_loss: x1 must have 2 dimensions (N, D), got shape (4,)",
        ),
        ErrorCase(
            "x2-shape",
            lambda: fn(x1, x2[:2], target),
            ValueError,
            "cosine_embedding_loss: x2 must have the shape of x1 (3, 4), got (2, 4)",
        ),
        ErrorCase(
            "dtype-mismatch",
            lambda: fn(x1.double(), x2, target),
            TypeError,
            "cosine_embedding_loss: x2 must have the dtype of x1 (torch.float64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "target-N1",
            lambda: fn(x1, x2, target.view(3, 1)),
            ValueError,
            "cosine_embedding_loss: target must have shape (3,) (one label per pair), got (3, 1)",
        ),
        ErrorCase(
            "target-bool",
            lambda: fn(x1, x2, target > 0),
            TypeError,
            "cosine_embedding_loss: target must be a floating-point or signed integer tensor of "
            "labels -1 or +1, got dtype torch.bool",
        ),
        ErrorCase(
            "target-zero-one",
            lambda: fn(x1, x2, torch.tensor([1, 0, 1])),
            ValueError,
            "cosine_embedding_loss: target must hold labels -1 or +1, got 0",
        ),
        ErrorCase(
            "target-float-zero",
            lambda: fn(x1, x2, torch.tensor([1.0, -1.0, 0.0])),
            ValueError,
            "cosine_embedding_loss: target must hold labels -1 or +1, got 0.0",
        ),
        ErrorCase(
            "margin-above-one",
            lambda: fn(x1, x2, target, margin=1.5),
            ValueError,
            "cosine_embedding_loss: margin must be in [-1.0, 1.0], got 1.5",
        ),
        ErrorCase(
            "margin-type",
            lambda: fn(x1, x2, target, margin="0.5"),  # type: ignore[arg-type]
            TypeError,
            "cosine_embedding_loss: margin must be a real number, got str",
        ),
        ErrorCase(
            "negative-eps",
            lambda: fn(x1, x2, target, eps=-1.0),
            ValueError,
            "cosine_embedding_loss: eps must be >= 0, got -1.0",
        ),
        ErrorCase(
            "module-margin",
            lambda: CosineEmbeddingLoss(margin=-2.0),
            ValueError,
            "CosineEmbeddingLoss: margin must be in [-1.0, 1.0], got -2.0",
        ),
    )


COSINE_EMBEDDING = LossSpec(
    function=cosine_embedding_loss,
    module=CosineEmbeddingLoss,
    oracle=oracles.cosine_embedding,
    make_inputs=_inputs,
    shapes=((6, 7), (10, 5)),
    options=({"margin": 0.0}, {"margin": 0.5}, {"margin": -0.3}, {"margin": 0.8, "eps": 0.0}),
    saturate=_saturate,
    perfect=_perfect,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestCosineEmbeddingLoss(LossContract):
    spec = COSINE_EMBEDDING


def _leaves(seed: int, shape: tuple[int, int] = (12, 5)) -> tuple[Tensor, Tensor, Tensor]:
    x1, x2, target = _inputs(shape, torch.float64, torch.Generator().manual_seed(seed))
    return x1.requires_grad_(True), x2.requires_grad_(True), target


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.3, 1.0, -1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_torch(reduction: Reduction, margin: float, dtype: torch.dtype) -> None:
    x1, x2, target = _leaves(30)
    x1, x2 = (x.detach().to(dtype).requires_grad_(True) for x in (x1, x2))
    ours = cosine_embedding_loss(x1, x2, target, margin=margin, reduction=reduction)
    theirs = F.cosine_embedding_loss(x1, x2, target, margin=margin, reduction=reduction)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    grads_ours = torch.autograd.grad(ours.sum(), (x1, x2))
    grads_theirs = torch.autograd.grad(theirs.sum(), (x1, x2))
    torch.testing.assert_close(grads_ours, grads_theirs, rtol=0, atol=0)
    torch.testing.assert_close(
        CosineEmbeddingLoss(margin=margin, reduction=reduction)(x1, x2, target),
        torch.nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)(x1, x2, target),
        rtol=0,
        atol=0,
    )


def test_gradcheck_second_embedding() -> None:
    x1, x2, target = _leaves(31, (8, 5))
    for margin in (0.0, 0.5, -0.3):
        assert torch.autograd.gradcheck(
            lambda a, b, m=margin: cosine_embedding_loss(a, b, target, margin=m, reduction="none"),
            (x1, x2),
        )


def test_torch_silently_scores_label_zero_as_zero() -> None:
    x1, x2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.1]])  # nearly aligned
    assert F.cosine_embedding_loss(x1, x2, torch.tensor([0])).item() == 0.0
    assert F.cosine_embedding_loss(x1, x2, torch.tensor([-1])).item() > 0.99
    with pytest.raises(ValueError, match=r"got 0$"):
        cosine_embedding_loss(x1, x2, torch.tensor([0]))
    with value_checks(False):  # unchecked, anything but +1 is read as -1
        torch.testing.assert_close(
            cosine_embedding_loss(x1, x2, torch.tensor([0])),
            cosine_embedding_loss(x1, x2, torch.tensor([-1])),
        )


def test_zero_embedding_has_a_finite_but_huge_gradient() -> None:
    x1 = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    x2 = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([1, -1])
    ours = cosine_embedding_loss(x1, x2, target, reduction="none")
    theirs = F.cosine_embedding_loss(x1, x2, target, reduction="none")
    torch.testing.assert_close(ours, torch.tensor([1.0, 0.0], dtype=torch.float64))
    g_ours = torch.autograd.grad(ours.sum(), (x1, x2))
    g_theirs = torch.autograd.grad(theirs.sum(), (x1, x2))
    torch.testing.assert_close(g_ours, g_theirs)  # equal up to rounding, at a scale of 1e6
    assert all(torch.isfinite(g).all() for g in g_ours)
    # -unit(x2) / sqrt(eps) = -1e6 on the first coordinate.
    torch.testing.assert_close(g_ours[0][0], torch.tensor([-1e6, 0, 0], dtype=torch.float64))


def test_scale_invariant() -> None:
    x1, x2, target = _leaves(32)
    scale = torch.rand(x1.shape[0], 1, dtype=torch.float64) * 100 + 0.01
    torch.testing.assert_close(
        cosine_embedding_loss(x1 * scale, x2, target, margin=0.2, reduction="none"),
        cosine_embedding_loss(x1, x2, target, margin=0.2, reduction="none"),
    )


def test_equals_pytorch_metric_learning_contrastive_with_cosine_similarity() -> None:
    """PML's ContrastiveLoss(pos_margin=1, neg_margin=m, distance=CosineSimilarity()) is this loss
    per pair: relu(1 - cos) for positives, relu(cos - m) for negatives."""
    x1, x2, target = _leaves(33, (10, 5))
    n = x1.shape[0]
    rows = torch.arange(n)
    similar, dissimilar = rows[target == 1], rows[target == -1]
    pairs = (similar, n + similar, dissimilar, n + dissimilar)
    pml = PMLContrastiveLoss(
        pos_margin=1.0, neg_margin=0.3, distance=CosineSimilarity(), reducer=SumReducer()
    )
    theirs = pml(torch.cat([x1, x2]), indices_tuple=pairs)
    ours = cosine_embedding_loss(x1, x2, target, margin=0.3, reduction="sum")
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(
        torch.autograd.grad(ours, (x1, x2)), torch.autograd.grad(theirs, (x1, x2))
    )


def test_module_repr() -> None:
    assert repr(CosineEmbeddingLoss(margin=0.5)) == (
        "CosineEmbeddingLoss(margin=0.5, eps=1e-12, reduction='mean')"
    )
