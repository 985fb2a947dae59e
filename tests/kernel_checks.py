"""The Triton kernels of the overlap and focal losses, checked on the CPU by Triton's interpreter.

Run by `tests/test_kernels.py` in a child process with `TRITON_INTERPRET=1` (its name keeps
pytest from collecting it otherwise): Triton reads the variable when `@triton.jit` decorates a
function, its own `tl.max` and `tl.sum` included, that is when `triton` is first imported, and
in a test session something else (`torch.compile`) may have imported it already. Here
`kernel_mode("always")` sends the public functions to the kernels, running in NumPy on CPU
tensors, and `kernel_mode("never")` to the PyTorch path, whose results (checked against the
oracles by each loss's own tests) are the reference: values and gradients, float32, float64 and
bfloat16, ignored and out-of-range labels, `include_background=False`, both aggregations, soft
targets, saturated and strided inputs. Shapes are small: the interpreter runs each program in
NumPy, one after the other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive._kernels import kernel_mode, triton_available
from deeplossdive.functional import (
    dice_loss,
    focal_loss,
    generalized_dice_loss,
    jaccard_loss,
    sigmoid_dice_loss,
    sigmoid_focal_loss,
    sigmoid_generalized_dice_loss,
    sigmoid_jaccard_loss,
    sigmoid_tversky_loss,
    tversky_loss,
)
from deeplossdive.losses._overlap import sigmoid_statistics, softmax_statistics

if os.environ.get("TRITON_INTERPRET") != "1" or not triton_available():
    pytest.skip(
        "runs under TRITON_INTERPRET=1, from tests/test_kernels.py", allow_module_level=True
    )

pytestmark = [
    # The interpreter evaluates padded lanes too (log 0, 0 / 0 there are masked out after).
    pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
    # NaN logits at ignored positions (a test puts them there) reach NumPy's max.
    pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning"),
]

Loss = Callable[..., Tensor]


def both_paths(
    loss: Loss, logits: Tensor, target: Tensor, **options: Any
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(value, gradient) of `loss` on the kernel path and on the PyTorch path.

    The gradient is that of a random weighting of the unreduced output (or of the reduced one),
    so that every entry's gradient takes part.
    """
    results = []
    weight: Tensor | None = None
    for mode in ("always", "never"):
        x = logits.detach().clone().requires_grad_()
        with kernel_mode(mode):
            value = loss(x, target, **options)
        if weight is None:
            weight = torch.rand(value.shape, generator=torch.Generator().manual_seed(1)) + 0.5
        (grad,) = torch.autograd.grad((value.float() * weight).sum(), x)
        results.append((value.detach(), grad))
    return results[0], results[1]


def assert_paths_agree(
    loss: Loss, logits: Tensor, target: Tensor, *, rtol: float, atol: float, **options: Any
) -> None:
    (value, grad), (expected_value, expected_grad) = both_paths(loss, logits, target, **options)
    assert value.dtype == expected_value.dtype
    assert grad.dtype == expected_grad.dtype == logits.dtype
    torch.testing.assert_close(value, expected_value, rtol=rtol, atol=atol)
    torch.testing.assert_close(grad, expected_grad, rtol=rtol, atol=atol)


TOL = {torch.float64: (1e-10, 1e-12), torch.float32: (2e-5, 2e-6), torch.bfloat16: (2e-2, 2e-3)}


def class_inputs(
    shape: tuple[int, ...], dtype: torch.dtype, *, seed: int = 0, scale: float = 3.0
) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.randint(shape[1], (shape[0], *shape[2:]), generator=gen)
    return logits.to(dtype), target


def mask_inputs(
    shape: tuple[int, ...], dtype: torch.dtype, *, soft: bool, seed: int = 0
) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    if soft:
        target = torch.rand(shape, generator=gen, dtype=torch.float64)
        # Hard entries among the soft ones. No target equals sigmoid(logits): at p = g the
        # counts have a kink, where the two paths' last-digit differences pick different sides.
        target.view(-1)[1::7] = 1.0
        target.view(-1)[2::7] = 0.0
    else:
        target = torch.randint(2, shape, generator=gen).to(torch.float64)
    return logits.to(dtype), target.to(dtype)


# --- the switch ----------------------------------------------------------------------------------


