"""Parity of the focal losses with torchvision, kornia and MONAI, under an explicit mapping.

Each section opens with the parameter mapping it proves; `docs/losses/focal.md` shows the same
table. Comparisons run in float64 except for MONAI, which casts its inputs to float32.
"""

from __future__ import annotations

import math

import kornia.losses
import pytest
import torch
import torch.nn.functional as F
from monai.losses.focal_loss import FocalLoss as MonaiFocalLoss
from torch import Tensor
from torch.testing import assert_close

from deeplossdive import Reduction
from deeplossdive.functional import focal_loss, sigmoid_focal_loss

REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")
# (N, C) and (N, C, H, W): the two layouts every library here accepts.
SHAPES = ((8, 5), (2, 3, 4, 5))
SHAPE_IDS = ("NC", "NCHW")


def _logits(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> Tensor:
    # Scale 3 reaches p_t near 0 and near 1 without saturating float64.
    return (3 * torch.randn(shape, dtype=torch.float64)).to(dtype).requires_grad_()


def _hard_targets(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.randint(0, 2, shape).to(dtype)


def _labels(logits: Tensor, *, ignore: int | None = None) -> Tensor:
    """Class indices of shape (N, d1, ...) for logits (N, C, d1, ...), two of them `ignore`."""
    shape = (logits.shape[0], *logits.shape[2:])
    labels = torch.randint(0, logits.shape[1], shape)
    if ignore is not None:
        labels.view(-1)[[1, -1]] = ignore
    return labels


def _grad(output: Tensor, logits: Tensor) -> Tensor:
    """Gradient of `output` (any shape) against a fixed cotangent, so "none" is covered too."""
    generator = torch.Generator().manual_seed(1)
    cotangent = torch.rand(output.shape, generator=generator, dtype=output.dtype)
    (grad,) = torch.autograd.grad(output, logits, cotangent)
    return grad


def _spatial_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape[2:])


# ---------------------------------------------------------------------------------------------
# torchvision.ops.sigmoid_focal_loss
#
# Mapping (torchvision -> deeplossdive.functional.sigmoid_focal_loss):
#   inputs, targets             -> logits, target (same float targets, hard or soft; same formula)
#   alpha=a with a >= 0         -> alpha=a
#   alpha=-1 (any a < 0)        -> alpha=None (no balancing)
#   gamma                       -> gamma
#   reduction "none"/"mean"/"sum" -> the same; "mean" averages every element in both.
#                                  torchvision's default is "none", ours is "mean".
#
# torchvision cannot be installed beside this torch, so its formula is reproduced literally.
# ---------------------------------------------------------------------------------------------


def torchvision_sigmoid_focal_loss(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> Tensor:
    """Line for line the body of `torchvision/ops/focal_loss.py::sigmoid_focal_loss`.

    From https://github.com/pytorch/vision/blob/main/torchvision/ops/focal_loss.py (BSD-3-Clause),
    itself from fvcore; only the API-usage logging call is left out.
    """
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)

    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss

    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    else:
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction}'")
    return loss


def _alpha_from_torchvision(alpha: float) -> float | None:
    return alpha if alpha >= 0 else None


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("gamma", "alpha"), [(2.0, 0.25), (0.0, 0.25), (1.0, -1.0), (0.5, 0.75), (3.0, 0.0), (2.0, 1.0)]
)
def test_torchvision_values_and_gradients(
    gamma: float, alpha: float, reduction: Reduction, shape: tuple[int, ...], soft: bool
) -> None:
    logits = _logits(shape)
    target = torch.rand(shape, dtype=torch.float64) if soft else _hard_targets(shape)

    expected = torchvision_sigmoid_focal_loss(
        logits, target, alpha=alpha, gamma=gamma, reduction=reduction
    )
    actual = sigmoid_focal_loss(
        logits,
        target,
        gamma=gamma,
        alpha=_alpha_from_torchvision(alpha),
        reduction=reduction,
    )

    assert_close(actual, expected)
    # Moderate logits keep 1 - p_t > 0, where torchvision's gradient is finite too.
    assert_close(_grad(actual, logits), _grad(expected, logits))


