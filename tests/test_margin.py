"""torch.nn's margin losses: the shared contract for all five, parity with torch, page claims."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import Reduction, value_checks
from deeplossdive.functional import (
    binary_cross_entropy_with_logits,
    hinge_embedding_loss,
    hinge_loss,
    margin_ranking_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
)
from deeplossdive.nn import (
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    SoftMarginLoss,
)
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.inputs import (
    LOW_PRECISION_TOL,
    class_weights,
    mask_inputs,
    mask_soft_perfect,
    multi_hot_saturate,
)
from tests.oracles import margin as oracles
from tests.syncs import NoSync

SHAPES = ((8,), (2, 3, 4, 5))
MATRIX_SHAPES = ((4, 3), (8, 6))

# The margins the specs use. A hinge has a kink where its argument is 0; finite differences
# straddling it disagree with autograd, so inputs keep every argument at least 0.05 away from 0.
MARGINS = (0.0, 0.5, 1.0, 2.0)
KINK_GAP, NUDGE = 0.05, 0.1


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _signs(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return (2 * torch.randint(2, shape, generator=gen) - 1).to(torch.float64)


# --- margin_ranking_loss ----------------------------------------------------------------------


def _ranking_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    input1 = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    input2 = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = _signs(shape, gen)
    for margin in MARGINS:  # ascending: a nudge lands between two margins, never on the next
        near = (margin - target * (input1 - input2)).abs() < KINK_GAP
        input1 = torch.where(near, input1 + NUDGE * target, input1)
    return input1.to(dtype), input2.to(dtype), target.to(dtype)


def _ranking_saturate(inputs: Inputs) -> Inputs:
    input1, input2, target = inputs
    saturated = torch.where(input1 > 0, 100.0, -100.0).to(input1.dtype)
    saturated.view(-1)[0] = 100.0 * target.view(-1)[0]  # right, by far
    saturated.view(-1)[1] = -100.0 * target.view(-1)[1]  # wrong, by far
    return saturated, input2, target


def _ranking_perfect(inputs: Inputs) -> Inputs:
    _, input2, target = inputs
    return input2 + 10 * target, input2, target


def _ranking_errors() -> tuple[ErrorCase, ...]:
    fn = "margin_ranking_loss"
    x1, x2, y = torch.randn(4), torch.randn(4), torch.tensor([1.0, -1.0, 1.0, -1.0])
    return (
        ErrorCase(
            "int-input1",
            lambda: margin_ranking_loss(y.long(), x2, y),
            TypeError,
            f"{fn}: input1 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-input2",
            lambda: margin_ranking_loss(x1, y.long(), y),
            TypeError,
            f"{fn}: input2 must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "bool-target",
            lambda: margin_ranking_loss(x1, x2, y > 0),
            TypeError,
            f"{fn}: target must be a floating-point or signed integer tensor of labels -1 or +1, "
            "got dtype torch.bool",
        ),
        ErrorCase(
            "input2-shape",
            lambda: margin_ranking_loss(x1, x2.view(4, 1), y),
            ValueError,
            f"{fn}: input2 must have the shape of input1 (4,), got (4, 1)",
        ),
        ErrorCase(
            "target-shape",
            lambda: margin_ranking_loss(x1, x2, y[:2]),
            ValueError,
            f"{fn}: target must have the shape of input1 (4,), got (2,)",
        ),
        ErrorCase(
            "zero-one-labels",
            lambda: margin_ranking_loss(x1, x2, (y + 1) / 2),
            ValueError,
            f"{fn}: target must hold labels -1 or +1, got 0.0",
        ),
        ErrorCase(
            "negative-margin",
            lambda: margin_ranking_loss(x1, x2, y, margin=-1.0),
            ValueError,
            f"{fn}: margin must be >= 0, got -1.0",
        ),
        ErrorCase(
            "module-margin",
            lambda: MarginRankingLoss(margin=math.nan),
            ValueError,
            "MarginRankingLoss: margin must be >= 0, got nan",
        ),
    )


# --- soft_margin_loss -------------------------------------------------------------------------


def _signed_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    scores = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return scores.to(dtype), _signs(shape, gen).to(dtype)


def _signed_saturate(inputs: Inputs) -> Inputs:
    scores, target = inputs
    saturated = torch.where(scores > 0, 100.0, -100.0).to(scores.dtype)
    saturated.view(-1)[0] = 100.0 * target.view(-1)[0]
    saturated.view(-1)[1] = -100.0 * target.view(-1)[1]
    return saturated, target


def _soft_margin_errors() -> tuple[ErrorCase, ...]:
    fn = "soft_margin_loss"
    x, y = torch.randn(4), torch.tensor([1.0, -1.0, 1.0, -1.0])
    return (
        ErrorCase(
            "int-input",
            lambda: soft_margin_loss(y.long(), y),
            TypeError,
            f"{fn}: input must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "uint8-target",
            lambda: soft_margin_loss(x, torch.ones(4, dtype=torch.uint8)),
            TypeError,
            f"{fn}: target must be a floating-point or signed integer tensor of labels -1 or +1, "
            "got dtype torch.uint8",
        ),
        ErrorCase(
            "target-shape",
            lambda: soft_margin_loss(x.view(4, 1), y),
            ValueError,
            f"{fn}: target must have the shape of input (4, 1), got (4,)",
        ),
        ErrorCase(
            "zero-one-labels",
            lambda: soft_margin_loss(x, torch.tensor([1, 0, 1, 0])),
            ValueError,
            f"{fn}: target must hold labels -1 or +1, got 0",
        ),
    )


# --- hinge_embedding_loss ---------------------------------------------------------------------


def _distance_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    distance = (2 * torch.randn(shape, generator=gen, dtype=torch.float64)).abs()
    for margin in MARGINS:  # the kink of a dissimilar pair is d = Δ (Δ = 0 included)
        near = (distance - margin).abs() < KINK_GAP
        distance = torch.where(near, distance + NUDGE, distance)
    return distance.to(dtype), _signs(shape, gen).to(dtype)


def _distance_saturate(inputs: Inputs) -> Inputs:
    """Distances of 100 (far apart) and 0 (on top of each other), for both labels."""
    distance, target = inputs
    saturated = torch.where(distance > 1.5, 100.0, 0.0).to(distance.dtype)
    saturated.view(-1)[0] = 100.0
    saturated.view(-1)[1] = 0.0
    return saturated, target


def _distance_perfect(inputs: Inputs) -> Inputs:
    distance, target = inputs
    return torch.where(target > 0, 0.0, 10.0).to(distance.dtype), target


def _hinge_embedding_errors() -> tuple[ErrorCase, ...]:
    fn = "hinge_embedding_loss"
    d, y = torch.rand(4), torch.tensor([1.0, -1.0, 1.0, -1.0])
    return (
        ErrorCase(
            "int-input",
            lambda: hinge_embedding_loss(y.long(), y),
            TypeError,
            f"{fn}: input must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "target-shape",
            lambda: hinge_embedding_loss(d, y.view(2, 2)),
            ValueError,
            f"{fn}: target must have the shape of input (4,), got (2, 2)",
        ),
        ErrorCase(
            "zero-one-labels",
            lambda: hinge_embedding_loss(d, (y + 1) / 2),
            ValueError,
            f"{fn}: target must hold labels -1 or +1, got 0.0",
        ),
        ErrorCase(
            "negative-distance",
            lambda: hinge_embedding_loss(torch.tensor([0.5, -3.0, 1.0, 2.0]), y),
            ValueError,
            f"{fn}: input must hold finite values >= 0, got -3.0",
        ),
        ErrorCase(
            "negative-margin",
            lambda: hinge_embedding_loss(d, y, margin=-0.5),
            ValueError,
            f"{fn}: margin must be >= 0, got -0.5",
        ),
        ErrorCase(
            "module-margin",
            lambda: HingeEmbeddingLoss(margin=-1),
            ValueError,
            "HingeEmbeddingLoss: margin must be >= 0, got -1",
        ),
    )


# --- multilabel_soft_margin_loss --------------------------------------------------------------


def _multilabel_soft_errors() -> tuple[ErrorCase, ...]:
    fn = "multilabel_soft_margin_loss"
    x, y = torch.randn(2, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    return (
        ErrorCase(
            "int-logits",
            lambda: multilabel_soft_margin_loss(y.long(), y),
            TypeError,
            f"{fn}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "complex-target",
            lambda: multilabel_soft_margin_loss(x, y.to(torch.complex64)),
            TypeError,
            f"{fn}: target must be a boolean, integer or floating-point tensor of labels 0 or 1, "
            "got dtype torch.complex64",
        ),
        ErrorCase(
            "1d-logits",
            lambda: multilabel_soft_margin_loss(x[0], y[0]),
            ValueError,
            f"{fn}: logits must have 2 dimensions (N, C), got shape (3,)",
        ),
        ErrorCase(
            "target-shape",
            lambda: multilabel_soft_margin_loss(x, y[:, :2]),
            ValueError,
            f"{fn}: target must have the shape of logits (2, 3), got (2, 2)",
        ),
        ErrorCase(
            "weight-shape",
            lambda: multilabel_soft_margin_loss(x, y, weight=torch.ones(2, 3)),
            ValueError,
            f"{fn}: weight must be a 1-D tensor with one weight per class, shape (3,), got (2, 3)",
        ),
        ErrorCase(
            "target-outside-0-1",
            lambda: multilabel_soft_margin_loss(x, 2 * y - 1),
            ValueError,
            f"{fn}: target must hold values in [0, 1], got -1.0",
        ),
        ErrorCase(
            "int-target-2",
            lambda: multilabel_soft_margin_loss(x, torch.tensor([[1, 0, 2], [0, 0, 1]])),
            ValueError,
            f"{fn}: target must hold labels 0 or 1, got 2",
        ),
        ErrorCase(
            "module-int-weight",
            lambda: MultiLabelSoftMarginLoss(weight=torch.ones(3, dtype=torch.long)),
            TypeError,
            "MultiLabelSoftMarginLoss: weight must be a floating-point tensor, got dtype "
            "torch.int64",
        ),
    )


# --- multilabel_margin_loss -------------------------------------------------------------------


def _padded_lists(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    """Per row: k random distinct classes (k from 0 to C), then -1, then junk that is ignored."""
    n, c = shape
    rows = []
    for _ in range(n):
        k = int(torch.randint(c + 1, (1,), generator=gen))
        classes = torch.randperm(c, generator=gen)[:k]
        junk = torch.randint(-1, c, (c,), generator=gen)
        row = torch.cat([classes, torch.tensor([-1]), junk])[:c]
        rows.append(row)
    return torch.stack(rows)


def _is_listed(target: Tensor) -> Tensor:
    c = target.shape[1]
    listed = (target < 0).cumsum(1) == 0
    hits = (target.unsqueeze(2) == torch.arange(c)) & listed.unsqueeze(2)
    return hits.any(1)


def _padded_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    scores = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = _padded_lists(shape, gen)
    is_true = _is_listed(target)
    for _ in range(3):  # keep every 1 - (x_j - x_i) at least 0.05 away from 0
        gap = scores.unsqueeze(2) - scores.unsqueeze(1)  # x_j - x_i
        near = ((gap - 1).abs() < KINK_GAP) & is_true.unsqueeze(2) & ~is_true.unsqueeze(1)
        scores = torch.where(near.any(2), scores + 0.137, scores)
    return scores.to(dtype), target


def _padded_saturate(inputs: Inputs) -> Inputs:
    scores, target = inputs
    saturated = torch.where(scores > 0, 100.0, -100.0).to(scores.dtype)
    saturated[:, 0] = -100.0
    saturated[:, 1] = 100.0
    return saturated, target


def _padded_perfect(inputs: Inputs) -> Inputs:
    scores, target = inputs
    return (10.0 * _is_listed(target)).to(scores.dtype), target


def _multilabel_margin_errors() -> tuple[ErrorCase, ...]:
    fn = "multilabel_margin_loss"
    x, y = torch.randn(2, 3), torch.tensor([[2, -1, 0], [0, 1, -1]])
    return (
        ErrorCase(
            "int-scores",
            lambda: multilabel_margin_loss(y, y),
            TypeError,
            f"{fn}: scores must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-target",
            lambda: multilabel_margin_loss(x, y.float()),
            TypeError,
            f"{fn}: target must be an integer tensor of class indices (torch.int64), got dtype "
            "torch.float32",
        ),
        ErrorCase(
            "1d-scores",
            lambda: multilabel_margin_loss(x[0], y[0]),
            ValueError,
            f"{fn}: scores must have 2 dimensions (N, C), got shape (3,)",
        ),
        ErrorCase(
            "target-shape",
            lambda: multilabel_margin_loss(x, y[:, :2]),
            ValueError,
            f"{fn}: target must have the shape of scores (2, 3), got (2, 2)",
        ),
        ErrorCase(
            "class-too-large",
            lambda: multilabel_margin_loss(x, torch.tensor([[3, -1, 0], [0, 1, -1]])),
            ValueError,
            f"{fn}: target must hold class indices in [0, 3) or -1 (padding), got 3",
        ),
        ErrorCase(
            "padding-minus-two",
            lambda: multilabel_margin_loss(x, torch.tensor([[2, -2, 0], [0, 1, -1]])),
            ValueError,
            f"{fn}: target must hold class indices in [0, 3) or -1 (padding), got -2",
        ),
    )


RANKING = LossSpec(
    function=margin_ranking_loss,
    module=MarginRankingLoss,
    oracle=oracles.margin_ranking,
    make_inputs=_ranking_inputs,
    shapes=SHAPES,
    options=({}, {"margin": 0.5}, {"margin": 1.0}, {"margin": 2.0}),
    saturate=_ranking_saturate,
    perfect=_ranking_perfect,
    errors=_ranking_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("margin=0", "margin=0.5", "margin=1", "margin=2"),
)
SOFT_MARGIN = LossSpec(
    function=soft_margin_loss,
    module=SoftMarginLoss,
    oracle=oracles.soft_margin,
    make_inputs=_signed_inputs,
    shapes=SHAPES,
    options=({},),
    saturate=_signed_saturate,
    errors=_soft_margin_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("default",),
)
HINGE_EMBEDDING = LossSpec(
    function=hinge_embedding_loss,
    module=HingeEmbeddingLoss,
    oracle=oracles.hinge_embedding,
    make_inputs=_distance_inputs,
    shapes=SHAPES,
    options=({}, {"margin": 0.5}, {"margin": 2.0}, {"margin": 0.0}),
    saturate=_distance_saturate,
    perfect=_distance_perfect,
    errors=_hinge_embedding_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("margin=1", "margin=0.5", "margin=2", "margin=0"),
)
MULTILABEL_SOFT_MARGIN = LossSpec(
    function=multilabel_soft_margin_loss,
    module=MultiLabelSoftMarginLoss,
    oracle=oracles.multilabel_soft_margin,
    make_inputs=mask_inputs,
    shapes=MATRIX_SHAPES,
    options=({},),
    saturate=multi_hot_saturate,
    soft_perfect=mask_soft_perfect,
    weights=class_weights("weight"),
    errors=_multilabel_soft_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("default",),
)
MULTILABEL_MARGIN = LossSpec(
    function=multilabel_margin_loss,
    module=MultiLabelMarginLoss,
    oracle=oracles.multilabel_margin,
    make_inputs=_padded_inputs,
    shapes=MATRIX_SHAPES,
    options=({},),
    saturate=_padded_saturate,
    perfect=_padded_perfect,
    errors=_multilabel_margin_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    ids=("default",),
)


class TestMarginRankingLoss(LossContract):
    spec = RANKING


class TestSoftMarginLoss(LossContract):
    spec = SOFT_MARGIN


class TestHingeEmbeddingLoss(LossContract):
    spec = HINGE_EMBEDDING


class TestMultiLabelSoftMarginLoss(LossContract):
    spec = MULTILABEL_SOFT_MARGIN


class TestMultiLabelMarginLoss(LossContract):
    spec = MULTILABEL_MARGIN


# --- parity with torch, float64, values and gradients, every reduction ----------------------


def _grads(value: Tensor, *wrt: Tensor) -> tuple[Tensor, ...]:
    return torch.autograd.grad(value.sum(), wrt)


def _assert_same(ours: Tensor, theirs: Tensor, *wrt: Tensor) -> None:
    torch.testing.assert_close(ours, theirs)
    for mine, reference in zip(_grads(ours, *wrt), _grads(theirs, *wrt), strict=True):
        torch.testing.assert_close(mine, reference)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", MARGINS)
def test_margin_ranking_identical_to_torch(margin: float, reduction: Any) -> None:
    x1, x2, y = _ranking_inputs((2, 3, 4, 5), torch.float64, _seeded(1))
    x1.requires_grad_()
    x2.requires_grad_()
    for target in (y, y.long()):
        ours = margin_ranking_loss(x1, x2, target, margin=margin, reduction=reduction)
        theirs = F.margin_ranking_loss(x1, x2, target, margin=margin, reduction=reduction)
        _assert_same(ours, theirs, x1, x2)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_identical_to_torch(reduction: Any) -> None:
    x, y = _signed_inputs((2, 3, 4, 5), torch.float64, _seeded(2))
    x.requires_grad_()
    _assert_same(
        soft_margin_loss(x, y, reduction=reduction),
        F.soft_margin_loss(x, y, reduction=reduction),
        x,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", MARGINS)
def test_hinge_embedding_identical_to_torch(margin: float, reduction: Any) -> None:
    d, y = _distance_inputs((2, 3, 4, 5), torch.float64, _seeded(3))
    d.requires_grad_()
    ours = hinge_embedding_loss(d, y, margin=margin, reduction=reduction)
    theirs = F.hinge_embedding_loss(d, y, margin=margin, reduction=reduction)
    _assert_same(ours, theirs, d)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_multilabel_soft_margin_identical_to_torch(weighted: bool, reduction: Any) -> None:
    x, y = mask_inputs((8, 6), torch.float64, _seeded(4))
    x.requires_grad_()
    weight = torch.rand(6, generator=_seeded(5), dtype=torch.float64) if weighted else None
    soft = torch.rand(8, 6, generator=_seeded(6), dtype=torch.float64)
    for target in (y, soft):
        ours = multilabel_soft_margin_loss(x, target, weight=weight, reduction=reduction)
        theirs = F.multilabel_soft_margin_loss(x, target, weight=weight, reduction=reduction)
        _assert_same(ours, theirs, x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_identical_to_torch(reduction: Any) -> None:
    x, y = _padded_inputs((16, 7), torch.float64, _seeded(7))
    y = y.clone()
    y[0] = torch.tensor([3, 3, -1, 0, 0, 0, 0])  # a class listed twice counts twice, as in torch
    y[1] = -1  # no true class: 0
    y[2] = torch.arange(7)  # every class true: 0
    x.requires_grad_()
    ours = multilabel_margin_loss(x, y, reduction=reduction)
    theirs = F.multilabel_margin_loss(x, y, reduction=reduction)
    _assert_same(ours, theirs, x)
    with pytest.raises(RuntimeError, match="out of range"):
        F.multilabel_margin_loss(x.detach(), torch.full((16, 7), -2))


# --- what the docstrings and the page state ---------------------------------------------------


@pytest.mark.parametrize("margin", MARGINS)
def test_margin_ranking_against_zero_is_the_hinge(margin: float) -> None:
    s, t = _signed_inputs((50,), torch.float64, _seeded(8))
    s.requires_grad_()
    reductions: tuple[Reduction, ...] = ("none", "mean", "sum")
    for reduction in reductions:
        ranking = margin_ranking_loss(s, torch.zeros_like(s), t, margin=margin, reduction=reduction)
        _assert_same(ranking, hinge_loss(s, t, margin=margin, reduction=reduction), s)


def test_soft_margin_is_bce_with_logits_and_finite_where_torch_overflows() -> None:
    s, t = _signed_inputs((40,), torch.float64, _seeded(9))
    s.requires_grad_()
    bce = binary_cross_entropy_with_logits(s, (t + 1) / 2, reduction="none")
    _assert_same(soft_margin_loss(s, t, reduction="none"), bce, s)
    wrong = torch.tensor([-100.0], requires_grad=True)
    theirs = F.soft_margin_loss(wrong, torch.ones(1))
    assert theirs.item() == math.inf
    ours = soft_margin_loss(wrong, torch.ones(1))
    assert ours.item() == 100.0
    assert _grads(ours, wrong)[0].item() == -1.0


def test_multilabel_soft_margin_is_bce_averaged_over_classes() -> None:
    x, y = mask_inputs((8, 6), torch.float64, _seeded(10))
    per_sample = multilabel_soft_margin_loss(x, y, reduction="none")
    bce = binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(per_sample, bce.mean(dim=1))
    torch.testing.assert_close(
        multilabel_soft_margin_loss(x, y), binary_cross_entropy_with_logits(x, y)
    )
    # Integer and boolean multi-hot targets give the same as floating-point ones.
    torch.testing.assert_close(
        multilabel_soft_margin_loss(x, y.long()), multilabel_soft_margin_loss(x, y)
    )
    torch.testing.assert_close(
        multilabel_soft_margin_loss(x, y.bool()), multilabel_soft_margin_loss(x, y)
    )


def test_multilabel_soft_margin_weights_divide_by_c_not_by_their_sum() -> None:
    x, y = mask_inputs((3, 4), torch.float64, _seeded(11))
    weight = torch.tensor([4.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    bce = binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(
        multilabel_soft_margin_loss(x, y, weight=weight, reduction="none"), bce[:, 0]
    )


def test_multilabel_margin_ignores_what_follows_the_first_minus_one() -> None:
    x = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
    a = multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))
    b = multilabel_margin_loss(x, torch.tensor([[3, 0, -1, -1]]))
    assert a.item() == b.item()
    torch.testing.assert_close(a, torch.tensor(0.85))


def test_hinge_embedding_refuses_scores_that_torch_takes_as_distances() -> None:
    scores = torch.tensor([-3.0, -10.0])
    positives = torch.ones(2)
    assert F.hinge_embedding_loss(scores, positives).item() == -6.5
    with pytest.raises(ValueError, match=r"input must hold finite values >= 0, got -3\.0"):
        hinge_embedding_loss(scores, positives)


def test_empty_batch_mean_is_zero() -> None:
    empty = torch.zeros(0)
    assert margin_ranking_loss(empty, empty, empty).item() == 0.0
    assert soft_margin_loss(empty, empty).item() == 0.0
    assert hinge_embedding_loss(empty, empty).item() == 0.0
    assert multilabel_soft_margin_loss(torch.zeros(0, 3), torch.zeros(0, 3)).item() == 0.0
    no_rows = torch.zeros(0, 3, dtype=torch.long)
    assert multilabel_margin_loss(torch.zeros(0, 3), no_rows).item() == 0.0


def test_modules_repr_and_buffer() -> None:
    assert repr(MarginRankingLoss(margin=1.0)) == "MarginRankingLoss(margin=1.0, reduction='mean')"
    assert repr(HingeEmbeddingLoss()) == "HingeEmbeddingLoss(margin=1.0, reduction='mean')"
    assert repr(SoftMarginLoss(reduction="sum")) == "SoftMarginLoss(reduction='sum')"
    criterion = MultiLabelSoftMarginLoss(weight=torch.ones(3))
    assert "weight" in dict(criterion.named_buffers())


# --- no host sync on the default path (value checks off, as on CUDA) --------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_no_host_sync_with_value_checks_off(reduction: Any) -> None:
    x1, x2, y = _ranking_inputs((4, 5), torch.float32, _seeded(12))
    d, _ = _distance_inputs((4, 5), torch.float32, _seeded(13))
    logits, multi_hot = mask_inputs((4, 5), torch.float32, _seeded(14))
    scores, padded = _padded_inputs((4, 5), torch.float32, _seeded(15))
    first = [x1, d, logits, scores]
    for tensor in first:
        tensor.requires_grad_()
    calls: list[Callable[[], Tensor]] = [
        lambda: margin_ranking_loss(x1, x2, y, margin=1.0, reduction=reduction),
        lambda: soft_margin_loss(x1, y, reduction=reduction),
        lambda: hinge_embedding_loss(d, y, reduction=reduction),
        lambda: multilabel_soft_margin_loss(
            logits, multi_hot, weight=torch.ones(5), reduction=reduction
        ),
        lambda: multilabel_margin_loss(scores, padded, reduction=reduction),
    ]
    with value_checks(False):
        for call in calls:
            with NoSync():
                value = call()
                torch.autograd.grad(value.sum(), first, allow_unused=True)
            assert torch.isfinite(value).all()
