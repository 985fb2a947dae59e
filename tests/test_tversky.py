"""Tversky and focal Tversky loss: the shared contract, the identities with Dice (α = β = ½) and
Jaccard (α = β = 1), and parity with MONAI, kornia and segmentation_models_pytorch. Inputs and
hooks come from `test_dice.py`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kornia.losses
import pytest
import torch
import torch.nn.functional as F
from monai.losses.tversky import TverskyLoss as MonaiTverskyLoss
from torch import Tensor

from deeplossdive.functional import (
    dice_loss,
    jaccard_loss,
    sigmoid_dice_loss,
    sigmoid_jaccard_loss,
    sigmoid_tversky_loss,
    tversky_loss,
)
from deeplossdive.nn import SigmoidTverskyLoss, TverskyLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
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


def tversky_errors(
    function: Callable[..., Tensor], module: Callable[..., Any], inputs: Inputs
) -> tuple[ErrorCase, ...]:
    name, module_name = function.__name__, module.__name__
    return (
        ErrorCase(
            "zero-alpha",
            lambda: function(*inputs, alpha=0.0),
            ValueError,
            f"{name}: alpha must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "negative-beta",
            lambda: function(*inputs, beta=-0.5),
            ValueError,
            f"{name}: beta must be a finite number > 0, got -0.5",
        ),
        ErrorCase(
            "zero-gamma",
            lambda: function(*inputs, gamma=0.0),
            ValueError,
            f"{name}: gamma must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "string-alpha",
            lambda: function(*inputs, alpha="0.3"),
            TypeError,
            f"{name}: alpha must be a real number, got str",
        ),
        ErrorCase(
            "module-gamma",
            lambda: module(gamma=float("inf")),
            ValueError,
            f"{module_name}: gamma must be a finite number > 0, got inf",
        ),
    )


_CLASS_INPUTS = (torch.randn(2, 3, 4), torch.tensor([[0, 1, 2, 0], [2, 2, 1, 0]]))
_MASK_INPUTS = (torch.randn(2, 1, 4), torch.ones(2, 1, 4))

TVERSKY = LossSpec(
    function=tversky_loss,
    module=TverskyLoss,
    oracle=oracles.tversky,
    make_inputs=class_inputs,
    shapes=SOFTMAX_SHAPES,
    options=(
        {},
        {"alpha": 0.3, "beta": 0.7, "gamma": 0.75},
        {"aggregation": "batch", "alpha": 1.0, "beta": 1.0, "gamma": 2.0},
        {"include_background": False, "alpha": 0.7, "beta": 0.3, "smooth": 1.0, "gamma": 1.5},
        {"aggregation": "batch", "empty": "ignore", "gamma": 0.5, "smooth": 0.1},
    ),
    saturate=class_saturate,
    perfect=class_perfect,
    counted=counted(oracles.tversky),
    ignore=class_ignore,
    errors=softmax_errors(tversky_loss, TverskyLoss)
    + tversky_errors(tversky_loss, TverskyLoss, _CLASS_INPUTS),
    low_precision_tol=LOW_PRECISION_TOL,
)

SIGMOID_TVERSKY = LossSpec(
    function=sigmoid_tversky_loss,
    module=SigmoidTverskyLoss,
    oracle=oracles.sigmoid_tversky,
    make_inputs=mask_inputs,
    shapes=SIGMOID_SHAPES,
    options=(
        {},
        {"alpha": 0.3, "beta": 0.7, "gamma": 0.75},
        {"aggregation": "batch", "gamma": 2.0, "empty": "zero"},
        {"alpha": 2.0, "beta": 0.5, "smooth": 1.0, "empty": "ignore"},
    ),
    saturate=mask_saturate,
    perfect=mask_perfect,
    soft_perfect=mask_soft_perfect,
    counted=counted(oracles.sigmoid_tversky),
    errors=sigmoid_errors(sigmoid_tversky_loss, SigmoidTverskyLoss)
    + tversky_errors(sigmoid_tversky_loss, SigmoidTverskyLoss, _MASK_INPUTS),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestTverskyLoss(LossContract):
    spec = TVERSKY


class TestSigmoidTverskyLoss(LossContract):
    spec = SIGMOID_TVERSKY


# --- identities: values and gradients ------------------------------------------------------------


def _value_and_grad(
    function: Callable[..., Tensor], logits: Tensor, target: Tensor, **kwargs: Any
) -> tuple[Tensor, Tensor]:
    logits = logits.detach().clone().requires_grad_(True)
    value = function(logits, target, **kwargs)
    return value.detach(), grad_of(value.sum(), logits)


IDENTITIES = [
    # (tversky form, other loss, alpha = beta, smoothing of tversky / smoothing of the other)
    (tversky_loss, dice_loss, 0.5, 0.5),
    (tversky_loss, jaccard_loss, 1.0, 1.0),
    (sigmoid_tversky_loss, sigmoid_dice_loss, 0.5, 0.5),
    (sigmoid_tversky_loss, sigmoid_jaccard_loss, 1.0, 1.0),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
@pytest.mark.parametrize("smooth", [0.0, 1e-5, 1.0])
@pytest.mark.parametrize(
    ("tversky", "other", "weight", "smooth_ratio"),
    IDENTITIES,
    ids=["dice", "jaccard", "sigmoid-dice", "sigmoid-jaccard"],
)
def test_tversky_identities(
    tversky: Callable[..., Tensor],
    other: Callable[..., Tensor],
    weight: float,
    smooth_ratio: float,
    smooth: float,
    aggregation: str,
    reduction: str,
) -> None:
    """α = β = ½ is Dice (smoothing halved: (2TP + s)/(… + s) = (TP + s/2)/(… + s/2)); α = β = 1
    is Jaccard (same smoothing). Values and gradients, every aggregation and reduction."""
    if tversky is tversky_loss:
        logits, target = class_inputs(
            (3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(50)
        )
        target[0, 0] = -100
    else:
        logits, target = mask_inputs((3, 2, 5, 6), torch.float64, torch.Generator().manual_seed(51))
    common = {"aggregation": aggregation, "reduction": reduction}
    value, grad = _value_and_grad(
        tversky, logits, target, alpha=weight, beta=weight, smooth=smooth * smooth_ratio, **common
    )
    expected, expected_grad = _value_and_grad(other, logits, target, smooth=smooth, **common)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)


def test_dice_with_unhalved_smoothing_differs() -> None:
    """The identity needs the smoothing halved: with the same s = 1 the two differ."""
    logits, target = class_inputs((2, 3, 4, 5), torch.float64, torch.Generator().manual_seed(52))
    same_s = tversky_loss(logits, target, smooth=1.0)
    assert abs(same_s - dice_loss(logits, target, smooth=1.0)) > 1e-3
    torch.testing.assert_close(
        tversky_loss(logits, target, smooth=0.5), dice_loss(logits, target, smooth=1.0)
    )


@pytest.mark.parametrize("gamma", [0.5, 0.75, 2.0])
def test_focal_exponent_is_the_power_of_the_tversky_loss(gamma: float) -> None:
    logits, target = class_inputs((3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(53))
    kwargs: dict[str, Any] = {"alpha": 0.3, "beta": 0.7, "reduction": "none"}
    plain = tversky_loss(logits, target, **kwargs)
    torch.testing.assert_close(tversky_loss(logits, target, gamma=gamma, **kwargs), plain**gamma)


def test_focal_gradient_is_zero_not_nan_at_a_perfect_entry() -> None:
    """float32, ±100 logits: 1 − TI is exactly 0; (1 − TI)^0.75 has an infinite slope there."""
    target = torch.tensor([[[0, 1, 1, 0]]])
    logits = (200.0 * F.one_hot(target, 2).movedim(-1, 1) - 100.0).float().requires_grad_(True)
    loss = tversky_loss(logits, target, gamma=0.75, smooth=0.0)
    assert loss.item() == 0.0
    assert torch.isfinite(grad_of(loss, logits)).all()


def test_beta_above_alpha_punishes_misses_more() -> None:
    """Two misses (TP = 2, FN = 2) and two false alarms (TP = 2, FP = 2) tie under Dice; with
    β > α the misses cost more."""
    hit, miss = 30.0, -30.0
    target_a = torch.tensor([[[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]])
    misses = torch.tensor([[[hit, hit, miss, miss, miss, miss, miss, miss]]])
    target_b = torch.tensor([[[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]])
    false_alarms = torch.tensor([[[hit, hit, hit, hit, miss, miss, miss, miss]]])
    recall_minded: dict[str, Any] = {"alpha": 0.3, "beta": 0.7, "smooth": 0.0}
    missed = sigmoid_tversky_loss(misses, target_a, **recall_minded)
    alarmed = sigmoid_tversky_loss(false_alarms, target_b, **recall_minded)
    assert missed.item() == pytest.approx(1 - 2 / 3.4, abs=1e-3)
    assert alarmed.item() == pytest.approx(1 - 2 / 2.6, abs=1e-3)
    torch.testing.assert_close(
        sigmoid_dice_loss(misses, target_a, smooth=0.0),
        sigmoid_dice_loss(false_alarms, target_b, smooth=0.0),
    )


@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
@pytest.mark.parametrize("smooth", [0.0, 1e-5])
@pytest.mark.parametrize("empty", ["one", "zero", "ignore", "ignore_absent"])
def test_empty_policy(empty: str, smooth: float, aggregation: str) -> None:
    extra = {"alpha": 0.3, "beta": 0.7, "gamma": 0.75}
    check_empty_policy(
        tversky_loss, oracles.tversky, empty_class_inputs(), empty, smooth, aggregation, extra
    )
    check_empty_policy(
        sigmoid_tversky_loss,
        oracles.sigmoid_tversky,
        empty_mask_inputs(),
        empty,
        smooth,
        aggregation,
        extra,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
def test_unsmoothed_and_flat_inputs_match_oracle(reduction: str, aggregation: str) -> None:
    gen = torch.Generator().manual_seed(54)
    kwargs: dict[str, Any] = {
        "smooth": 0.0,
        "aggregation": aggregation,
        "reduction": reduction,
        "alpha": 0.2,
        "beta": 0.9,
        "gamma": 1.3,
    }
    for shape in ((3, 4, 7), (6, 3)):
        logits, target = class_inputs(shape, torch.float64, gen)
        torch.testing.assert_close(
            tversky_loss(logits, target, **kwargs), oracles.tversky(logits, target, **kwargs)
        )
        logits, masks = mask_inputs(shape, torch.float64, gen)
        masks[0] = 0.35
        torch.testing.assert_close(
            sigmoid_tversky_loss(logits, masks, **kwargs),
            oracles.sigmoid_tversky(logits, masks, **kwargs),
        )


def test_module_reprs() -> None:
    assert repr(TverskyLoss(alpha=0.3, beta=0.7, gamma=0.75)) == (
        "TverskyLoss(alpha=0.3, beta=0.7, gamma=0.75, smooth=1e-05, include_background=True, "
        "aggregation='per_image', ignore_index=-100, empty='one', reduction='mean')"
    )
    assert repr(SigmoidTverskyLoss(aggregation="batch")) == (
        "SigmoidTverskyLoss(alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-05, "
        "aggregation='batch', empty='one', reduction='mean')"
    )


# --- parity --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_matches_monai(reduction: str, batch: bool, include_background: bool) -> None:
    logits, target = class_inputs((3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(55))
    theirs = MonaiTverskyLoss(
        softmax=True,
        to_onehot_y=True,
        include_background=include_background,
        alpha=0.3,
        beta=0.7,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        batch=batch,
        reduction=reduction,
    )
    logits.requires_grad_(True)
    expected = theirs(logits, target.unsqueeze(1))
    ours = tversky_loss(
        logits,
        target,
        alpha=0.3,
        beta=0.7,
        include_background=include_background,
        aggregation="batch" if batch else "per_image",
        reduction=reduction,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(ours, expected.reshape(ours.shape))
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))


def test_matches_monai_sigmoid() -> None:
    logits, masks = mask_inputs((3, 2, 5, 6), torch.float64, torch.Generator().manual_seed(56))
    theirs = MonaiTverskyLoss(sigmoid=True, alpha=0.7, beta=0.3, reduction="none")
    ours = sigmoid_tversky_loss(logits, masks, alpha=0.7, beta=0.3, reduction="none")
    torch.testing.assert_close(ours, theirs(logits, masks).reshape(ours.shape))


def test_matches_kornia_when_every_class_is_present() -> None:
    target = every_class_in_every_image(3, 4, seed=57)
    gen = torch.Generator().manual_seed(58)
    logits = torch.randn(3, 4, 5, 6, dtype=torch.float64, generator=gen)
    theirs = kornia.losses.tversky_loss(logits, target, alpha=0.3, beta=0.7)
    torch.testing.assert_close(
        tversky_loss(logits, target, alpha=0.3, beta=0.7, smooth=0.0), theirs
    )


def test_kornia_leaves_out_absent_classes() -> None:
    """A class absent from an image's target: kornia drops it, ours scores its false positives."""
    target = every_class_in_every_image(2, 3, seed=59)
    target[0][target[0] == 2] = 1
    gen = torch.Generator().manual_seed(60)
    logits = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=gen)
    theirs = kornia.losses.tversky_loss(logits, target, alpha=0.5, beta=0.5, eps=0.0)
    ours = tversky_loss(logits, target, smooth=0.0, reduction="none")
    assert ours[0, 2].item() == 1.0
    torch.testing.assert_close(theirs, (ours[0, :2].mean() + ours[1].mean()) / 2)
    # empty="ignore_absent" drops it too: kornia's value is then the mean over the images of
    # each image's mean over its kept entries.
    kept = tversky_loss(logits, target, smooth=0.0, empty="ignore_absent", reduction="none")
    present = F.one_hot(target, 3).sum(dim=(1, 2)) > 0
    assert kept[0, 2].item() == 0.0
    assert present.sum().item() == 5
    torch.testing.assert_close(theirs, (kept.sum(dim=1) / present.sum(dim=1)).mean())