def test_forced_mode_runs_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kernel_mode("always")` reaches the kernels: the comparisons below test them."""
    import deeplossdive._kernels.focal as focal_kernels
    import deeplossdive._kernels.overlap as overlap_kernels

    calls: list[str] = []
    for module, name in (
        (overlap_kernels, "softmax_overlap_counts"),
        (overlap_kernels, "sigmoid_overlap_counts"),
        (focal_kernels, "softmax_focal"),
        (focal_kernels, "sigmoid_focal"),
    ):
        original = getattr(module, name)

        def spy(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, name, spy)
    logits, target = class_inputs((2, 3, 4, 4), torch.float32)
    masks, truth = mask_inputs((2, 3, 4, 4), torch.float32, soft=False)
    with kernel_mode("always"):
        dice_loss(logits, target)
        focal_loss(logits, target)
        sigmoid_dice_loss(masks, truth)
        sigmoid_focal_loss(masks, truth)
        # A target that carries a gradient (distillation) keeps the differentiable PyTorch path.
        sigmoid_focal_loss(masks, truth.clone().requires_grad_())
    assert calls == [
        "softmax_overlap_counts",
        "softmax_focal",
        "sigmoid_overlap_counts",
        "sigmoid_focal",
    ]


# --- softmax overlap -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("loss", [dice_loss, jaccard_loss, tversky_loss])
def test_softmax_overlap_kernel_matches_pytorch(loss: Loss, dtype: torch.dtype) -> None:
    logits, target = class_inputs((2, 3, 5, 7), dtype)
    target[0, 0] = -100  # some ignored pixels
    assert_paths_agree(
        loss, logits, target, reduction="none", rtol=TOL[dtype][0], atol=TOL[dtype][1]
    )


@pytest.mark.parametrize(
    "options",
    [
        {"include_background": False},
        {"aggregation": "batch"},
        {"aggregation": "batch", "include_background": False, "reduction": "none"},
        {"empty": "ignore", "smooth": 0.0},
        {"ignore_index": 1},  # ignore_index is a class
        {"reduction": "sum"},
    ],
    ids=str,
)
def test_softmax_overlap_kernel_options(options: dict[str, Any]) -> None:
    logits, target = class_inputs((3, 4, 6, 5), torch.float32, seed=2)
    target[1, :2] = options.get("ignore_index", -100)
    assert_paths_agree(dice_loss, logits, target, rtol=2e-5, atol=2e-6, **options)


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 4, 5, 6), (7, 5), (1, 2, 37), (2, 33, 4, 4)],
    ids=["3d", "no-spatial", "odd-spatial", "33-classes"],
)
def test_softmax_overlap_kernel_shapes(shape: tuple[int, ...]) -> None:
    logits, target = class_inputs(shape, torch.float32, seed=3)
    assert_paths_agree(dice_loss, logits, target, reduction="none", rtol=2e-5, atol=2e-6)


def test_softmax_overlap_kernel_labels_out_of_range_match_no_class() -> None:
    logits, target = class_inputs((2, 3, 4, 5), torch.float32, seed=4)
    target[0, 0, :3] = torch.tensor([3, -1, 99])
    target[1, 1, 1] = -100
    with value_checks(False):
        assert_paths_agree(tversky_loss, logits, target, reduction="none", rtol=2e-5, atol=2e-6)
        with kernel_mode("always"):
            kernel = softmax_statistics(
                "f", logits, target, include_background=True, ignore_index=-100
            )
        with kernel_mode("never"):
            torch_path = softmax_statistics(
                "f", logits, target, include_background=True, ignore_index=-100
            )
    for got, expected in zip(kernel, torch_path, strict=True):
        torch.testing.assert_close(got, expected, rtol=2e-5, atol=2e-6)
    # 40 pixels, one ignored and three without a class: a support of 36 (image 0: 17, 1: 19).
    assert kernel.support[:, 0].tolist() == [17.0, 19.0]


def test_softmax_overlap_kernel_strided_and_poisoned_inputs() -> None:
    logits, target = class_inputs((2, 4, 6, 6), torch.float32, seed=5)
    channels_last = logits.contiguous(memory_format=torch.channels_last)
    assert_paths_agree(dice_loss, channels_last, target, rtol=2e-5, atol=2e-6)
    poisoned = logits.clone()
    target[0, :2] = -100
    poisoned[0, :, :2] = float("nan")  # ignored pixels may hold anything
    (value, grad), _ = both_paths(dice_loss, poisoned, target)
    assert torch.isfinite(value).all()
    assert torch.isfinite(grad).all()
    assert (grad[0, :, :2] == 0).all()


def test_softmax_overlap_kernel_saturated_logits_stay_finite() -> None:
    logits, target = class_inputs((2, 3, 4, 5), torch.float32, seed=6)
    saturated = torch.where(logits > 0, 100.0, -100.0)
    assert_paths_agree(jaccard_loss, saturated, target, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("include_background", [True, False])
def test_generalized_dice_kernel_with_absent_classes(
    dtype: torch.dtype, include_background: bool
) -> None:
    """The class volumes TP + FN of the kernel are exactly 0 for an absent class, as on the
    PyTorch path: the same weights, hence the same values and gradients."""
    logits, target = class_inputs((3, 4, 5, 6), dtype, seed=7)
    target[0] = torch.where(target[0] == 3, 0, target[0])  # class 3 absent from image 0
    target[1] = 0  # image 1: background only
    target[2, 0] = -100
    with kernel_mode("always"):
        stats = softmax_statistics("f", logits, target, include_background=True, ignore_index=-100)
    volume = stats.tp + stats.fn
    assert (volume[0, 3] == 0).all()
    assert (volume[1, 1:] == 0).all()
    rtol, atol = TOL[dtype]
    options = {"include_background": include_background, "reduction": "none"}
    assert_paths_agree(generalized_dice_loss, logits, target, rtol=rtol, atol=atol, **options)
    masks, truth = mask_inputs((3, 4, 5, 6), dtype, soft=True, seed=8)
    truth[0, 3] = 0.0
    truth[1] = 0.0
    assert_paths_agree(sigmoid_generalized_dice_loss, masks, truth, rtol=rtol, atol=atol)


# --- sigmoid overlap -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("loss", [sigmoid_dice_loss, sigmoid_jaccard_loss, sigmoid_tversky_loss])
def test_sigmoid_overlap_kernel_matches_pytorch(loss: Loss, soft: bool, dtype: torch.dtype) -> None:
    logits, target = mask_inputs((2, 3, 5, 7), dtype, soft=soft)
    assert_paths_agree(
        loss, logits, target, reduction="none", rtol=TOL[dtype][0], atol=TOL[dtype][1]
    )


@pytest.mark.parametrize(
    "options", [{"aggregation": "batch"}, {"reduction": "sum"}, {"empty": "zero"}], ids=str
)
def test_sigmoid_overlap_kernel_options(options: dict[str, Any]) -> None:
    logits, target = mask_inputs((3, 2, 4, 9), torch.float32, soft=True, seed=1)
    target[0, 0] = 0.0
    logits[0, 0] = -100.0  # an empty entry
    assert_paths_agree(sigmoid_dice_loss, logits, target, rtol=2e-5, atol=2e-6, **options)


def test_sigmoid_overlap_kernel_counts_and_strides() -> None:
    logits, target = mask_inputs((2, 3, 4, 5, 3), torch.float32, soft=True, seed=2)
    strided = logits.transpose(2, 4)
    truth = target.transpose(2, 4)
    with kernel_mode("always"):
        kernel = sigmoid_statistics("f", strided, truth)
    with kernel_mode("never"):
        torch_path = sigmoid_statistics("f", strided, truth)
    for got, expected in zip(kernel, torch_path, strict=True):
        torch.testing.assert_close(got, expected, rtol=2e-5, atol=2e-6)
    saturated = torch.where(logits > 0, 100.0, -100.0)
    assert_paths_agree(sigmoid_dice_loss, saturated, target, rtol=2e-5, atol=2e-6)


# --- focal ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_kernel_matches_pytorch(gamma: float, dtype: torch.dtype) -> None:
    logits, target = class_inputs((9, 7), dtype)
    target[2] = -100
    assert_paths_agree(
        focal_loss,
        logits,
        target,
        gamma=gamma,
        reduction="none",
        rtol=TOL[dtype][0],
        atol=TOL[dtype][1],
    )


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((3, 1100), {}),  # more classes than one chunk: the online log-sum-exp
        ((2, 5, 3, 4), {"reduction": "none"}),
        ((2, 5, 3, 4), {"alpha": torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2])}),
        ((5, 4), {"reduction": "sum", "ignore_index": 2}),
        ((2, 5, 3, 4), {"reduction": "none", "alpha": torch.tensor([1.0, 0.0, 2.0, 0.5, 0.5])}),
        ((1, 6), {}),
    ],
    ids=["1100-classes", "spatial", "alpha", "ignore-a-class", "alpha-none", "one-row"],
)
def test_softmax_focal_kernel_options(shape: tuple[int, ...], options: dict[str, Any]) -> None:
    logits, target = class_inputs(shape, torch.float32, seed=7)
    assert_paths_agree(focal_loss, logits, target, rtol=2e-5, atol=2e-6, **options)


def test_softmax_focal_kernel_saturated_and_poisoned() -> None:
    logits, target = class_inputs((6, 5), torch.float32, seed=8)
    saturated = torch.where(logits > 0, 100.0, -100.0)
    saturated[0] = -100.0
    saturated[0, target[0]] = 100.0  # p_t = 1 exactly
    for gamma in (0.5, 2.0):
        assert_paths_agree(focal_loss, saturated, target, gamma=gamma, rtol=2e-5, atol=2e-6)
    poisoned = logits.clone()
    poisoned[1] = float("nan")
    target[1] = -100
    (value, grad), _ = both_paths(focal_loss, poisoned, target, reduction="none")
    assert torch.isfinite(value).all()
    assert torch.isfinite(grad).all()
    assert (grad[1] == 0).all()
    assert value[1] == 0


def test_softmax_focal_kernel_all_ignored_mean_is_zero() -> None:
    logits, target = class_inputs((3, 4), torch.float32, seed=10)
    target[:] = -100
    (value, grad), _ = both_paths(focal_loss, logits, target)
    assert value == 0
    assert (grad == 0).all()


def test_softmax_focal_kernel_label_out_of_range_gives_nan() -> None:
    """With value checks off a bad label is undefined behaviour: the kernel answers NaN."""
    logits, target = class_inputs((4, 3), torch.float32, seed=9)
    target[1] = 7
    with value_checks(False), kernel_mode("always"):
        loss = focal_loss(logits, target, reduction="none")
    assert loss[1].isnan()
    assert torch.isfinite(loss[[0, 2, 3]]).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (0.5, None), (0.0, 0.75)])
def test_sigmoid_focal_kernel_matches_pytorch(
    gamma: float, alpha: float | None, reduction: str, dtype: torch.dtype
) -> None:
    logits, target = mask_inputs((3, 5, 7), dtype, soft=True)
    rtol, atol = TOL[dtype]
    assert_paths_agree(
        sigmoid_focal_loss,
        logits,
        target,
        gamma=gamma,
        alpha=alpha,
        reduction=reduction,
        rtol=rtol,
        atol=atol,
    )


def test_sigmoid_focal_kernel_saturated_and_without_autograd() -> None:
    logits, target = mask_inputs((4, 3000), torch.float32, soft=False, seed=3)
    saturated = torch.where(logits > 0, 100.0, -100.0)
    for gamma in (0.5, 2.0):
        assert_paths_agree(sigmoid_focal_loss, saturated, target, gamma=gamma, rtol=2e-5, atol=2e-6)
    with torch.no_grad(), kernel_mode("always"):
        value = sigmoid_focal_loss(logits, target)
    torch.testing.assert_close(value, sigmoid_focal_loss(logits, target), rtol=2e-5, atol=2e-6)


# --- the autograd Functions in float64 -----------------------------------------------------------


def test_kernel_functions_pass_gradcheck() -> None:
    from deeplossdive._kernels.focal import sigmoid_focal, softmax_focal
    from deeplossdive._kernels.overlap import sigmoid_overlap_counts, softmax_overlap_counts

    logits, labels = class_inputs((2, 3, 11), torch.float64, scale=1.0)
    labels[0, :2] = -100
    labels[1, 0] = 5  # out of range: no class
    x = logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: softmax_overlap_counts(x, labels, -100)[:3], (x,))
    masks, truth = mask_inputs((2, 3, 11), torch.float64, soft=True)
    m = masks.requires_grad_()
    assert torch.autograd.gradcheck(lambda m: sigmoid_overlap_counts(m, truth), (m,))
    rows, classes = class_inputs((5, 4), torch.float64, scale=1.0)
    classes[3] = -100
    r = rows.requires_grad_()
    for gamma in (0.0, 0.5, 2.0):
        assert torch.autograd.gradcheck(lambda r, g=gamma: softmax_focal(r, classes, -100, g), (r,))
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    for reduction in ("mean", "sum"):
        assert torch.autograd.gradcheck(
            lambda r, red=reduction: softmax_focal(r, classes, -100, 2.0, alpha, red), (r,)
        )
    for reduction in ("none", "mean"):
        assert torch.autograd.gradcheck(
            lambda m, red=reduction: sigmoid_focal(m, truth, 1.5, 0.25, red), (m,)
        )


def test_focal_gamma_zero_kernel_is_cross_entropy() -> None:
    logits, target = class_inputs((6, 1030), torch.float32, seed=11)
    x = logits.clone().requires_grad_()
    with kernel_mode("always"):
        loss = focal_loss(x, target, gamma=0.0)
    (grad,) = torch.autograd.grad(loss, x)
    y = logits.clone().requires_grad_()
    expected = F.cross_entropy(y, target)
    (expected_grad,) = torch.autograd.grad(expected, y)
    torch.testing.assert_close(loss, expected, rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=2e-5, atol=2e-7)
