"""Dice loss: the shared contract for both forms, the empty policy, and parity with MONAI, kornia
and segmentation_models_pytorch.

The hooks and error cases defined here are shared with `test_jaccard.py` and `test_tversky.py`
(the three overlap losses take the same inputs, from `tests/inputs.py`, and options).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kornia.losses
import pytest
import torch
import torch.nn.functional as F
from monai.losses.dice import DiceLoss as MonaiDiceLoss
from torch import Tensor, nn

from deeplossdive import value_checks
from deeplossdive.functional import dice_loss, sigmoid_dice_loss
from deeplossdive.nn import DiceLoss, SigmoidDiceLoss
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

SOFTMAX_SHAPES = ((2, 3, 4, 5), (2, 2, 3, 4, 5))
SIGMOID_SHAPES = ((2, 3, 4, 5), (1, 2, 3, 4, 5))


# --- inputs and hooks shared by the three overlap test modules ----------------------------------


def counted(oracle: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """How many entries the oracle's mean counts, for the same inputs and options."""

    def count(*inputs: Tensor, **options: Any) -> Tensor:
        return oracle(*inputs, **options, reduction="counted")

    return count


def softmax_errors(
    function: Callable[..., Tensor], module: Callable[..., nn.Module]
) -> tuple[ErrorCase, ...]:
    """The error cases every softmax overlap loss shares, with its own name in the message."""
    name, module_name = function.__name__, module.__name__
    logits, target = torch.randn(2, 3, 4), torch.tensor([[0, 1, 2, 0], [2, 2, 1, 0]])
    return (
        ErrorCase(
            "int-logits",
            lambda: function(target.unsqueeze(1).repeat(1, 3, 1), target),
            TypeError,
            f"{name}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-target",
            lambda: function(logits, target.float()),
            TypeError,
            f"{name}: target must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "1d-logits",
            lambda: function(logits[0, :, 0], target[0, :1]),
            ValueError,
            f"{name}: logits must have at least 2 dimensions (N, C, ...), got shape (3,)",
        ),
        ErrorCase(
            "one-hot-target",
            lambda: function(logits, F.one_hot(target, 3).movedim(-1, 1)),
            ValueError,
            f"{name}: target must have shape (2, 4) (logits' shape without the class "
            "dimension 1), got (2, 3, 4)",
        ),
        ErrorCase(
            "one-class",
            lambda: function(logits[:, :1], torch.zeros(2, 4, dtype=torch.long)),
            ValueError,
            f"{name}: logits must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "label-too-large",
            lambda: function(logits, torch.tensor([[0, 1, 3, 0], [2, 2, 1, 0]])),
            ValueError,
            f"{name}: target must hold class indices in [0, 3) or equal to "
            "ignore_index=-100, got 3",
        ),
        ErrorCase(
            "negative-smooth",
            lambda: function(logits, target, smooth=-1.0),
            ValueError,
            f"{name}: smooth must be a finite number >= 0, got -1.0",
        ),
        ErrorCase(
            "infinite-smooth",
            lambda: function(logits, target, smooth=float("inf")),
            ValueError,
            f"{name}: smooth must be a finite number >= 0, got inf",
        ),
        ErrorCase(
            "aggregation",
            lambda: function(logits, target, aggregation="micro"),
            ValueError,
            f"{name}: aggregation must be one of 'per_image', 'batch', got 'micro'",
        ),
        ErrorCase(
            "empty",
            lambda: function(logits, target, empty="nan"),
            ValueError,
            f"{name}: empty must be one of 'one', 'zero', 'ignore', 'ignore_absent', got 'nan'",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: function(logits.tolist(), target),
            TypeError,
            f"{name}: logits must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "module-smooth",
            lambda: module(smooth=-0.5),
            ValueError,
            f"{module_name}: smooth must be a finite number >= 0, got -0.5",
        ),
        ErrorCase(
            "module-empty",
            lambda: module(empty="skip"),
            ValueError,
            f"{module_name}: empty must be one of 'one', 'zero', 'ignore', 'ignore_absent', "
            "got 'skip'",
        ),
        ErrorCase(
            "module-aggregation",
            lambda: module(aggregation="global"),
            ValueError,
            f"{module_name}: aggregation must be one of 'per_image', 'batch', got 'global'",
        ),
    )