def smp_soft_tversky_score(
    output: Tensor,
    target: Tensor,
    alpha: float,
    beta: float,
    smooth: float,
    eps: float,
    dims: tuple[int, ...],
) -> Tensor:
    """segmentation_models_pytorch/losses/_functional.py, `soft_tversky_score`, literally."""
    intersection = torch.sum(output * target, dim=dims)  # TP
    fp = torch.sum(output * (1.0 - target), dim=dims)
    fn = torch.sum((1 - output) * target, dim=dims)
    tversky_score = (intersection + smooth) / (
        intersection + alpha * fp + beta * fn + smooth
    ).clamp_min(eps)
    return tversky_score  # noqa: RET504 (SMP's code, literally)


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_matches_smp_when_every_class_is_in_the_batch(smooth: float) -> None:
    """SMP's `TverskyLoss(mode="multiclass", gamma=1)`: batch aggregation."""
    target = every_class_in_every_image(3, 4, seed=61)
    gen = torch.Generator().manual_seed(62)
    logits = torch.randn(3, 4, 5, 6, dtype=torch.float64, generator=gen)
    theirs = smp_multiclass_loss(
        lambda o, t: smp_soft_tversky_score(o, t, 0.3, 0.7, smooth, 1e-7, (0, 2)), logits, target
    )
    ours = tversky_loss(logits, target, alpha=0.3, beta=0.7, smooth=smooth, aggregation="batch")
    torch.testing.assert_close(ours, theirs)


