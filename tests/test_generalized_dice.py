"""Generalized Dice loss: the shared contract for both forms, the rule for absent classes, the
weights without gradient, and parity with MONAI's `GeneralizedDiceLoss`.

The parity mapping (also on the page):
`generalized_dice_loss(x, y, weight_type=w, smooth=s, include_background=b, reduction=r)` ==
`GeneralizedDiceLoss(softmax=True, to_onehot_y=True, include_background=b, w_type=w,
smooth_nr=s, smooth_dr=s, batch=False, reduction=r)(x, y.unsqueeze(1))` (reshaped: MONAI's
`"none"` is $(N, 1, 1, \\dots)$), for targets without `ignore_index`; and
`sigmoid_generalized_dice_loss(x, g, ...)` == `GeneralizedDiceLoss(sigmoid=True,
soft_label=True, w_type=w, smooth_nr=s, smooth_dr=s, batch=False, reduction=r)(x, g)`
(`soft_label=False`, MONAI's default, equal for hard targets only). MONAI computes the weights
in float32 whatever the input dtype, so float64 values agree to within 1e-8, not to the last bit.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from monai.losses.dice import GeneralizedDiceLoss as MonaiGeneralizedDiceLoss
from torch import nn

from deeplossdive._validation import _as_on_an_accelerator
from deeplossdive.functional import generalized_dice_loss, sigmoid_generalized_dice_loss
from deeplossdive.losses._overlap import sigmoid_statistics, softmax_statistics
from deeplossdive.losses.dice import dice_loss, sigmoid_dice_loss
from deeplossdive.losses.generalized_dice import class_weights
from deeplossdive.nn import GeneralizedDiceLoss, SigmoidGeneralizedDiceLoss
from tests import inputs
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import generalized_dice as oracles
from tests.test_dice import counted, grad_of, sigmoid_errors, softmax_errors

SOFTMAX_SHAPES = ((2, 3, 4, 5), (3, 4, 3, 4, 2))
SIGMOID_SHAPES = ((2, 3, 4, 5), (3, 2, 3, 4, 2))

# The options of the other overlap losses that these two do not take.
NOT_TAKEN = {"aggregation", "empty", "module-aggregation", "module-empty"}


def absent_class_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """`class_inputs` with the last class absent from image 0 and, in a batch of three or more,
    image 2 all background (no class present with `include_background=False`)."""
    logits, target = inputs.class_inputs(shape, dtype, gen)
    last = shape[1] - 1
    target[0] = torch.where(target[0] == last, 0, target[0])
    if shape[0] > 2:
        target[2] = 0
    return logits, target


def absent_channel_inputs(
    shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator
) -> Inputs:
    """`mask_inputs` with the last channel of image 0 empty and, in a batch of three or more,
    image 2 empty in every channel."""
    logits, target = inputs.mask_inputs(shape, dtype, gen)
    target[0, -1] = 0.0
    if shape[0] > 2:
        target[2] = 0.0
    return logits, target


def _errors(function: Any, module: Any, shared: tuple[ErrorCase, ...]) -> tuple[ErrorCase, ...]:
    name, module_name = function.__name__, module.__name__
    logits, target = torch.randn(2, 3, 4), torch.tensor([[0, 1, 2, 0], [2, 2, 1, 0]])
    if "sigmoid" in name:
        target = torch.ones(2, 3, 4)
    choices = "'square', 'simple', 'uniform'"
    return (
        *(case for case in shared if case.id not in NOT_TAKEN),
        ErrorCase(
            "weight-type",
            lambda: function(logits, target, weight_type="log"),
            ValueError,
            f"{name}: weight_type must be one of {choices}, got 'log'",
        ),
        ErrorCase(
            "module-weight-type",
            lambda: module(weight_type="inverse"),
            ValueError,
            f"{module_name}: weight_type must be one of {choices}, got 'inverse'",
        ),
    )


SOFTMAX_OPTIONS: tuple[dict[str, Any], ...] = (
    {},
    {"weight_type": "simple"},
    {"weight_type": "uniform", "smooth": 1.0},
    {"include_background": False},
    {"weight_type": "simple", "include_background": False, "smooth": 0.0},
)
SIGMOID_OPTIONS: tuple[dict[str, Any], ...] = (
    {},
    {"weight_type": "simple", "smooth": 0.0},
    {"weight_type": "uniform", "smooth": 1.0},
)


FORMS: dict[str, tuple[Any, ...]] = {
    "class": (absent_class_inputs, SOFTMAX_SHAPES, SOFTMAX_OPTIONS, softmax_errors),
    "mask": (absent_channel_inputs, SIGMOID_SHAPES, SIGMOID_OPTIONS, sigmoid_errors),
}
"""Per form, by the prefix of its builders in `tests/inputs.py`: the inputs with absent classes,
the shapes, the option sets and the error cases of the other overlap losses of that form."""


def _spec(form: str, function: Any, module: Any, oracle: Any, **extra: Any) -> LossSpec:
    make_inputs, shapes, options, errors = FORMS[form]
    return LossSpec(
        function=function,
        module=module,
        oracle=oracle,
        make_inputs=make_inputs,
        shapes=shapes,
        options=options,
        saturate=getattr(inputs, f"{form}_saturate"),
        perfect=getattr(inputs, f"{form}_perfect"),
        errors=_errors(function, module, errors(function, module)),
        low_precision_tol=inputs.LOW_PRECISION_TOL,
        **extra,
    )


GENERALIZED_DICE = _spec(
    "class",
    generalized_dice_loss,
    GeneralizedDiceLoss,
    oracles.generalized_dice,
    counted=counted(oracles.generalized_dice),
    ignore=inputs.class_ignore,
)
SIGMOID_GENERALIZED_DICE = _spec(
    "mask",
    sigmoid_generalized_dice_loss,
    SigmoidGeneralizedDiceLoss,
    oracles.sigmoid_generalized_dice,
    soft_perfect=inputs.mask_soft_perfect,
)


class TestGeneralizedDiceLoss(LossContract):
    spec = GENERALIZED_DICE


class TestSigmoidGeneralizedDiceLoss(LossContract):
    spec = SIGMOID_GENERALIZED_DICE


# --- the weights ----------------------------------------------------------------------------------


def test_absent_class_gets_the_largest_finite_weight_of_its_image() -> None:
    volume = torch.tensor([[4.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.0]])
    square = class_weights(volume, "square")
    torch.testing.assert_close(
        square, torch.tensor([[1 / 16, 1 / 4, 1 / 4], [0.0, 0.0, 0.0], [1.0, 1 / 9, 1.0]])
    )
    simple = class_weights(volume, "simple")
    torch.testing.assert_close(
        simple, torch.tensor([[1 / 4, 1 / 2, 1 / 2], [0.0, 0.0, 0.0], [1.0, 1 / 3, 1.0]])
    )
    assert torch.equal(class_weights(volume, "uniform"), torch.ones(3, 3))


def test_square_weights_of_one_pixel_against_ten_thousand() -> None:
    """The page: a class of 1 pixel is pushed 10^8 times as hard as a background of 10^4."""
    weight = class_weights(torch.tensor([[1e4, 1.0]], dtype=torch.float64), "square")
    assert weight[0, 1] / weight[0, 0] == pytest.approx(1e8)


def test_a_weight_that_overflows_is_treated_as_absent() -> None:
    """1/V² of a soft volume of 1e-30 overflows float32: the largest finite weight replaces it."""
    volume = torch.tensor([[1e-30, 2.0, 0.0]])
    torch.testing.assert_close(class_weights(volume, "square"), torch.full((1, 3), 0.25))


def test_the_weights_carry_no_gradient() -> None:
    """The gradient is that of the ratio with the weights computed from the target, constant."""
    logits, target = absent_class_inputs(
        (3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(3)
    )
    logits.requires_grad_(True)
    one_hot = F.one_hot(target, 4).movedim(-1, 1).double()
    volume = one_hot.sum((2, 3))
    weight = 1 / volume**2
    finite = torch.where(weight.isinf(), 0.0, weight)
    weight = torch.where(weight.isinf(), finite.amax(1, keepdim=True), finite)
    p = logits.softmax(1)
    tp = (p * one_hot).sum((2, 3))
    literal = 1 - (2 * (weight * tp).sum(1) + 1e-5) / (
        (weight * (p.sum((2, 3)) + volume)).sum(1) + 1e-5
    )
    ours = generalized_dice_loss(logits, target, reduction="none")
    torch.testing.assert_close(ours, literal)
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(literal.sum(), logits))


def test_absent_class_exactly_zero_volume_on_the_torch_paths() -> None:
    """V = TP + FN is exactly 0 for an absent class (so its weight is the replaced one), for
    both formulations of the softmax counts and for soft sigmoid counts."""
    logits, target = absent_class_inputs(
        (3, 4, 5, 6), torch.float32, torch.Generator().manual_seed(4)
    )
    stats = softmax_statistics("f", logits, target, include_background=True, ignore_index=-100)
    assert ((stats.tp + stats.fn)[0, 3] == 0).all()
    with _as_on_an_accelerator():  # the comparison-mask formulation of a GPU without Triton
        by_mask = softmax_statistics(
            "f", logits, target, include_background=True, ignore_index=-100
        )
    assert ((by_mask.tp + by_mask.fn)[0, 3] == 0).all()
    masks = torch.rand(2, 3, 8, generator=torch.Generator().manual_seed(5))
    masks[1, 2] = 0.0
    sig = sigmoid_statistics("f", torch.randn(2, 3, 8), masks)
    assert (sig.tp + sig.fn)[1, 2] == 0


# --- what the docstrings and the page state -------------------------------------------------------


def test_one_channel_is_dice_with_the_smoothing_divided_by_the_weight() -> None:
    logits, masks = inputs.mask_inputs(
        (4, 1, 6, 6), torch.float64, torch.Generator().manual_seed(6)
    )
    volume = masks.sum((1, 2, 3))
    for smooth in (1e-5, 0.5):
        ours = sigmoid_generalized_dice_loss(logits, masks, smooth=smooth, reduction="none")
        for n in range(4):
            dice = sigmoid_dice_loss(
                logits[n : n + 1], masks[n : n + 1], smooth=smooth * volume[n].item() ** 2
            )
            torch.testing.assert_close(ours[n], dice.reshape(()))


def test_uniform_weights_with_every_class_is_one_dice_over_all_classes() -> None:
    """With w = 1 and the background, the denominator is Σ_c (Σp + Σg) = 2 S: a pixel accuracy."""
    logits, target = inputs.class_inputs(
        (2, 3, 4, 5), torch.float64, torch.Generator().manual_seed(7)
    )
    p_true = logits.softmax(1).gather(1, target.unsqueeze(1)).sum((1, 2, 3))
    ours = generalized_dice_loss(
        logits, target, weight_type="uniform", smooth=0.0, reduction="none"
    )
    torch.testing.assert_close(ours, 1 - p_true / 20)


def test_an_image_without_any_present_class_has_loss_zero_and_no_gradient() -> None:
    logits = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    background = torch.zeros(1, 4, 4, dtype=torch.long)
    for smooth in (1e-5, 0.0):
        loss = generalized_dice_loss(logits, background, include_background=False, smooth=smooth)
        assert loss.item() == 0.0
        assert (grad_of(loss, logits) == 0).all()
    empty_mask = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    loss = sigmoid_generalized_dice_loss(logits[:, :2], empty_mask, smooth=0.0)
    assert loss.item() == 0.0
    # MONAI gives NaN there at s = 0.
    theirs = MonaiGeneralizedDiceLoss(sigmoid=True, smooth_nr=0.0, smooth_dr=0.0)
    assert math.isnan(theirs(logits[:, :2].detach(), empty_mask).item())


def test_a_fully_ignored_image_is_left_out() -> None:
    logits, target = inputs.class_inputs(
        (3, 3, 4, 5), torch.float64, torch.Generator().manual_seed(8)
    )
    ignored = target.clone()
    ignored[1] = -100
    kept = generalized_dice_loss(logits[[0, 2]], target[[0, 2]])
    assert generalized_dice_loss(logits, ignored, reduction="none")[1].item() == 0.0
    torch.testing.assert_close(generalized_dice_loss(logits, ignored), kept)


def test_module_reprs() -> None:
    assert repr(GeneralizedDiceLoss()) == (
        "GeneralizedDiceLoss(weight_type='square', smooth=1e-05, include_background=True, "
        "ignore_index=-100, reduction='mean')"
    )
    assert repr(SigmoidGeneralizedDiceLoss(weight_type="simple")) == (
        "SigmoidGeneralizedDiceLoss(weight_type='simple', smooth=1e-05, reduction='mean')"
    )


def test_torch_nn_has_no_generalized_dice_loss() -> None:
    # ("_with_indices" holds "dice" too.)
    assert not any("dice" in name.lower() for name in dir(nn))
    assert not any("dice_" in name.lower() or "_dice" in name.lower() for name in dir(F))


# --- parity with MONAI ----------------------------------------------------------------------------


def monai_equivalent(
    weight_type: str, reduction: str, smooth: float = 1e-5, **form: Any
) -> MonaiGeneralizedDiceLoss:
    """MONAI's module equal to ours with these options; `form`: `softmax=True, to_onehot_y=True,
    include_background=b` (the softmax form) or `sigmoid=True, soft_label=True` (the sigmoid
    form; `soft_label=False` for hard targets only)."""
    return MonaiGeneralizedDiceLoss(
        w_type=weight_type,
        smooth_nr=smooth,
        smooth_dr=smooth,
        batch=False,
        reduction=reduction,
        **form,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("include_background", [True, False])
def test_matches_monai_softmax(reduction: str, weight_type: str, include_background: bool) -> None:
    logits, target = absent_class_inputs(
        (4, 4, 5, 6), torch.float64, torch.Generator().manual_seed(20)
    )
    logits.requires_grad_(True)
    theirs = monai_equivalent(
        weight_type,
        reduction,
        softmax=True,
        to_onehot_y=True,
        include_background=include_background,
    )
    expected = theirs(logits, target.unsqueeze(1))
    ours = generalized_dice_loss(
        logits,
        target,
        weight_type=weight_type,  # type: ignore[arg-type]
        smooth=1e-5,
        include_background=include_background,
        reduction=reduction,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(ours, expected.reshape(ours.shape))
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))
    assert (ours - expected.reshape(ours.shape)).abs().max() < 1e-8  # the page's figure


@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("soft", [False, True])
def test_matches_monai_sigmoid(weight_type: str, soft: bool) -> None:
    logits, masks = absent_channel_inputs(
        (3, 3, 5, 6), torch.float64, torch.Generator().manual_seed(21)
    )
    if soft:
        masks = (
            torch.rand(
                masks.shape, generator=torch.Generator().manual_seed(22), dtype=torch.float64
            )
            * masks
        )
    logits.requires_grad_(True)
    theirs = monai_equivalent(weight_type, "none", sigmoid=True, soft_label=soft)
    expected = theirs(logits, masks)
    ours = sigmoid_generalized_dice_loss(logits, masks, weight_type=weight_type, reduction="none")  # type: ignore[arg-type]
    torch.testing.assert_close(ours, expected.reshape(ours.shape))
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))


def test_monai_product_counts_differ_on_soft_targets() -> None:
    """MONAI's default `soft_label=False` is not smallest at p = g; ours (soft_label=True) is."""
    logits = torch.randn(2, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(23))
    masks = torch.sigmoid(logits)
    product = MonaiGeneralizedDiceLoss(sigmoid=True, reduction="none")(logits, masks).flatten()
    ours = sigmoid_generalized_dice_loss(logits, masks, reduction="none")
    assert (ours < 1e-6).all()
    assert (product > 0.1).all()


def test_generalized_dice_is_not_the_mean_of_dice() -> None:
    """The weighted sums come before the ratio (the fix of MONAI#369): the weights do not cancel."""
    logits, target = inputs.class_inputs(
        (2, 3, 6, 6), torch.float64, torch.Generator().manual_seed(24)
    )
    square = generalized_dice_loss(logits, target, reduction="none")
    simple = generalized_dice_loss(logits, target, weight_type="simple", reduction="none")
    assert (square - simple).abs().min() > 1e-3
    assert (square - dice_loss(logits, target, reduction="none").mean(1)).abs().min() > 1e-3