def sigmoid_errors(
    function: Callable[..., Tensor], module: Callable[..., nn.Module]
) -> tuple[ErrorCase, ...]:
    """The error cases every sigmoid overlap loss shares."""
    name, module_name = function.__name__, module.__name__
    logits, target = torch.randn(2, 1, 4), torch.ones(2, 1, 4)
    return (
        ErrorCase(
            "int-target",
            lambda: function(logits, target.long()),
            TypeError,
            f"{name}: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-logits",
            lambda: function(target.long(), target),
            TypeError,
            f"{name}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "shape-N1-vs-N",
            lambda: function(logits, target.view(2, 4)),
            ValueError,
            f"{name}: target must have the shape of logits (2, 1, 4), got (2, 4)",
        ),
        ErrorCase(
            "1d-logits",
            lambda: function(logits.view(8), target.view(8)),
            ValueError,
            f"{name}: logits must have at least 2 dimensions (N, C, ...), got shape (8,)",
        ),
        ErrorCase(
            "target-range",
            lambda: function(logits, 2 * target),
            ValueError,
            f"{name}: target must hold values in [0, 1], got 2.0",
        ),
        ErrorCase(
            "negative-smooth",
            lambda: function(logits, target, smooth=-1e-5),
            ValueError,
            f"{name}: smooth must be a finite number >= 0, got -1e-05",
        ),
        ErrorCase(
            "aggregation",
            lambda: function(logits, target, aggregation="image"),
            ValueError,
            f"{name}: aggregation must be one of 'per_image', 'batch', got 'image'",
        ),
        ErrorCase(
            "empty",
            lambda: function(logits, target, empty=1.0),
            ValueError,
            f"{name}: empty must be one of 'one', 'zero', 'ignore', 'ignore_absent', got 1.0",
        ),
        ErrorCase(
            "module-smooth",
            lambda: module(smooth=float("nan")),
            ValueError,
            f"{module_name}: smooth must be a finite number >= 0, got nan",
        ),
    )


def empty_class_inputs(dtype: torch.dtype = torch.float64) -> Inputs:
    """Image 0 lacks class 2 in its target and its prediction is exactly 0 there: an empty entry.

    Image 1 holds class 2, and (for batch aggregation) class 1 is nowhere in image 1 either.
    """
    gen = torch.Generator().manual_seed(11)
    logits = torch.randn(2, 3, 3, 4, generator=gen, dtype=torch.float64)
    target = torch.randint(2, (2, 3, 4), generator=gen)
    target[0, 0, 0], target[0, 0, 1] = 0, 1
    target[1] = torch.where(target[1] == 1, 2, target[1])
    target[1, 0, 0] = 2
    logits[0, 2] = -1000.0  # softmax exactly 0: empty prediction
    return logits.to(dtype), target


def empty_mask_inputs(dtype: torch.dtype = torch.float64) -> Inputs:
    """Channel 1 of image 0 has an empty target and an exactly empty prediction."""
    gen = torch.Generator().manual_seed(12)
    logits = torch.randn(2, 2, 3, 4, generator=gen, dtype=torch.float64)
    target = torch.randint(2, (2, 2, 3, 4), generator=gen).to(torch.float64)
    target[0, 1] = 0.0
    logits[0, 1] = -1000.0  # sigmoid exactly 0
    return logits.to(dtype), target.to(dtype)


