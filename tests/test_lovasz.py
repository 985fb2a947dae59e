"""Lovász losses: the shared contract, parity with the authors' reference implementation, the
properties of the Lovász extension, no host sync, and the page's claims."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive._validation import _as_on_an_accelerator
from deeplossdive.functional import lovasz_hinge_loss, lovasz_softmax_loss
from deeplossdive.nn import LovaszHingeLoss, LovaszSoftmaxLoss
from tests import inputs as build
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.inputs import LOW_PRECISION_TOL, class_inputs, mask_inputs
from tests.oracles import lovasz as oracles
from tests.syncs import NoSync, cuda_sync_errors

AGGREGATIONS: tuple[Any, ...] = ("per_image", "batch")
CLASS_SETS: tuple[Any, ...] = ("present", "all")
SOFTMAX_OPTIONS = tuple(
    {"aggregation": a, "classes": c} for a, c in itertools.product(AGGREGATIONS, CLASS_SETS)
)
HINGE_OPTIONS = tuple({"aggregation": a} for a in AGGREGATIONS)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _counted_images(target: Tensor, ignore_index: int, aggregation: str) -> Tensor:
    """How many losses the mean counts: the images with a valid pixel, or the one batch."""
    valid = (target != ignore_index).reshape(target.shape[0], -1).any(dim=1)
    return valid.sum() if aggregation == "per_image" else valid.any().to(torch.int64)


def _softmax_counted(logits: Tensor, target: Tensor, **options: Any) -> Tensor:
    return _counted_images(target, options.get("ignore_index", -100), options["aggregation"])


def _hinge_counted(logits: Tensor, target: Tensor, **options: Any) -> Tensor:
    return torch.tensor(logits.shape[0] if options["aggregation"] == "per_image" else 1)


def _softmax_errors() -> tuple[ErrorCase, ...]:
    fn = "lovasz_softmax_loss"
    logits, target = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    return (
        ErrorCase(
            "int-logits",
            lambda: lovasz_softmax_loss(target[:, None].expand(2, 3, 4), target),
            TypeError,
            f"{fn}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-target",
            lambda: lovasz_softmax_loss(logits, target.float()),
            TypeError,
            f"{fn}: target must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "target-shape",
            lambda: lovasz_softmax_loss(logits, target[:, :3]),
            ValueError,
            f"{fn}: target must have shape (2, 4) (logits' shape without the class dimension "
            "1), got (2, 3)",
        ),
        ErrorCase(
            "one-class",
            lambda: lovasz_softmax_loss(logits[:, :1], target),
            ValueError,
            f"{fn}: logits must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "aggregation",
            lambda: lovasz_softmax_loss(logits, target, aggregation="image"),  # type: ignore[arg-type]
            ValueError,
            f"{fn}: aggregation must be one of 'per_image', 'batch', got 'image'",
        ),
        ErrorCase(
            "classes",
            lambda: lovasz_softmax_loss(logits, target, classes=[0, 1]),  # type: ignore[arg-type]
            ValueError,
            f"{fn}: classes must be one of 'present', 'all', got [0, 1]",
        ),
        ErrorCase(
            "label-out-of-range",
            lambda: lovasz_softmax_loss(logits, torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]])),
            ValueError,
            f"{fn}: target must hold class indices in [0, 3) or equal to ignore_index=-100, got 3",
        ),
        ErrorCase(
            "label-255",
            lambda: lovasz_softmax_loss(logits, torch.full((2, 4), 255)),
            ValueError,
            f"{fn}: target must hold class indices in [0, 3) or equal to ignore_index=-100, "
            "got 255",
        ),
        ErrorCase(
            "module-classes",
            lambda: LovaszSoftmaxLoss(classes="some"),  # type: ignore[arg-type]
            ValueError,
            "LovaszSoftmaxLoss: classes must be one of 'present', 'all', got 'some'",
        ),
        ErrorCase(
            "module-aggregation",
            lambda: LovaszSoftmaxLoss(aggregation="pixels"),  # type: ignore[arg-type]
            ValueError,
            "LovaszSoftmaxLoss: aggregation must be one of 'per_image', 'batch', got 'pixels'",
        ),
    )


def _hinge_errors() -> tuple[ErrorCase, ...]:
    fn = "lovasz_hinge_loss"
    logits, target = torch.zeros(2, 4), torch.zeros(2, 4)
    return (
        ErrorCase(
            "int-logits",
            lambda: lovasz_hinge_loss(target.long(), target),
            TypeError,
            f"{fn}: logits must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "complex-target",
            lambda: lovasz_hinge_loss(logits, target.to(torch.complex64)),
            TypeError,
            f"{fn}: target must be a boolean, integer or floating-point tensor of labels 0 or 1, "
            "got dtype torch.complex64",
        ),
        ErrorCase(
            "scalar",
            lambda: lovasz_hinge_loss(torch.tensor(0.0), torch.tensor(0.0)),
            ValueError,
            f"{fn}: logits must have at least 1 dimensions (N, ...), got shape ()",
        ),
        ErrorCase(
            "target-shape",
            lambda: lovasz_hinge_loss(logits, target[:, :3]),
            ValueError,
            f"{fn}: target must have the shape of logits (2, 4), got (2, 3)",
        ),
        ErrorCase(
            "signed-labels",
            lambda: lovasz_hinge_loss(logits, torch.tensor([[1.0, -1.0, 1.0, 1.0], [0, 0, 0, 0]])),
            ValueError,
            f"{fn}: target must hold labels 0 or 1, got -1.0",
        ),
        ErrorCase(
            "aggregation",
            lambda: lovasz_hinge_loss(logits, target, aggregation="image"),  # type: ignore[arg-type]
            ValueError,
            f"{fn}: aggregation must be one of 'per_image', 'batch', got 'image'",
        ),
        ErrorCase(
            "module-aggregation",
            lambda: LovaszHingeLoss(aggregation="pixels"),  # type: ignore[arg-type]
            ValueError,
            "LovaszHingeLoss: aggregation must be one of 'per_image', 'batch', got 'pixels'",
        ),
    )


SOFTMAX = LossSpec(
    function=lovasz_softmax_loss,
    module=LovaszSoftmaxLoss,
    oracle=oracles.lovasz_softmax,
    make_inputs=class_inputs,
    shapes=((2, 3, 4, 5), (3, 4, 7), (4, 3)),
    options=SOFTMAX_OPTIONS,
    saturate=build.class_saturate,
    perfect=build.class_perfect,
    errors=_softmax_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    counted=_softmax_counted,
    ignore=build.class_ignore,
)

HINGE = LossSpec(
    function=lovasz_hinge_loss,
    module=LovaszHingeLoss,
    oracle=oracles.lovasz_hinge,
    make_inputs=mask_inputs,
    shapes=((2, 3, 5), (3, 1, 4, 4), (4, 6)),
    options=HINGE_OPTIONS,
    saturate=build.mask_saturate,
    perfect=build.mask_perfect,
    errors=_hinge_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    counted=_hinge_counted,
)


class TestLovaszSoftmaxLoss(LossContract):
    spec = SOFTMAX


class TestLovaszHingeLoss(LossContract):
    spec = HINGE


# --- parity with the reference's own entry points, values and gradients -----------------------


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value.sum(), wrt)
    return grad


def _softmax_case(seed: int, ignored: bool) -> tuple[Tensor, Tensor]:
    """(3, 4, 6, 5) float64 logits without ties; class 3 absent from image 0; some pixels 255."""
    logits, target = class_inputs((3, 4, 6, 5), torch.float64, _seeded(seed))
    target[0][target[0] == 3] = 2
    if ignored:
        target[:, ::2, 1] = 255
    return logits.requires_grad_(), target


@pytest.mark.parametrize("ignored", [False, True], ids=["all-valid", "ignore-255"])
@pytest.mark.parametrize("classes", CLASS_SETS)
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_softmax_matches_the_reference(aggregation: Any, classes: Any, ignored: bool) -> None:
    """`lovasz_softmax(softmax(x), y, classes, per_image, ignore)` of the reference, unmodified,
    against ours with `aggregation="per_image"` <-> `per_image=True`, `"batch"` <-> `False`:
    the mean over the images and its gradient."""
    logits, target = _softmax_case(3, ignored)
    ours = lovasz_softmax_loss(
        logits,
        target,
        aggregation=aggregation,
        classes=classes,
        ignore_index=255,
    )
    batch = logits.shape[0]
    probas = torch.softmax(logits, dim=1).reshape(batch, 4, -1, 1)
    theirs = oracles.lovasz_softmax_ref(
        probas,
        target.reshape(batch, -1, 1),
        classes=classes,
        per_image=aggregation == "per_image",
        ignore=255 if ignored else None,
    )
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours, logits), _grad(theirs, logits))


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_hinge_matches_the_reference(aggregation: Any) -> None:
    logits, target = mask_inputs((3, 6, 5), torch.float64, _seeded(4))
    logits.requires_grad_()
    ours = lovasz_hinge_loss(logits, target, aggregation=aggregation)
    theirs = oracles.lovasz_hinge_ref(logits, target, per_image=aggregation == "per_image")
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grad(ours, logits), _grad(theirs, logits))


def test_none_is_one_loss_per_image_or_one_for_the_batch() -> None:
    """`"none"`: one loss per image, shape (N), each that of the image alone; with `"batch"` one
    loss, shape ()."""
    logits, target = _softmax_case(5, ignored=True)
    ours = lovasz_softmax_loss(logits, target, ignore_index=255, reduction="none")
    for n in range(logits.shape[0]):
        one = lovasz_softmax_loss(logits[n : n + 1], target[n : n + 1], ignore_index=255)
        torch.testing.assert_close(ours[n], one)
    assert ours.shape == (3,)
    batch = lovasz_softmax_loss(
        logits, target, aggregation="batch", ignore_index=255, reduction="none"
    )
    assert batch.shape == ()


# --- the Lovász extension ---------------------------------------------------------------------


def _iou_loss(prediction: Tensor, target: Tensor, classes: int) -> Tensor:
    """1 - IoU of each class of a hard prediction, averaged over the classes in the target."""
    losses = []
    for c in range(classes):
        truth, predicted = target == c, prediction == c
        if truth.any():
            losses.append(1 - (truth & predicted).sum() / (truth | predicted).sum())
    return torch.stack(losses).mean().double()


def test_equals_one_minus_iou_at_a_hard_prediction() -> None:
    """At probabilities 0 or 1 the errors are 0 or 1, and the extension equals the set function:
    the loss is 1 - IoU of each class (the tightness of the extension)."""
    logits, target = class_inputs((1, 3, 8, 8), torch.float64, _seeded(6))
    prediction = logits.argmax(dim=1)
    hard = build.class_perfect((logits, prediction))[0]
    loss = lovasz_softmax_loss(hard, target)
    torch.testing.assert_close(loss, _iou_loss(prediction[0], target[0], 3))


def test_gradient_is_the_jaccard_increments() -> None:
    """The gradient with respect to the errors is the vector w of increments of the Jaccard loss
    along the errors sorted decreasingly (hinge: m = 1 - x s, so dℓ/dx = -s w)."""
    logits = torch.tensor([[0.3, -0.2, 0.1, -0.6, 0.9]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[1, 0, 1, 0, 0]])
    # m = (0.7, 0.8, 0.9, 0.4, 1.9): order 5 (bg), 3 (fg), 2 (bg), 1 (fg), 4 (bg); |G| = 2.
    # Δ_J of the prefixes: 1/3, 2/3 (|A|=2, |G ∪ A| = 3), 3/4, 4/4, 5/5.
    w = {5: 1 / 3, 3: 1 / 3, 2: 1 / 12, 1: 1 / 4, 4: 0.0}
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    expected = torch.tensor([-signs[i - 1] * w[i] for i in range(1, 6)], dtype=torch.float64)
    grad = _grad(lovasz_hinge_loss(logits, target), logits)
    torch.testing.assert_close(grad[0], expected)


@given(seed=st.integers(0, 2**31 - 1), pixels=st.integers(1, 40))
def test_weights_are_non_negative_and_add_up_to_one(seed: int, pixels: int) -> None:
    """The page's claims: w >= 0 (submodularity) and sum w = Δ_J(every pixel) = 1. With every
    hinge error positive, dℓ/dx = -s w."""
    gen = _seeded(seed)
    target = torch.randint(2, (1, pixels), generator=gen)
    signs = 2.0 * target - 1
    logits = (-signs * torch.rand(1, pixels, generator=gen, dtype=torch.float64)).requires_grad_()
    weights = -signs * _grad(lovasz_hinge_loss(logits, target), logits)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0, dtype=torch.float64))


@given(seed=st.integers(0, 2**31 - 1), t=st.floats(0, 1))
def test_the_hinge_is_convex_in_the_logits(seed: int, t: float) -> None:
    """The Lovász extension of a submodular function is convex, its weights non-negative: of the
    rectified hinge errors, affine in the logits, the loss is convex in the logits."""
    a, target = mask_inputs((2, 12), torch.float64, _seeded(seed))
    b = 2 * torch.randn(2, 12, generator=_seeded(seed + 1), dtype=torch.float64)
    for aggregation in AGGREGATIONS:
        loss = lovasz_hinge_loss(t * a + (1 - t) * b, target, aggregation=aggregation)
        chord = t * lovasz_hinge_loss(a, target, aggregation=aggregation) + (
            1 - t
        ) * lovasz_hinge_loss(b, target, aggregation=aggregation)
        assert loss <= chord + 1e-12


def test_the_hinge_stops_at_a_margin_of_one() -> None:
    """A pixel right by a margin of 1 or more costs nothing (m <= 0), less than 1 costs."""
    target = torch.tensor([[1, 0, 1, 0]])
    signs = 2.0 * target - 1
    assert lovasz_hinge_loss(signs * 1.0, target) == 0
    assert lovasz_hinge_loss(signs * 0.9, target) > 0


def test_ties_are_broken_by_pixel_order() -> None:
    """Equal errors: the value is that of any order; the gradient that of the pixel order."""
    logits = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[1, 1, 0, 0]])
    value = lovasz_hinge_loss(logits, target)
    torch.testing.assert_close(value, torch.tensor(1.0, dtype=torch.float64))
    # Pixels in order: Δ_J = 1/2, 2/2, 3/3, 4/4: w = (1/2, 1/2, 0, 0).
    expected = torch.tensor([[-0.5, -0.5, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(_grad(value, logits), expected)


def test_ignored_pixels_equal_removed_pixels() -> None:
    """With `"batch"`, ignoring pixels is removing them, value and gradient."""
    logits, target = _softmax_case(7, ignored=False)
    ignored = target.clone()
    ignored[:, 2:4] = -100
    keep = torch.ones_like(target, dtype=torch.bool)
    keep[:, 2:4] = False
    classes: Any
    for classes in CLASS_SETS:
        kept = logits.movedim(1, -1)[keep].T[None]  # (1, C, valid pixels)
        ours = lovasz_softmax_loss(logits, ignored, aggregation="batch", classes=classes)
        removed = lovasz_softmax_loss(kept, target[keep][None], classes=classes)
        torch.testing.assert_close(ours, removed)
        torch.testing.assert_close(_grad(ours, logits), _grad(removed, logits))


def test_no_valid_pixel() -> None:
    """An image without a valid pixel: loss 0, left out of the mean, gradient 0; a batch without
    one: 0. Never NaN."""
    logits, target = class_inputs((2, 3, 4), torch.float64, _seeded(8))
    logits.requires_grad_()
    target[1] = -100
    classes: Any
    for classes in CLASS_SETS:
        none = lovasz_softmax_loss(logits, target, classes=classes, reduction="none")
        assert none[1] == 0
        mean = lovasz_softmax_loss(logits, target, classes=classes)
        torch.testing.assert_close(mean, none[0])
        assert (_grad(mean, logits)[1] == 0).all()
    void = torch.full_like(target, -100)
    aggregation: Any
    reduction: Any
    for aggregation, classes, reduction in itertools.product(AGGREGATIONS, CLASS_SETS, REDUCTIONS):
        value = lovasz_softmax_loss(
            logits,
            void,
            aggregation=aggregation,
            classes=classes,
            reduction=reduction,
        )
        assert (value == 0).all()
        assert (_grad(value, logits) == 0).all()
    empty = torch.zeros(2, 0)
    for aggregation in AGGREGATIONS:
        value = lovasz_hinge_loss(empty, empty, aggregation=aggregation)
        assert value == 0


def test_target_dtypes_of_the_hinge() -> None:
    logits, target = mask_inputs((2, 3, 4), torch.float32, _seeded(9))
    expected = lovasz_hinge_loss(logits, target)
    for dtype in (torch.bool, torch.uint8, torch.int64, torch.float16):
        torch.testing.assert_close(lovasz_hinge_loss(logits, target.to(dtype)), expected)


# --- no host sync: one batched sort, masks as weights -----------------------------------------

SYNC_CASES = [
    pytest.param(lovasz_softmax_loss, class_inputs, options, id=f"softmax-{index}")
    for index, options in enumerate(SOFTMAX_OPTIONS)
] + [
    pytest.param(lovasz_hinge_loss, mask_inputs, options, id=f"hinge-{index}")
    for index, options in enumerate(HINGE_OPTIONS)
]
Make = Callable[[tuple[int, ...], torch.dtype, torch.Generator], Inputs]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("function", "make", "options"), SYNC_CASES)
def test_no_host_sync_as_on_a_gpu(
    function: Callable[..., Tensor], make: Make, options: dict[str, str], reduction: str
) -> None:
    logits, target = make((3, 4, 5, 6), torch.float32, _seeded(10))
    if target.dtype == torch.int64:
        target[0, 0] = -100
    logits.requires_grad_()
    with _as_on_an_accelerator(), NoSync():
        value = function(logits, target, **options, reduction=reduction)
        grad = _grad(value, logits)
    assert torch.isfinite(value).all()
    assert torch.isfinite(grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("function", "make", "options"), SYNC_CASES)
def test_cuda_matches_the_cpu_without_a_sync(
    function: Callable[..., Tensor], make: Make, options: dict[str, str]
) -> None:
    logits, target = make((4, 21, 32, 32), torch.float64, _seeded(11))
    if target.dtype == torch.int64:
        target[0, :4] = -100
    expected = function(logits.requires_grad_(), target, **options)
    expected_grad = _grad(expected, logits)
    on_gpu = logits.detach().cuda().requires_grad_()
    with value_checks("auto"), cuda_sync_errors():
        value = function(on_gpu, target.cuda(), **options)
        grad = _grad(value, on_gpu)
    torch.testing.assert_close(value.cpu(), expected)
    torch.testing.assert_close(grad.cpu(), expected_grad)
