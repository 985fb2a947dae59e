"""Hinge losses: the shared contract for both, plus identities with torch.nn's margin losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive.functional import hinge_loss, multiclass_hinge_loss
from deeplossdive.nn import HingeLoss, MulticlassHingeLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.inputs import LOW_PRECISION_TOL, class_perfect, class_saturate
from tests.oracles import hinge as oracles

# Every margin the specs below use. The hinge has a kink where its argument is 0; finite
# differences straddling it disagree with autograd, so inputs keep every argument at least 0.05
# away from 0 (the page's "away from the kink").
MARGINS = (0.0, 0.5, 1.0, 2.0)
KINK_GAP, NUDGE = 0.05, 0.1


def _binary_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    scores = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = (2 * torch.randint(2, shape, generator=gen) - 1).to(torch.float64)
    for margin in MARGINS:  # ascending: a nudge lands between two margins, never on the next
        near = (margin - target * scores).abs() < KINK_GAP
        scores = torch.where(near, scores + NUDGE * target, scores)
    return scores.to(dtype), target.to(dtype)


def _binary_saturate(inputs: Inputs) -> Inputs:
    scores, target = inputs
    saturated = torch.where(scores > 0, 100.0, -100.0).to(scores.dtype)
    # Both regimes for sure: the first element right and confident, the second wrong.
    saturated.view(-1)[0] = 100.0 * target.view(-1)[0]
    saturated.view(-1)[1] = -100.0 * target.view(-1)[1]
    return saturated, target


def _binary_perfect(inputs: Inputs) -> Inputs:
    scores, target = inputs
    return (100.0 * target).to(scores.dtype), target


def _class_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    scores = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.randint(shape[1], (shape[0], *shape[2:]), generator=gen)
    index = target.unsqueeze(1)
    is_target = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, index, True)
    for margin in MARGINS:
        gap = scores.gather(1, index) - scores  # s_y - s_j: the kink of class j is gap == margin
        near = ((gap - margin).abs() < KINK_GAP) & ~is_target
        scores = torch.where(near, scores - NUDGE, scores)
    return scores.to(dtype), target


def _hinge_errors() -> tuple[ErrorCase, ...]:
    scores, target = torch.randn(4), torch.tensor([1.0, -1.0, 1.0, -1.0])
    return (
        ErrorCase(
            "int-scores",
            lambda: hinge_loss(target.long(), target),
            TypeError,
            "hinge_loss: scores must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "bool-target",
            lambda: hinge_loss(scores, target > 0),
            TypeError,
            "hinge_loss: target must be a floating-point or signed integer tensor of labels "
            "-1 or +1, got dtype torch.bool",
        ),
        ErrorCase(
            "uint8-target",
            lambda: hinge_loss(scores, torch.ones(4, dtype=torch.uint8)),
            TypeError,
            "hinge_loss: target must be a floating-point or signed integer tensor of labels "
            "-1 or +1, got dtype torch.uint8",
        ),
        ErrorCase(
            "shape-N1-vs-N",
            lambda: hinge_loss(scores.view(4, 1), target),
            ValueError,
            "hinge_loss: target must have the shape of scores (4, 1), got (4,)",
        ),
        ErrorCase(
            "zero-one-labels",
            lambda: hinge_loss(scores, (target + 1) / 2),
            ValueError,
            "hinge_loss: target must hold labels -1 or +1, got 0.0",
        ),
        ErrorCase(
            "zero-one-int-labels",
            lambda: hinge_loss(scores, torch.tensor([1, 0, 1, 0])),
            ValueError,
            "hinge_loss: target must hold labels -1 or +1, got 0",
        ),
        ErrorCase(
            "negative-margin",
            lambda: hinge_loss(scores, target, margin=-1.0),
            ValueError,
            "hinge_loss: margin must be >= 0, got -1.0",
        ),
        ErrorCase(
            "module-margin",
            lambda: HingeLoss(margin=-0.5),
            ValueError,
            "HingeLoss: margin must be >= 0, got -0.5",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: hinge_loss(scores.tolist(), target),  # type: ignore[arg-type]
            TypeError,
            "hinge_loss: scores must be a torch.Tensor, got list",
        ),
    )


def _multiclass_errors() -> tuple[ErrorCase, ...]:
    scores, target = torch.randn(3, 5), torch.tensor([0, 4, 1])
    return (
        ErrorCase(
            "int-scores",
            lambda: multiclass_hinge_loss(target.view(3, 1).repeat(1, 5), target),
            TypeError,
            "multiclass_hinge_loss: scores must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-target",
            lambda: multiclass_hinge_loss(scores, target.float()),
            TypeError,
            "multiclass_hinge_loss: target must be an integer tensor of class indices "
            "(torch.int64), got dtype torch.float32",
        ),
        ErrorCase(
            "1d-scores",
            lambda: multiclass_hinge_loss(scores[0], target[:1]),
            ValueError,
            "multiclass_hinge_loss: scores must have at least 2 dimensions (N, C, ...), "
            "got shape (5,)",
        ),
        ErrorCase(
            "target-shape",
            lambda: multiclass_hinge_loss(scores, target.view(3, 1)),
            ValueError,
            "multiclass_hinge_loss: target must have shape (3,) (scores' shape without the "
            "class dimension 1), got (3, 1)",
        ),
        ErrorCase(
            "one-class",
            lambda: multiclass_hinge_loss(scores[:, :1], torch.zeros(3, dtype=torch.long)),
            ValueError,
            "multiclass_hinge_loss: scores must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "label-too-large",
            lambda: multiclass_hinge_loss(scores, torch.tensor([0, 5, 1])),
            ValueError,
            "multiclass_hinge_loss: target must hold class indices in [0, 5), got 5",
        ),
        ErrorCase(
            "label-negative",
            lambda: multiclass_hinge_loss(scores, torch.tensor([0, -1, 1])),
            ValueError,
            "multiclass_hinge_loss: target must hold class indices in [0, 5), got -1",
        ),
        ErrorCase(
            "unknown-variant",
            lambda: multiclass_hinge_loss(scores, target, variant="ww"),  # type: ignore[arg-type]
            ValueError,
            "multiclass_hinge_loss: variant must be one of 'weston_watkins', 'crammer_singer', "
            "got 'ww'",
        ),
        ErrorCase(
            "negative-margin",
            lambda: multiclass_hinge_loss(scores, target, margin=-2.0),
            ValueError,
            "multiclass_hinge_loss: margin must be >= 0, got -2.0",
        ),
        ErrorCase(
            "module-variant",
            lambda: MulticlassHingeLoss(variant="one_vs_rest"),  # type: ignore[arg-type]
            ValueError,
            "MulticlassHingeLoss: variant must be one of 'weston_watkins', 'crammer_singer', "
            "got 'one_vs_rest'",
        ),
        ErrorCase(
            "module-margin",
            lambda: MulticlassHingeLoss(margin=-1.0),
            ValueError,
            "MulticlassHingeLoss: margin must be >= 0, got -1.0",
        ),
    )


HINGE = LossSpec(
    function=hinge_loss,
    module=HingeLoss,
    oracle=oracles.hinge,
    make_inputs=_binary_inputs,
    shapes=((8,), (6, 5)),
    options=(
        {"margin": 1.0, "squared": False},
        {"margin": 0.5, "squared": False},
        {"margin": 0.0, "squared": False},
        {"margin": 1.0, "squared": True},
        {"margin": 2.0, "squared": True},
    ),
    saturate=_binary_saturate,
    perfect=_binary_perfect,
    errors=_hinge_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)

MULTICLASS_HINGE = LossSpec(
    function=multiclass_hinge_loss,
    module=MulticlassHingeLoss,
    oracle=oracles.multiclass_hinge,
    make_inputs=_class_inputs,
    shapes=((6, 5), (2, 3, 4, 5)),
    options=(
        {"margin": 1.0, "squared": False, "variant": "weston_watkins"},
        {"margin": 1.0, "squared": True, "variant": "weston_watkins"},
        {"margin": 0.5, "squared": False, "variant": "weston_watkins"},
        {"margin": 1.0, "squared": False, "variant": "crammer_singer"},
        {"margin": 1.0, "squared": True, "variant": "crammer_singer"},
        {"margin": 2.0, "squared": False, "variant": "crammer_singer"},
    ),
    saturate=class_saturate,
    perfect=class_perfect,
    errors=_multiclass_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestHingeLoss(LossContract):
    spec = HINGE


class TestMulticlassHingeLoss(LossContract):
    spec = MULTICLASS_HINGE


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_make_inputs_stay_away_from_the_kinks() -> None:
    for seed in range(20):
        scores, target = _binary_inputs((64,), torch.float64, _seeded(seed))
        for margin in MARGINS:
            assert ((margin - target * scores).abs() >= KINK_GAP - 1e-12).all()
        scores, target = _class_inputs((32, 6), torch.float64, _seeded(seed))
        gap = scores.gather(1, target[:, None]) - scores
        off_target = F.one_hot(target, 6) == 0
        for margin in MARGINS:
            assert ((gap - margin).abs()[off_target] >= KINK_GAP - 1e-12).all()


# --- identities with torch.nn, values and gradients -------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("squared", "p"), [(False, 1), (True, 2)])
@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
def test_weston_watkins_over_c_is_multi_margin_loss(
    reduction: str, squared: bool, p: int, margin: float
) -> None:
    scores, target = _class_inputs((16, 7), torch.float64, _seeded(3))
    scores.requires_grad_(True)
    ours = multiclass_hinge_loss(
        scores,
        target,
        margin=margin,
        squared=squared,
        reduction=reduction,  # type: ignore[arg-type]
    )
    theirs = F.multi_margin_loss(scores, target, p=p, margin=margin, reduction=reduction)
    torch.testing.assert_close(ours / 7, theirs)
    torch.testing.assert_close(_grad(ours.sum() / 7, scores), _grad(theirs.sum(), scores))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 1.0, 2.0])
def test_margin_ranking_against_zero_with_the_labels_is_hinge(
    reduction: str, margin: float
) -> None:
    scores, target = _binary_inputs((32,), torch.float64, _seeded(4))
    scores.requires_grad_(True)
    ours = hinge_loss(scores, target, margin=margin, reduction=reduction)  # type: ignore[arg-type]
    theirs = F.margin_ranking_loss(
        scores, torch.zeros_like(scores), target, margin=margin, reduction=reduction
    )
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours.sum(), scores), _grad(theirs.sum(), scores))


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("variant", ["weston_watkins", "crammer_singer"])
def test_two_classes_is_binary_hinge_on_the_score_difference(squared: bool, variant: str) -> None:
    scores, target = _class_inputs((32, 2), torch.float64, _seeded(5))
    multi = multiclass_hinge_loss(
        scores,
        target,
        squared=squared,
        variant=variant,  # type: ignore[arg-type]
        reduction="none",
    )
    binary = hinge_loss(
        scores[:, 1] - scores[:, 0], 2 * target - 1, squared=squared, reduction="none"
    )
    torch.testing.assert_close(multi, binary)


def test_crammer_singer_is_at_most_weston_watkins() -> None:
    scores, target = _class_inputs((64, 7), torch.float64, _seeded(6))
    for squared in (False, True):
        ww = multiclass_hinge_loss(scores, target, squared=squared, reduction="none")
        cs = multiclass_hinge_loss(
            scores, target, squared=squared, variant="crammer_singer", reduction="none"
        )
        assert (cs <= ww + 1e-12).all()
        assert (ww <= 6 * cs + 1e-12).all()  # each of the C - 1 terms is at most the largest


def test_integer_and_floating_labels_agree() -> None:
    scores, target = _binary_inputs((6, 5), torch.float64, _seeded(7))
    for dtype in (torch.int8, torch.int32, torch.int64, torch.float32):
        torch.testing.assert_close(
            hinge_loss(scores, target.to(dtype), reduction="none"),
            hinge_loss(scores, target, reduction="none"),
        )


# --- the gradients the page states -------------------------------------------------------------


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_hinge_gradient_formula(margin: float) -> None:
    scores, target = _binary_inputs((40,), torch.float64, _seeded(8))
    scores.requires_grad_(True)
    s = scores.detach()
    active = (margin - target * s > 0).double()
    plain = _grad(hinge_loss(scores, target, margin=margin, reduction="sum"), scores)
    torch.testing.assert_close(plain, -target * active)
    squared = _grad(
        hinge_loss(scores, target, margin=margin, squared=True, reduction="sum"), scores
    )
    torch.testing.assert_close(squared, -2 * target * torch.clamp_min(margin - target * s, 0))


def test_weston_watkins_gradient_formula() -> None:
    scores, target = _class_inputs((20, 5), torch.float64, _seeded(9))
    scores.requires_grad_(True)
    s = scores.detach()
    is_target = F.one_hot(target, 5).bool()
    active = ((1.0 - s.gather(1, target[:, None]) + s > 0) & ~is_target).double()
    expected = active - is_target.double() * active.sum(dim=1, keepdim=True)
    torch.testing.assert_close(
        _grad(multiclass_hinge_loss(scores, target, reduction="sum"), scores), expected
    )


# --- the pitfalls the page shows ---------------------------------------------------------------


def _guide_data() -> tuple[Tensor, Tensor]:
    scores = torch.tensor([4.0318] + [-4.0318] * 19)
    target = torch.tensor([1.0] + [-1.0] * 19)
    return scores, target


def test_the_guides_4_78_is_margin_ranking_with_all_ones_labels() -> None:
    scores, target = _guide_data()
    guide = torch.nn.MarginRankingLoss(margin=1.0)(
        scores, torch.zeros_like(scores), torch.ones_like(scores)
    )
    assert abs(guide.item() - 4.7802) < 1e-4
    torch.testing.assert_close(guide, torch.tensor(19 * (1 + 4.0318) / 20))
    # Every score gets label +1: exactly our hinge with the labels thrown away.
    torch.testing.assert_close(guide, hinge_loss(scores, torch.ones_like(scores)))
    assert hinge_loss(scores, target).item() == 0.0


def test_hinge_embedding_loss_is_unbounded_below_on_scores() -> None:
    scores, target = torch.tensor([-3.0, -10.0]), torch.tensor([1.0, 1.0])
    assert F.hinge_embedding_loss(scores, target).item() == -6.5
    assert hinge_loss(scores, target).item() == 7.5


def test_soft_margin_loss_is_bce_with_logits() -> None:
    scores, target = _binary_inputs((6, 5), torch.float64, _seeded(10))
    torch.testing.assert_close(
        F.soft_margin_loss(scores, target),
        F.binary_cross_entropy_with_logits(scores, (target + 1) / 2),
    )


def test_value_checks_switch() -> None:
    scores, zero_one = torch.randn(4), torch.tensor([1.0, 0.0, 1.0, 0.0])
    with value_checks(False):
        hinge_loss(scores, zero_one)  # no sync, no check: a meaningless number
    with pytest.raises(ValueError, match="target must hold labels -1 or \\+1"):
        hinge_loss(scores, zero_one)


def test_empty_target_passes_value_checks() -> None:
    assert hinge_loss(torch.zeros(0), torch.zeros(0), reduction="sum").item() == 0.0


def test_module_reprs() -> None:
    assert repr(HingeLoss()) == "HingeLoss(margin=1.0, squared=False, reduction='mean')"
    assert repr(MulticlassHingeLoss(variant="crammer_singer", reduction="sum")) == (
        "MulticlassHingeLoss(margin=1.0, squared=False, variant='crammer_singer', reduction='sum')"
    )