def test_torchvision_default_alpha_is_ours_but_default_reduction_is_not() -> None:
    logits, target = _logits((6, 3)), _hard_targets((6, 3))
    assert_close(
        sigmoid_focal_loss(logits, target, reduction="none"),
        torchvision_sigmoid_focal_loss(logits, target),
    )
    assert sigmoid_focal_loss(logits, target).dim() == 0
    assert torchvision_sigmoid_focal_loss(logits, target).shape == (6, 3)


# Smallest logits (to 0.01) whose sigmoid rounds to exactly 1 (positive) or whose 1 - sigmoid
# rounds to exactly 1 (negative): from there on 1 - p_t == 0 and d/du u**gamma = inf for
# gamma < 1; autograd multiplies that inf by the 0 of sigmoid's slope (or of a target term): NaN.
@pytest.mark.parametrize(
    ("dtype", "positive", "negative"),
    [
        (torch.float32, 100.0, -100.0),
        (torch.float32, 16.64, -17.33),
        (torch.float64, 36.74, -37.43),
    ],
    ids=["float32-100", "float32-threshold", "float64-threshold"],
)
def test_torchvision_nan_gradient_at_saturation_for_gamma_below_one(
    dtype: torch.dtype, positive: float, negative: float
) -> None:
    logits = torch.tensor([positive, negative, 0.5, -1.0], dtype=dtype, requires_grad=True)
    target = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=dtype)

    theirs = torchvision_sigmoid_focal_loss(logits, target, gamma=0.5, reduction="sum")
    (their_grad,) = torch.autograd.grad(theirs, logits)
    ours = sigmoid_focal_loss(logits, target, gamma=0.5, reduction="sum")
    (our_grad,) = torch.autograd.grad(ours, logits)

    assert torch.isfinite(theirs), "the value is fine, only the gradient breaks"
    assert torch.isnan(their_grad[:2]).all(), their_grad
    assert torch.isfinite(their_grad[2:]).all(), their_grad
    assert torch.isfinite(our_grad).all(), our_grad
    assert_close(ours, theirs)
    assert_close(our_grad[2:], their_grad[2:])
    # The true derivative at saturation is ~ e^{-1.5 |x|}: zero to working precision.
    assert_close(our_grad[:2], torch.zeros(2, dtype=dtype), rtol=0, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_torchvision_gradient_finite_at_saturation_for_gamma_zero_or_at_least_one(
    gamma: float,
) -> None:
    logits = torch.tensor([100.0, -100.0], requires_grad=True)
    target = torch.tensor([1.0, 0.0])
    theirs = torchvision_sigmoid_focal_loss(logits, target, gamma=gamma, reduction="sum")
    ours = sigmoid_focal_loss(logits, target, gamma=gamma, reduction="sum")
    assert_close(torch.autograd.grad(ours, logits)[0], torch.autograd.grad(theirs, logits)[0])


# ---------------------------------------------------------------------------------------------
# kornia.losses.focal_loss (softmax), kornia 0.9
#
# Mapping (kornia -> deeplossdive.functional.focal_loss):
#   pred (N, C, *), target (N, *) -> logits, target (same layouts, same ignore_index=-100)
#   alpha=a (scalar)              -> alpha=tensor([1 - a, a, a, ..., a])  (class 0 is background)
#   alpha=None                    -> alpha=None
#   weight=w (C,)                 -> alpha=w (times the vector above when both are given)
#   reduction="none"  (N, C, *) map, zero off the target class -> ours "none" == kornia.sum(dim=1)
#   reduction="sum"               -> "sum"
#   reduction="mean"  sum / (C * target.numel()), ignored elements and C included in the count,
#                     not normalised by the weights -> ours "sum" / (C * target.numel())
#   kornia's default reduction is "none"; `alpha` has no default and is positional.
# ---------------------------------------------------------------------------------------------


def _class_alpha(alpha: float | None, weight: Tensor | None, num_classes: int) -> Tensor | None:
    """kornia's and MONAI's scalar `alpha` (background 1 - a, others a) times `weight`."""
    factor = None
    if alpha is not None:
        factor = torch.full((num_classes,), alpha, dtype=torch.float64)
        factor[0] = 1 - alpha
    if weight is not None:
        factor = weight if factor is None else factor * weight
    return factor


@pytest.mark.parametrize("use_weight", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kornia_softmax(
    reduction: Reduction, shape: tuple[int, ...], alpha: float | None, use_weight: bool
) -> None:
    logits = _logits(shape)
    target = _labels(logits, ignore=-100)
    num_classes = shape[1]
    weight = torch.rand(num_classes, dtype=torch.float64) + 0.5 if use_weight else None
    ours_alpha = _class_alpha(alpha, weight, num_classes)

    theirs = kornia.losses.focal_loss(
        logits, target, alpha, gamma=1.5, reduction=reduction, weight=weight
    )
    if reduction == "none":
        assert theirs.shape == logits.shape
        ours = focal_loss(logits, target, gamma=1.5, alpha=ours_alpha, reduction="none")
        expected = theirs.sum(dim=1)
    else:
        ours = focal_loss(logits, target, gamma=1.5, alpha=ours_alpha, reduction="sum")
        expected = theirs if reduction == "sum" else theirs * num_classes * target.numel()

    assert_close(ours, expected)
    assert_close(_grad(ours, logits), _grad(expected, logits))


def test_kornia_softmax_none_is_zero_off_the_target_class() -> None:
    logits = _logits((2, 4, 3, 3))
    target = _labels(logits)
    theirs = kornia.losses.focal_loss(logits, target, None)
    off_target = torch.ones_like(theirs, dtype=torch.bool).scatter_(1, target.unsqueeze(1), False)
    assert (theirs[off_target] == 0).all()


def test_kornia_softmax_mean_is_ours_mean_over_num_classes() -> None:
    # Without weights or ignored elements: kornia "mean" == ours "mean" / C.
    logits = _logits((2, 4, 3, 3))
    target = _labels(logits)
    theirs = kornia.losses.focal_loss(logits, target, None, gamma=2.0, reduction="mean")
    assert_close(theirs * 4, focal_loss(logits, target, gamma=2.0))


# ---------------------------------------------------------------------------------------------
# kornia.losses.binary_focal_loss_with_logits, kornia 0.9
#
# Mapping (kornia -> deeplossdive.functional.sigmoid_focal_loss), for hard targets {0, 1}:
#   pred, target (N, C, *)        -> logits, target
#   alpha (default 0.25) / None   -> alpha (default 0.25) / None
#   reduction                     -> the same ("mean" over every element in both);
#                                    kornia's default reduction is "none"
#   weight w (C,), pos_weight q (C,) -> ours "none" times w_c * (q_c if t == 1 else 1), reduced
#   soft targets: kornia weighs t*alpha*(1-p)^g*(-log p) + (1-t)*(1-alpha)*p^g*(-log(1-p)),
#                 ours alpha_t*(1-p_t)^g*BCE (torchvision's): they agree only for t in {0, 1}.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kornia_binary_hard_targets(
    reduction: Reduction, shape: tuple[int, ...], alpha: float | None
) -> None:
    logits, target = _logits(shape), _hard_targets(shape)
    theirs = kornia.losses.binary_focal_loss_with_logits(
        logits, target, alpha=alpha, gamma=2.0, reduction=reduction
    )
    ours = sigmoid_focal_loss(
        logits,
        target,
        gamma=2.0,
        alpha=alpha,
        reduction=reduction,
    )
    assert_close(ours, theirs)
    assert_close(_grad(ours, logits), _grad(theirs, logits))


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_kornia_binary_weight_and_pos_weight(shape: tuple[int, ...]) -> None:
    logits, target = _logits(shape), _hard_targets(shape)
    num_classes = shape[1]
    weight = torch.rand(num_classes, dtype=torch.float64) + 0.5
    pos_weight = torch.rand(num_classes, dtype=torch.float64) + 1.0
    theirs = kornia.losses.binary_focal_loss_with_logits(
        logits, target, alpha=0.25, reduction="mean", pos_weight=pos_weight, weight=weight
    )
    channel = (-1,) + (1,) * (len(shape) - 2)
    element_weight = weight.view(channel) * torch.where(target == 1, pos_weight.view(channel), 1.0)
    ours = (element_weight * sigmoid_focal_loss(logits, target, reduction="none")).mean()
    assert_close(ours, theirs)


def test_kornia_binary_soft_targets_use_another_formula() -> None:
    logits = _logits((6, 4))
    target = torch.rand(6, 4, dtype=torch.float64)
    alpha, gamma = 0.25, 2.0
    theirs = kornia.losses.binary_focal_loss_with_logits(logits, target, alpha=alpha, gamma=gamma)
    p = torch.sigmoid(logits)
    kornia_formula = target * alpha * (1 - p) ** gamma * -torch.log(p) + (1 - target) * (
        1 - alpha
    ) * p**gamma * -torch.log(1 - p)
    assert_close(theirs, kornia_formula)
    ours = sigmoid_focal_loss(logits, target, gamma=gamma, alpha=alpha, reduction="none")
    assert not torch.allclose(ours, theirs)


# ---------------------------------------------------------------------------------------------
# monai.losses.FocalLoss, MONAI 1.6.1. It computes in float32 whatever the input dtype
# (`input.float()`), so these comparisons run in float32 and its default tolerance.
#
# Mapping, softmax (MONAI use_softmax=True -> deeplossdive.functional.focal_loss):
#   input (N, C, *), target (N, 1, *) with to_onehot_y=True -> logits, target.squeeze(1)
#   alpha=a (scalar)           -> alpha=tensor([1 - a, a, ..., a])   (as kornia)
#   alpha=[a_0, ..., a_{C-1}]  -> alpha=tensor([a_0, ..., a_{C-1}])
#   weight=[w_c]               -> alpha times w
#   reduction="none"  (N, C, *) map -> ours "none" == monai.sum(dim=1)
#   reduction="mean"  sum / (N * C * spatial)          -> ours "sum" / (C * target.numel())
#   reduction="sum"   spatial mean, summed over N and C -> ours "sum" / spatial size;
#                     for (N, C) input `mean(dim=[])` averages everything: ours "sum" / (N * C)
#   ignore_index=i (reduction "mean") -> sum / non-ignored count: ours "sum" / count
#                     (= ours "mean" with ignore_index=i when alpha is None)
#   include_background=False: softmax over channels 1..C-1 only, background pixels contribute 0
#                     -> ours on logits[:, 1:] with target - 1 and background as ignore_index;
#                     a scalar alpha is then dropped with a warning.
#
# Mapping, sigmoid (MONAI use_softmax=False, its default -> sigmoid_focal_loss), hard targets:
#   alpha=None (MONAI's default) / a -> alpha=None / a (ours defaults to 0.25)
#   alpha=[a_c] sequence        -> positives a_c, negatives 1: ours alpha=None "none" times that
#   reduction "none" / "mean"   -> the same
#   reduction "sum"             -> ours "sum" / spatial size ((N, C): ours "mean")
#   soft targets: MONAI's factor is sigmoid(-x (2t - 1))^gamma, ours (1 - p_t)^gamma: they differ.
# ---------------------------------------------------------------------------------------------


def _monai_divisor(reduction: Reduction, shape: tuple[int, ...]) -> int:
    """What ours "sum" is divided by to give MONAI's "mean" or "sum"."""
    if reduction == "mean":
        return math.prod(shape)
    return _spatial_size(shape) if len(shape) > 2 else math.prod(shape)


MONAI_ALPHAS = (None, 0.25, (0.1, 0.5, 0.9))  # C = 3 in the softmax tests


@pytest.mark.parametrize("use_weight", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("alpha", MONAI_ALPHAS, ids=["none", "scalar", "sequence"])
@pytest.mark.parametrize("shape", [(8, 3), (2, 3, 4, 5)], ids=SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_monai_softmax(
    reduction: Reduction,
    shape: tuple[int, ...],
    alpha: float | tuple[float, ...] | None,
    use_weight: bool,
) -> None:
    logits = _logits(shape, torch.float32)
    target = _labels(logits)
    num_classes = shape[1]
    weight = [0.5, 2.0, 1.5] if use_weight else None
    loss = MonaiFocalLoss(
        to_onehot_y=True,
        use_softmax=True,
        gamma=2.0,
        alpha=alpha,
        weight=weight,
        reduction=reduction,
    )
    theirs = loss(logits, target.unsqueeze(1))

    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    if isinstance(alpha, tuple):  # a sequence is the per-class alpha itself
        w = torch.tensor(alpha, dtype=torch.float64) * (1.0 if w is None else w)
        alpha = None
    ours_alpha = _class_alpha(alpha, w, num_classes)
    ours_alpha = None if ours_alpha is None else ours_alpha.float()

    if reduction == "none":
        ours = focal_loss(logits, target, alpha=ours_alpha, reduction="none")
        expected = theirs.sum(dim=1)
    else:
        ours = focal_loss(logits, target, alpha=ours_alpha, reduction="sum")
        ours = ours / _monai_divisor(reduction, shape)
        expected = theirs
    assert_close(ours, expected)
    assert_close(_grad(ours, logits), _grad(expected, logits))


def test_monai_computes_in_float32() -> None:
    logits = _logits((2, 3, 4), torch.float64)
    target = _labels(logits).unsqueeze(1)
    theirs = MonaiFocalLoss(to_onehot_y=True, use_softmax=True)(logits, target)
    assert theirs.dtype == torch.float32


def test_monai_softmax_ignore_index() -> None:
    logits = _logits((2, 4, 3, 5), torch.float32)
    target = _labels(logits, ignore=-100)
    loss = MonaiFocalLoss(to_onehot_y=True, use_softmax=True, ignore_index=-100)
    theirs = loss(logits, target.unsqueeze(1))
    assert_close(theirs, focal_loss(logits, target, ignore_index=-100))


def test_monai_softmax_without_background() -> None:
    logits = _logits((2, 4, 3, 5), torch.float32)
    target = _labels(logits)
    alpha = (0.2, 0.5, 0.8)  # one per foreground class
    loss = MonaiFocalLoss(
        include_background=False, to_onehot_y=True, use_softmax=True, alpha=alpha, reduction="none"
    )
    theirs = loss(logits, target.unsqueeze(1))
    assert theirs.shape == (2, 3, 3, 5)
    foreground = torch.where(target == 0, -100, target - 1)
    ours = focal_loss(logits[:, 1:], foreground, alpha=torch.tensor(alpha), reduction="none")
    assert_close(ours, theirs.sum(dim=1))


def test_monai_softmax_without_background_drops_scalar_alpha() -> None:
    logits = _logits((2, 4, 3), torch.float32)
    target = _labels(logits).unsqueeze(1)

    def monai(alpha: float | None) -> Tensor:
        loss = MonaiFocalLoss(
            include_background=False, to_onehot_y=True, use_softmax=True, alpha=alpha
        )
        value: Tensor = loss(logits, target)
        return value

    with pytest.warns(UserWarning, match="scalar `alpha` ignored"):
        theirs = monai(0.25)
    assert_close(theirs, monai(None))


@pytest.mark.parametrize("alpha", [None, 0.25, 0.8])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_monai_sigmoid_hard_targets(
    reduction: Reduction, shape: tuple[int, ...], alpha: float | None
) -> None:
    logits, target = _logits(shape, torch.float32), _hard_targets(shape, torch.float32)
    theirs = MonaiFocalLoss(gamma=2.0, alpha=alpha, reduction=reduction)(logits, target)
    if reduction == "sum":
        ours = sigmoid_focal_loss(logits, target, alpha=alpha, reduction="sum")
        ours = ours / _monai_divisor(reduction, shape)
    else:
        ours = sigmoid_focal_loss(
            logits,
            target,
            alpha=alpha,
            reduction=reduction,
        )
    assert_close(ours, theirs)
    assert_close(_grad(ours, logits), _grad(theirs, logits))


def test_monai_sigmoid_alpha_sequence_weighs_positives_only() -> None:
    logits, target = _logits((2, 3, 4, 5), torch.float32), _hard_targets((2, 3, 4, 5))
    target = target.float()
    alpha = (0.2, 0.5, 0.8)
    theirs = MonaiFocalLoss(alpha=alpha, reduction="none")(logits, target)
    positive_weight = torch.where(target == 1, torch.tensor(alpha).view(-1, 1, 1), 1.0)
    ours = positive_weight * sigmoid_focal_loss(logits, target, alpha=None, reduction="none")
    assert_close(ours, theirs)


def test_monai_sigmoid_soft_targets_use_another_factor() -> None:
    logits = _logits((6, 4), torch.float32)
    target = torch.rand(6, 4)
    theirs = MonaiFocalLoss(gamma=2.0, reduction="none")(logits, target)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    monai_formula = torch.sigmoid(-logits * (2 * target - 1)) ** 2 * bce
    assert_close(theirs, monai_formula)
    ours = sigmoid_focal_loss(logits, target, gamma=2.0, alpha=None, reduction="none")
    assert not torch.allclose(ours, theirs)