def grad_of(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


# --- specs ----------------------------------------------------------------------------------------

DICE = LossSpec(
    function=dice_loss,
    module=DiceLoss,
    oracle=oracles.dice,
    make_inputs=class_inputs,
    shapes=SOFTMAX_SHAPES,
    options=(
        {},
        {"aggregation": "batch"},
        {"include_background": False, "smooth": 1.0},
        {"aggregation": "batch", "include_background": False, "empty": "zero"},
        {"empty": "ignore", "smooth": 0.1},
        {"empty": "ignore_absent"},
    ),
    saturate=class_saturate,
    perfect=class_perfect,
    counted=counted(oracles.dice),
    ignore=class_ignore,
    errors=softmax_errors(dice_loss, DiceLoss),
    low_precision_tol=LOW_PRECISION_TOL,
)

SIGMOID_DICE = LossSpec(
    function=sigmoid_dice_loss,
    module=SigmoidDiceLoss,
    oracle=oracles.sigmoid_dice,
    make_inputs=mask_inputs,
    shapes=SIGMOID_SHAPES,
    options=(
        {},
        {"aggregation": "batch"},
        {"smooth": 1.0, "empty": "zero"},
        {"aggregation": "batch", "empty": "ignore", "smooth": 0.1},
        {"empty": "ignore_absent"},
    ),
    saturate=mask_saturate,
    perfect=mask_perfect,
    soft_perfect=mask_soft_perfect,
    counted=counted(oracles.sigmoid_dice),
    errors=sigmoid_errors(sigmoid_dice_loss, SigmoidDiceLoss),
    low_precision_tol=LOW_PRECISION_TOL,
)


class TestDiceLoss(LossContract):
    spec = DICE


class TestSigmoidDiceLoss(LossContract):
    spec = SIGMOID_DICE


# --- the empty policy -----------------------------------------------------------------------------

SOFTMAX_CASES: list[tuple[Callable[..., Tensor], Callable[..., Tensor], dict[str, Any]]] = [
    (dice_loss, oracles.dice, {}),
]
SIGMOID_CASES: list[tuple[Callable[..., Tensor], Callable[..., Tensor], dict[str, Any]]] = [
    (sigmoid_dice_loss, oracles.sigmoid_dice, {}),
]


def check_empty_policy(
    function: Callable[..., Tensor],
    oracle: Callable[..., Tensor],
    inputs: Inputs,
    empty: str,
    smooth: float,
    aggregation: str,
    extra: dict[str, Any],
) -> None:
    """Against the oracle, every reduction, finite values and gradients."""
    logits = inputs[0].clone().requires_grad_(True)
    for reduction in REDUCTIONS:
        kwargs = {
            **extra,
            "empty": empty,
            "smooth": smooth,
            "aggregation": aggregation,
            "reduction": reduction,
        }
        value = function(logits, *inputs[1:], **kwargs)
        torch.testing.assert_close(value, oracle(logits, *inputs[1:], **kwargs))
        assert torch.isfinite(value).all()
        assert torch.isfinite(grad_of(value.sum(), logits)).all()


@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
@pytest.mark.parametrize("smooth", [0.0, 1e-5])
@pytest.mark.parametrize("empty", ["one", "zero", "ignore", "ignore_absent"])
def test_empty_policy_softmax(empty: str, smooth: float, aggregation: str) -> None:
    inputs = empty_class_inputs()
    for function, oracle, extra in SOFTMAX_CASES:
        check_empty_policy(function, oracle, inputs, empty, smooth, aggregation, extra)


@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
@pytest.mark.parametrize("smooth", [0.0, 1e-5])
@pytest.mark.parametrize("empty", ["one", "zero", "ignore", "ignore_absent"])
def test_empty_policy_sigmoid(empty: str, smooth: float, aggregation: str) -> None:
    inputs = empty_mask_inputs()
    for function, oracle, extra in SIGMOID_CASES:
        check_empty_policy(function, oracle, inputs, empty, smooth, aggregation, extra)


def test_empty_entry_values() -> None:
    logits, target = empty_class_inputs()
    values = {
        empty: dice_loss(logits, target, smooth=0.0, empty=empty, reduction="none")[0, 2].item()
        for empty in ("one", "zero", "ignore")
    }
    assert values == {"one": 0.0, "zero": 1.0, "ignore": 0.0}
    mean_ignore = dice_loss(logits, target, smooth=0.0, empty="ignore")
    unreduced = dice_loss(logits, target, smooth=0.0, empty="one", reduction="none")
    torch.testing.assert_close(mean_ignore, unreduced.sum() / (unreduced.numel() - 1))


def test_ignore_absent_leaves_out_every_entry_with_an_empty_target() -> None:
    """Image 1 lacks class 1 but predicts some of it: "ignore" keeps that entry (loss about 1),
    "ignore_absent" leaves it out with the empty entry of image 0 (class 2), and its mean is
    the mean of the unreduced loss over the entries whose target is not empty."""
    logits, target = empty_class_inputs()
    unreduced = dice_loss(logits, target, empty="ignore_absent", reduction="none")
    present = F.one_hot(target, 3).sum(dim=(1, 2)) > 0
    assert present.tolist() == [[True, True, False], [True, False, True]]
    assert (unreduced[~present] == 0).all()
    kept = dice_loss(logits, target, reduction="none")[present]
    torch.testing.assert_close(dice_loss(logits, target, empty="ignore_absent"), kept.mean())
    assert dice_loss(logits, target, empty="ignore", reduction="none")[1, 1] > 0.9
    # Batch aggregation: every class occurs somewhere in the batch, so nothing is left out.
    torch.testing.assert_close(
        dice_loss(logits, target, aggregation="batch", empty="ignore_absent"),
        dice_loss(logits, target, aggregation="batch"),
    )


def test_naive_dice_is_nan_on_an_empty_entry() -> None:
    logits, target = empty_class_inputs()
    probs = logits.softmax(1)
    one_hot = F.one_hot(target, 3).movedim(-1, 1).to(probs.dtype)
    naive = 1 - 2 * (probs * one_hot).sum((2, 3)) / (probs.sum((2, 3)) + one_hot.sum((2, 3)))
    assert torch.isnan(naive[0, 2])
    assert torch.isfinite(dice_loss(logits, target, smooth=0.0, reduction="none")).all()


def test_fully_ignored_image_is_left_out() -> None:
    logits, target = class_inputs((3, 3, 4, 5), torch.float64, torch.Generator().manual_seed(13))
    target[1] = -100
    unreduced = dice_loss(logits, target, reduction="none")
    assert (unreduced[1] == 0).all()
    kept = torch.tensor([True, False, True])
    for empty in ("one", "zero", "ignore"):
        torch.testing.assert_close(
            dice_loss(logits, target, empty=empty),
            dice_loss(logits[kept], target[kept], empty=empty),
        )


def test_all_ignored_mean_is_zero_with_zero_gradient() -> None:
    logits = torch.randn(2, 3, 4, requires_grad=True)
    target = torch.full((2, 4), -100)
    for aggregation in ("per_image", "batch"):
        loss = dice_loss(logits, target, aggregation=aggregation)
        assert loss.item() == 0.0
        assert grad_of(loss, logits).abs().max() == 0


def test_empty_batch() -> None:
    logits = torch.randn(0, 3, 4, requires_grad=True)
    target = torch.zeros(0, 4, dtype=torch.long)
    assert dice_loss(logits, target).item() == 0.0
    assert dice_loss(logits, target, reduction="none").shape == (0, 3)
    assert dice_loss(logits, target, aggregation="batch", reduction="none").shape == (3,)
    assert sigmoid_dice_loss(logits, torch.zeros(0, 3, 4), reduction="sum").item() == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_ignored_pixels_cannot_poison_the_kept_ones(bad: float) -> None:
    logits, target = class_inputs((2, 3, 4, 5), torch.float64, torch.Generator().manual_seed(14))
    target[0, 0, :2] = -100
    clean = logits.clone()
    logits[0, :, 0, :2] = bad
    logits.requires_grad_(True)
    loss = dice_loss(logits, target)
    torch.testing.assert_close(loss, dice_loss(clean, target))
    grad = grad_of(loss, logits)
    assert torch.isfinite(grad).all()
    assert (grad[0, :, 0, :2] == 0).all()


# --- shapes, options, oracle at smooth 0 ----------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("aggregation", ["per_image", "batch"])
def test_unsmoothed_and_flat_inputs_match_oracle(reduction: str, aggregation: str) -> None:
    gen = torch.Generator().manual_seed(15)
    kwargs: dict[str, Any] = {"smooth": 0.0, "aggregation": aggregation, "reduction": reduction}
    # (N, C, L) sequences and (N, C) single pixels
    for shape in ((3, 4, 7), (6, 3)):
        logits, target = class_inputs(shape, torch.float64, gen)
        torch.testing.assert_close(
            dice_loss(logits, target, **kwargs), oracles.dice(logits, target, **kwargs)
        )
        logits, masks = mask_inputs(shape, torch.float64, gen)
        masks[0] = 0.35  # soft targets
        torch.testing.assert_close(
            sigmoid_dice_loss(logits, masks, **kwargs),
            oracles.sigmoid_dice(logits, masks, **kwargs),
        )


def test_output_shapes() -> None:
    logits, target = class_inputs((2, 3, 4, 5), torch.float32, torch.Generator().manual_seed(16))
    assert dice_loss(logits, target, reduction="none").shape == (2, 3)
    assert dice_loss(logits, target, include_background=False, reduction="none").shape == (2, 2)
    assert dice_loss(logits, target, aggregation="batch", reduction="none").shape == (3,)
    assert sigmoid_dice_loss(logits, target.unsqueeze(1).expand(-1, 3, -1, -1).float().clamp(0, 1),
                             aggregation="batch", reduction="none").shape == (3,)  # fmt: skip


def test_include_background_drops_class_zero() -> None:
    logits, target = class_inputs((2, 3, 4, 5), torch.float64, torch.Generator().manual_seed(17))
    full = dice_loss(logits, target, reduction="none")
    torch.testing.assert_close(
        dice_loss(logits, target, include_background=False, reduction="none"), full[:, 1:]
    )


def test_value_checks_switch() -> None:
    logits, target = torch.randn(2, 3, 4), torch.tensor([[0, 1, 2, 5], [0, 0, 0, 0]])
    with value_checks(False):
        dice_loss(logits, target)  # no sync, no check: a meaningless number
    with pytest.raises(ValueError, match="target must hold class indices"):
        dice_loss(logits, target)


def test_module_reprs() -> None:
    assert repr(DiceLoss(aggregation="batch")) == (
        "DiceLoss(smooth=1e-05, include_background=True, aggregation='batch', "
        "ignore_index=-100, empty='one', reduction='mean')"
    )
    assert repr(SigmoidDiceLoss(empty="ignore", reduction="sum")) == (
        "SigmoidDiceLoss(smooth=1e-05, aggregation='per_image', empty='ignore', reduction='sum')"
    )


def test_smoothing_changes_small_objects_more() -> None:
    """A missed object (p = 2e-9 everywhere) of 1 pixel and of 100 pixels out of 400."""
    logits = torch.full((1, 1, 20, 20), -20.0, dtype=torch.float64)
    small = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    small[0, 0, 0, 0] = 1.0
    large = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    large[0, 0, :10, :10] = 1.0
    losses = {
        smooth: [sigmoid_dice_loss(logits, mask, smooth=smooth).item() for mask in (small, large)]
        for smooth in (1e-5, 1.0)
    }
    assert losses[1e-5] == pytest.approx([1.0, 1.0], abs=1e-4)
    assert losses[1.0] == pytest.approx([0.5, 0.9901], abs=1e-4)


def test_per_image_and_batch_differ_with_an_empty_image() -> None:
    logits = torch.tensor([[[2.0, -2.0, -2.0, -2.0]], [[-2.0, -2.0, -2.0, -2.0]]])
    masks = torch.tensor([[[1.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]])
    per_image = sigmoid_dice_loss(logits, masks, reduction="none")
    batch = sigmoid_dice_loss(logits, masks, aggregation="batch")
    assert per_image[1, 0].item() == pytest.approx(1.0, abs=1e-4)  # empty target, p > 0
    assert per_image.mean().item() == pytest.approx(0.6065, abs=1e-4)
    assert batch.item() == pytest.approx(0.3512, abs=1e-4)


# --- parity with other libraries ------------------------------------------------------------------


def monai_target(target: Tensor) -> Tensor:
    return target.unsqueeze(1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_matches_monai_softmax(reduction: str, batch: bool, include_background: bool) -> None:
    logits, target = class_inputs((3, 4, 5, 6), torch.float64, torch.Generator().manual_seed(20))
    target[0, 0] = -100  # a partly ignored image
    theirs = MonaiDiceLoss(
        softmax=True,
        to_onehot_y=True,
        include_background=include_background,
        batch=batch,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        reduction=reduction,
        ignore_index=-100,
    )
    logits.requires_grad_(True)
    expected = theirs(logits, monai_target(target))
    ours = dice_loss(
        logits,
        target,
        smooth=1e-5,
        include_background=include_background,
        aggregation="batch" if batch else "per_image",
        reduction=reduction,  # type: ignore[arg-type]
    )
    torch.testing.assert_close(ours, expected.reshape(ours.shape))
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))


@pytest.mark.parametrize("batch", [False, True])
def test_matches_monai_sigmoid(batch: bool) -> None:
    logits, masks = mask_inputs((3, 2, 5, 6), torch.float64, torch.Generator().manual_seed(21))
    theirs = MonaiDiceLoss(sigmoid=True, batch=batch, reduction="none")
    ours = sigmoid_dice_loss(
        logits, masks, aggregation="batch" if batch else "per_image", reduction="none"
    )
    torch.testing.assert_close(ours, theirs(logits, masks).reshape(ours.shape))


def every_class_in_every_image(num_images: int, num_classes: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    target = torch.randint(num_classes, (num_images, 5, 6), generator=gen)
    target[:, 0, :num_classes] = torch.arange(num_classes)
    return target


def test_matches_kornia_macro_when_every_class_is_present() -> None:
    """kornia's "macro" Dice averages over the classes present in each image; eps=1e-8 only in
    the denominator. With every class present that is ours at smooth=0, per image."""
    target = every_class_in_every_image(3, 4, seed=22)
    logits = torch.randn(
        3, 4, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(23)
    )
    theirs = kornia.losses.dice_loss(logits, target, average="macro")
    torch.testing.assert_close(dice_loss(logits, target, smooth=0.0), theirs)


def test_matches_kornia_macro_with_absent_classes() -> None:
    """kornia's "macro" Dice leaves out the classes absent from an image's target, like
    empty="ignore_absent", then averages each image's mean over the images."""
    target = every_class_in_every_image(3, 4, seed=30)
    target[0][target[0] == 2] = 1  # image 0 lacks class 2
    target[1][target[1] == 3] = 0  # image 1 lacks class 3
    logits = torch.randn(
        3, 4, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(31)
    )
    theirs = kornia.losses.dice_loss(logits, target, average="macro", eps=0.0)
    kept = dice_loss(logits, target, smooth=0.0, empty="ignore_absent", reduction="none")
    present = F.one_hot(target, 4).sum(dim=(1, 2)) > 0
    assert present.sum(dim=1).tolist() == [3, 3, 4]
    torch.testing.assert_close(theirs, (kept.sum(dim=1) / present.sum(dim=1)).mean())


def test_kornia_micro_dice_is_one_minus_the_mean_true_class_probability() -> None:
    """kornia's default "micro" Dice pools the classes: Σ_c |X_c| = Σ_c |Y_c| = pixels, so it is
    1 − mean p_t, a soft accuracy with no overlap-per-class behaviour."""
    target = every_class_in_every_image(2, 3, seed=24)
    logits = torch.randn(
        2, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(25)
    )
    p_t = logits.softmax(1).gather(1, target.unsqueeze(1))
    theirs = kornia.losses.dice_loss(logits, target, average="micro", eps=0.0)
    torch.testing.assert_close(theirs, 1 - p_t.mean())


def smp_soft_dice_score(
    output: Tensor, target: Tensor, smooth: float, eps: float, dims: tuple[int, ...]
) -> Tensor:
    """segmentation_models_pytorch/losses/_functional.py, `soft_dice_score`, literally."""
    intersection = torch.sum(output * target, dim=dims)
    cardinality = torch.sum(output + target, dim=dims)
    dice_score = (2.0 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)
    return dice_score  # noqa: RET504 (SMP's code, literally)


def smp_multiclass_loss(
    score: Callable[[Tensor, Tensor], Tensor], y_pred: Tensor, y_true: Tensor
) -> Tensor:
    """segmentation_models_pytorch/losses/dice.py, `DiceLoss.forward` for mode="multiclass",
    from_logits=True, no ignore_index, classes=None, log_loss=False, literally."""
    y_pred = y_pred.log_softmax(dim=1).exp()
    bs = y_true.size(0)
    num_classes = y_pred.size(1)
    y_true = y_true.view(bs, -1)
    y_pred = y_pred.view(bs, num_classes, -1)
    y_true = F.one_hot(y_true, num_classes)
    y_true = y_true.permute(0, 2, 1)
    scores = score(y_pred, y_true.type_as(y_pred))
    loss = 1.0 - scores
    mask = y_true.sum((0, 2)) > 0
    loss *= mask.to(loss.dtype)
    return loss.mean()


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_matches_smp_when_every_class_is_in_the_batch(smooth: float) -> None:
    target = every_class_in_every_image(3, 4, seed=26)
    logits = torch.randn(
        3, 4, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(27)
    )
    theirs = smp_multiclass_loss(
        lambda o, t: smp_soft_dice_score(o, t, smooth, 1e-7, (0, 2)), logits, target
    )
    ours = dice_loss(logits, target, smooth=smooth, aggregation="batch")
    torch.testing.assert_close(ours, theirs)


def test_smp_zeroes_a_class_absent_from_the_batch() -> None:
    target = every_class_in_every_image(2, 3, seed=28)
    target[target == 2] = 1  # class 2 nowhere in the batch
    logits = torch.randn(
        2, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(29)
    )
    theirs = smp_multiclass_loss(
        lambda o, t: smp_soft_dice_score(o, t, 0.0, 1e-7, (0, 2)), logits, target
    )
    ours = dice_loss(logits, target, smooth=0.0, aggregation="batch", reduction="none")
    # SMP counts class 2 as loss 0 in its mean; ours scores its false positives: loss 1.
    assert ours[2].item() == 1.0
    torch.testing.assert_close(theirs, (ours[0] + ours[1]) / 3)
    # empty="ignore_absent" leaves it out of the mean instead: SMP's value times 3 / 2.
    absent = dice_loss(logits, target, smooth=0.0, aggregation="batch", empty="ignore_absent")
    torch.testing.assert_close(absent, theirs * 3 / 2)


def test_torch_nn_has_no_dice_loss() -> None:
    assert not hasattr(torch.nn, "DiceLoss")


# --- soft targets ---------------------------------------------------------------------------------


def soft_mask_inputs(shape: tuple[int, ...], seed: int) -> tuple[Tensor, Tensor]:
    """Logits, and targets in [0, 1]: soft almost everywhere, hard in channel 0 of image 0."""
    gen = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    masks = torch.rand(shape, generator=gen, dtype=torch.float64)
    masks[0, 0] = masks[0, 0].round()
    return logits.requires_grad_(True), masks


@pytest.mark.parametrize("batch", [False, True])
def test_matches_monai_soft_label_on_soft_targets(batch: bool) -> None:
    """MONAI's `soft_label=True` (after Wang et al., 2023) is ours, values and gradients; its
    default, the product form, is not smallest at p = g and differs from ours on soft targets."""
    logits, masks = soft_mask_inputs((3, 2, 5, 6), seed=80)
    theirs = MonaiDiceLoss(sigmoid=True, soft_label=True, batch=batch, reduction="none")
    ours = sigmoid_dice_loss(
        logits, masks, aggregation="batch" if batch else "per_image", reduction="none"
    )
    expected = theirs(logits, masks).reshape(ours.shape)
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(grad_of(ours.sum(), logits), grad_of(expected.sum(), logits))
    product = MonaiDiceLoss(sigmoid=True, batch=batch, reduction="none")(logits, masks)
    assert not torch.allclose(product.reshape(ours.shape), ours)


def test_fit_to_soft_targets_recovers_them() -> None:
    """Gradient descent on the logits of four pixels reaches p = g (the issue's example)."""
    target = torch.tensor([[[0.3, 0.7, 0.5, 0.9]]], dtype=torch.float64)
    logits = torch.zeros_like(target, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(2000):
        optimizer.zero_grad()
        (grad,) = torch.autograd.grad(sigmoid_dice_loss(logits, target, smooth=0.0), logits)
        logits.grad = grad
        optimizer.step()
    torch.testing.assert_close(torch.sigmoid(logits), target, atol=2e-2, rtol=0)
