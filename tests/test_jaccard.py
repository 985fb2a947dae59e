"""Jaccard (soft IoU) loss: the shared contract, the empty policy, the Dice relation and parity
with MONAI, kornia and segmentation_models_pytorch. Inputs and hooks come from `test_dice.py`."""

from __future__ import annotations

from typing import Any

import kornia.losses
import pytest
import torch
import torch.nn.functional as F
from monai.losses.dice import DiceLoss as MonaiDiceLoss
from torch import Tensor

from deeplossdive.functional import dice_loss, jaccard_loss, sigmoid_dice_loss, sigmoid_jaccard_loss
from deeplossdive.nn import JaccardLoss, SigmoidJaccardLoss
from tests.harness import REDUCTIONS, LossContract, LossSpec
from tests.inputs import (
    LOW_PRECISION_TOL,
    class_ignore,
    class_inputs,
    class_perfect,
    class_saturate,
    mask_inputs,
    mask_perfect,
    mask_saturate,
    mask_soft_perfect,
)
from tests.oracles import overlap as oracles
from tests.test_dice import (
    SIGMOID_SHAPES,
    SOFTMAX_SHAPES,
    check_empty_policy,
    counted,
    empty_class_inputs,
    empty_mask_inputs,
    every_class_in_every_image,
    grad_of,
    sigmoid_errors,
    smp_multiclass_loss,
    soft_mask_inputs,
    softmax_errors,
)

JACCARD = LossSpec(
    function=jaccard_loss,
    module=JaccardLoss,
    oracle=oracles.jaccard,
    make_inputs=class_inputs,
    shapes=SOFTMAX_SHAPES,
    options=(
        {},
        {"aggregation": "batch"},
        {"include_background": False, "smooth": 1.0},
        {"aggregation": "batch", "include_background": False, "empty": "zero"},
        {"empty": "ignore", "smooth": 0.1},
    ),
    saturate=class_saturate,
    perfect=class_perfect,
    counted=counted(oracles.jaccard),
    ignore=class_ignore,
    errors=softmax_errors(jaccard_loss, JaccardLoss),
    low_precision_tol=LOW_PRECISION_TOL,
)