def test_smp_raises_the_class_mean_to_gamma() -> None:
    """SMP's `aggregate_loss` is `loss.mean() ** gamma`: the exponent after the class mean,
    where the focal Tversky loss (and ours) raises each class's loss. One class: the same; several:
    not."""
    target = every_class_in_every_image(3, 4, seed=63)
    gen = torch.Generator().manual_seed(64)
    logits = torch.randn(3, 4, 5, 6, dtype=torch.float64, generator=gen)
    score = lambda o, t: smp_soft_tversky_score(o, t, 0.3, 0.7, 0.0, 1e-7, (0, 2))  # noqa: E731
    smp = smp_multiclass_loss(score, logits, target) ** 0.75
    kwargs: dict[str, Any] = {"alpha": 0.3, "beta": 0.7, "smooth": 0.0, "aggregation": "batch"}
    ours = tversky_loss(logits, target, gamma=0.75, **kwargs)
    per_class = tversky_loss(logits, target, reduction="none", **kwargs)
    torch.testing.assert_close(smp, per_class.mean() ** 0.75)
    torch.testing.assert_close(ours, (per_class**0.75).mean())
    assert abs(ours - smp) > 1e-4
    # Binary mode, one channel: the two agree.
    masks = (target == 1).double().unsqueeze(1)
    binary = F.logsigmoid(logits[:, :1]).exp().view(3, 1, -1)
    smp_binary = (
        1 - smp_soft_tversky_score(binary, masks.view(3, 1, -1), 0.3, 0.7, 0.0, 1e-7, (0, 2))
    ).mean() ** 0.75
    torch.testing.assert_close(
        sigmoid_tversky_loss(logits[:, :1], masks, gamma=0.75, **kwargs), smp_binary
    )


@pytest.mark.parametrize("batch", [False, True])
def test_matches_monai_soft_label_on_soft_targets(batch: bool) -> None:
    logits, masks = soft_mask_inputs((3, 2, 5, 6), seed=82)
    theirs = MonaiTverskyLoss(
        sigmoid=True, alpha=0.7, beta=0.3, soft_label=True, batch=batch, reduction="none"
    )
    ours = sigmoid_tversky_loss(
        logits,
        masks,
        alpha=0.7,
        beta=0.3,
        aggregation="batch" if batch else "per_image",
        reduction="none",
    )
    expected = theirs(logits, masks).reshape(ours.shape)
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))