SIGMOID_JACCARD = LossSpec(
    function=sigmoid_jaccard_loss,
    module=SigmoidJaccardLoss,
    oracle=oracles.sigmoid_jaccard,
    make_inputs=mask_inputs,
    shapes=SIGMOID_SHAPES,
    options=(
        {},
        {"aggregation": "batch"},
        {"smooth": 1.0, "empty": "zero"},
        {"aggregation": "batch", "empty": "ignore", "smooth": 0.1},
    ),
    saturate=mask_saturate,
    perfect=mask_perfect,
    soft_perfect=mask_soft_perfect,
    counted=counted(oracles.sigmoid_jaccard),
    errors=sigmoid_errors(sigmoid_jaccard_loss, SigmoidJaccardLoss),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestJaccardLoss(LossContract):
    spec = JACCARD


class TestSigmoidJaccardLoss(LossContract):
    spec = SIGMOID_JACCARD


@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
@pytest.mark.parametrize("smooth", [0.0, 1e-5])
@pytest.mark.parametrize("empty", ["one", "zero", "ignore", "ignore_absent"])
def test_empty_policy(empty: str, smooth: float, aggregation: str) -> None:
    check_empty_policy(
        jaccard_loss, oracles.jaccard, empty_class_inputs(), empty, smooth, aggregation, {}
    )
    check_empty_policy(
        sigmoid_jaccard_loss,
        oracles.sigmoid_jaccard,
        empty_mask_inputs(),
        empty,
        smooth,
        aggregation,
        {},
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
def test_unsmoothed_and_flat_inputs_match_oracle(reduction: str, aggregation: str) -> None:
    gen = torch.Generator().manual_seed(30)
    kwargs: dict[str, Any] = {"smooth": 0.0, "aggregation": aggregation, "reduction": reduction}
    for shape in ((3, 4, 7), (6, 3)):
        logits, target = class_inputs(shape, torch.float64, gen)
        torch.testing.assert_close(
            jaccard_loss(logits, target, **kwargs), oracles.jaccard(logits, target, **kwargs)
        )
        logits, masks = mask_inputs(shape, torch.float64, gen)
        masks[0] = 0.35
        torch.testing.assert_close(
            sigmoid_jaccard_loss(logits, masks, **kwargs),
            oracles.sigmoid_jaccard(logits, masks, **kwargs),
        )


@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
def test_jaccard_is_dice_over_two_minus_dice(aggregation: str) -> None:
    """J = D / (2 − D) for the same counts (no smoothing): 1 − J = 2(1 − D) / (2 − D)."""
    logits, target = class_inputs((3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(31))
    kwargs = {"smooth": 0.0, "aggregation": aggregation, "reduction": "none"}
    d = 1 - dice_loss(logits, target, **kwargs)  # type: ignore[arg-type]
    torch.testing.assert_close(1 - jaccard_loss(logits, target, **kwargs), d / (2 - d))  # type: ignore[arg-type]
    logits, masks = mask_inputs((3, 2, 5, 6), torch.float64, torch.Generator().manual_seed(32))
    d = 1 - sigmoid_dice_loss(logits, masks, **kwargs)  # type: ignore[arg-type]
    torch.testing.assert_close(1 - sigmoid_jaccard_loss(logits, masks, **kwargs), d / (2 - d))  # type: ignore[arg-type]


def test_jaccard_loss_is_at_least_dice_loss() -> None:
    logits, target = class_inputs((4, 3, 5, 6), torch.float64, torch.Generator().manual_seed(33))
    jaccard = jaccard_loss(logits, target, reduction="none")
    assert (jaccard >= dice_loss(logits, target, reduction="none")).all()


def test_module_reprs() -> None:
    assert repr(JaccardLoss(include_background=False)) == (
        "JaccardLoss(smooth=1e-05, include_background=False, aggregation='per_image', "
        "ignore_index=-100, empty='one', reduction='mean')"
    )
    assert repr(SigmoidJaccardLoss(smooth=1.0)) == (
        "SigmoidJaccardLoss(smooth=1.0, aggregation='per_image', empty='one', reduction='mean')"
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch", [False, True])
def test_matches_monai_jaccard_with_halved_smoothing(reduction: str, batch: bool) -> None:
    """MONAI's `DiceLoss(jaccard=True)` is (2 TP + s_nr) / (2 (TP + FP + FN) + s_dr): our Jaccard
    with smooth = s / 2."""
    logits, target = class_inputs((3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(34))
    theirs = MonaiDiceLoss(
        softmax=True, to_onehot_y=True, jaccard=True, batch=batch, reduction=reduction
    )
    logits.requires_grad_(True)
    expected = theirs(logits, target.unsqueeze(1))
    ours = jaccard_loss(
        logits,
        target,
        smooth=0.5e-5,
        aggregation="batch" if batch else "per_image",
        reduction=reduction,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(ours, expected.reshape(ours.shape))
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))


def test_matches_monai_sigmoid_jaccard() -> None:
    logits, masks = mask_inputs((3, 2, 5, 6), torch.float64, torch.Generator().manual_seed(35))
    theirs = MonaiDiceLoss(sigmoid=True, jaccard=True, reduction="none")
    ours = sigmoid_jaccard_loss(logits, masks, smooth=0.5e-5, reduction="none")
    torch.testing.assert_close(ours, theirs(logits, masks).reshape(ours.shape))


def test_matches_kornia_tversky_one_one_when_every_class_is_present() -> None:
    """kornia has no Jaccard loss; its `tversky_loss(alpha=1, beta=1)` is one (eps=1e-8 in the
    denominator only, classes absent from an image left out)."""
    target = every_class_in_every_image(3, 4, seed=36)
    gen = torch.Generator().manual_seed(37)
    logits = torch.randn(3, 4, 5, 6, dtype=torch.float64, generator=gen)
    theirs = kornia.losses.tversky_loss(logits, target, alpha=1.0, beta=1.0)
    torch.testing.assert_close(jaccard_loss(logits, target, smooth=0.0), theirs)


def smp_soft_jaccard_score(
    output: Tensor, target: Tensor, smooth: float, eps: float, dims: tuple[int, ...]
) -> Tensor:
    """segmentation_models_pytorch/losses/_functional.py, `soft_jaccard_score`, literally."""
    intersection = torch.sum(output * target, dim=dims)
    cardinality = torch.sum(output + target, dim=dims)
    union = cardinality - intersection
    jaccard_score = (intersection + smooth) / (union + smooth).clamp_min(eps)
    return jaccard_score  # noqa: RET504 (SMP's code, literally)


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_matches_smp_when_every_class_is_in_the_batch(smooth: float) -> None:
    target = every_class_in_every_image(3, 4, seed=38)
    gen = torch.Generator().manual_seed(39)
    logits = torch.randn(3, 4, 5, 6, dtype=torch.float64, generator=gen)
    theirs = smp_multiclass_loss(
        lambda o, t: smp_soft_jaccard_score(o, t, smooth, 1e-7, (0, 2)), logits, target
    )
    torch.testing.assert_close(
        jaccard_loss(logits, target, smooth=smooth, aggregation="batch"), theirs
    )


def test_one_hot_helper_is_consistent() -> None:
    """The SMP reproduction sees the same one-hot as ours (guards the parity tests' inputs)."""
    target = every_class_in_every_image(2, 3, seed=40)
    assert (F.one_hot(target, 3).sum((0, 1, 2)) > 0).all()


@pytest.mark.parametrize("batch", [False, True])
def test_matches_monai_soft_label_on_soft_targets(batch: bool) -> None:
    logits, masks = soft_mask_inputs((3, 2, 5, 6), seed=81)
    theirs = MonaiDiceLoss(
        sigmoid=True, jaccard=True, soft_label=True, batch=batch, reduction="none"
    )
    ours = sigmoid_jaccard_loss(
        logits,
        masks,
        smooth=0.5e-5,
        aggregation="batch" if batch else "per_image",
        reduction="none",
    )
    expected = theirs(logits, masks).reshape(ours.shape)
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))
