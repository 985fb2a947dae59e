"""Lovász losses: the convex surrogates of the Jaccard (IoU) loss, softmax and hinge forms."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import (
    OVERLAP,
    SEGMENTATION_SETUP,
    Leaf,
    Plot,
    describe,
    sigmoid_small_object,
    softmax_small_object,
)
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss, weighted_mean
from deeplossdive._validation import (
    check_choice,
    check_class_indices,
    check_class_scores,
    check_floating,
    check_min_ndim,
    check_same_shape,
    check_zero_one_labels,
    check_zero_one_labels_dtype,
)
from deeplossdive.losses._overlap import AGGREGATIONS, Aggregation
from deeplossdive.losses.jaccard import jaccard_loss

LovaszClasses = Literal["present", "all"]
"""The classes a Lovász-softmax loss averages: those present in the target, or all of them."""
LOVASZ_CLASSES: Final[tuple[LovaszClasses, ...]] = ("present", "all")


def _lovasz_extension(
    errors: Tensor, foreground: Tensor, valid: Tensor, *, rectify: bool = False
) -> Tensor:
    r"""The Lovász extension of the Jaccard loss of each row of `errors`, shape $(S, L)$ -> $(S)$.

    One stable sort of every row at once (decreasing errors; an ignored entry holds an error
    below every valid one, so it sorts last), the counts of the sorted prefixes by cumulative
    sums, and the Jaccard loss of each prefix, $k / (|G| + k - |G \cap \text{prefix}|)$; the
    weights are its increments. Past the valid entries the prefix stops growing: the weights of
    the ignored entries are exactly 0. `foreground` (bool) is the target, False where ignored;
    `valid` (S, 1) the number of valid entries of each row. `rectify` takes
    $\max(m, 0)$ of the sorted errors (the hinge), after sorting them as they are.
    """
    length = errors.shape[-1]
    ordered, order = torch.sort(errors, dim=-1, descending=True, stable=True)
    # Counts in int32 (exact at any size; float32 is exact only up to 2^24 pixels).
    hits = foreground.gather(-1, order).cumsum(-1, dtype=torch.int32)
    seen = torch.arange(1, length + 1, device=errors.device, dtype=torch.int32)
    seen = seen.minimum(valid.to(torch.int32))
    union = (foreground.sum(-1, keepdim=True, dtype=torch.int32) + seen - hits).clamp_min(1)
    jaccard = seen.to(errors.dtype) / union.to(errors.dtype)
    weights = jaccard - F.pad(jaccard[..., :-1], (1, 0))
    if rectify:
        ordered = torch.relu(ordered)
    return (ordered * weights).sum(-1)


def _segments(tensor: Tensor, aggregation: Aggregation) -> Tensor:
    """`(N, C, P)` -> `(N, C, P)` for `"per_image"`, `(1, C, N P)` for `"batch"`."""
    if aggregation == "per_image":
        return tensor
    batch, classes, pixels = tensor.shape
    return tensor.transpose(0, 1).reshape(1, classes, batch * pixels)


def lovasz_softmax_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    aggregation: Aggregation = "per_image",
    classes: LovaszClasses = "present",
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Lovász-softmax loss: the convex Lovász extension of the Jaccard loss of each class.

    [Berman, Rannen Triki and Blaschko, 2018](https://arxiv.org/abs/1705.08790). With
    $p = \operatorname{softmax}(x)$ over the classes and $g$ the one-hot target, the errors of
    class $c$ at the valid pixels $i$ of an image are $m_i = |g_{ci} - p_{ci}|$. Sorted
    decreasingly, $m_{\pi_1} \ge m_{\pi_2} \ge \dots \ge m_{\pi_P}$, they weigh the increments of
    the Jaccard loss $\Delta_J(A) = |A| / |G_c \cup A|$ of the growing sets of the pixels with
    the largest errors ($G_c$ the pixels of class $c$):

    $$
    \ell_c = \sum_{k=1}^{P} m_{\pi_k}\, w_k, \qquad
    w_k = \Delta_J(\{\pi_1, \dots, \pi_k\}) - \Delta_J(\{\pi_1, \dots, \pi_{k-1}\}).
    $$

    $w = \partial \ell_c / \partial m$ (the weights do not depend on the size of the errors,
    only on their order), so the loss is piecewise linear in $m$: it is not differentiable where
    two errors are equal, and between such points its gradient is constant. For binary errors
    $m \in \{0, 1\}$ it equals $\Delta_J$ of the set of wrong pixels, $1 - \text{IoU}$. The loss
    of an image is the mean of $\ell_c$ over its classes:

    - `classes="present"` (the reference's default): the classes with at least one valid pixel in
      the target of that image (`"per_image"`) or of the batch (`"batch"`);
    - `classes="all"`: every class; a class absent from the target has $\ell_c = \max_i p_{ci}$.

    `aggregation="per_image"` (the reference's `per_image=True`) computes one loss per image;
    `aggregation="batch"` (its `per_image=False`, its default) pools the pixels of every image
    into one, so its loss is not the mean of the images' losses. An image whose pixels are all
    `ignore_index` has loss 0 and is left out of the mean (as by
    [`dice_loss`][deeplossdive.functional.dice_loss]); a batch without any valid pixel has loss
    0, with a zero gradient. The result is never NaN.

    Ties among the errors are broken by the order of the pixels (a stable sort): the value does
    not depend on it, the gradient at a tie does, and is the same on every device. All images
    and classes are sorted by one batched `torch.sort`, without a host sync. float16 and bfloat16
    inputs are computed in float32 and the result is returned in the input dtype.

    Args:
        logits: Unnormalised scores, shape $(N, C, d_1, \dots)$ or $(N, C)$, $C \ge 2$.
        target: Class indices in $[0, C)$ or `ignore_index`, shape $(N, d_1, \dots)$.
        aggregation: `"per_image"` (a loss per image) or `"batch"` (the batch as one image).
        classes: `"present"` or `"all"`: the classes each image's loss averages.
        ignore_index: Target value whose pixels take no part (in no class, no sort).
        reduction: `"none"`, `"mean"` or `"sum"` over the images: `"mean"` averages the images
            with a valid pixel; `"none"` returns the loss of each image, 0 for an image without
            a valid pixel. With `"batch"` there is one loss, whatever the reduction.

    Returns:
        The loss: shape $(N)$ for `"none"` with `"per_image"`, a scalar otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, an unknown `aggregation`, `classes` or
            `reduction`, or (with value checks on) a label outside $[0, C)$ that is not
            `ignore_index`.

    Examples:
        One image of four pixels, two classes, the logits the log-probabilities (those of
        [`dice_loss`][deeplossdive.functional.dice_loss]'s example):

        >>> import torch
        >>> from deeplossdive.functional import lovasz_softmax_loss
        >>> probs = torch.tensor([[[0.75, 0.25, 0.25, 0.25], [0.25, 0.75, 0.75, 0.75]]])
        >>> lovasz_softmax_loss(probs.log(), torch.tensor([[0, 0, 1, 1]]), reduction="none")
        tensor([0.4583])

        Both classes have the errors $m = (0.25, 0.75, 0.25, 0.25)$. Class 0 ($G = \{1, 2\}$,
        pixels numbered from 1): pixel 2 first, $\Delta_J = 1/2$, then pixel 1, $\Delta_J = 1$;
        $\ell_0 = 0.75 \cdot 0.5 + 0.25 \cdot 0.5 = 0.5$. Class 1 ($G = \{3, 4\}$): pixel 2,
        $\Delta_J = 1/3$, then the three others up to 1; $\ell_1 = 0.75/3 + 0.25 \cdot 2/3 =
        0.4167$. Their mean is $0.4583$.
    """
    fn = "lovasz_softmax_loss"
    num_classes = check_class_scores(fn, "logits", logits, target)
    check_choice(fn, "aggregation", aggregation, AGGREGATIONS)
    check_choice(fn, "classes", classes, LOVASZ_CLASSES)
    check_reduction(fn, reduction)
    check_class_indices(fn, target, num_classes, ignore_index)

    batch, pixels = logits.shape[0], math.prod(logits.shape[2:])
    probs = torch.softmax(upcast(logits), dim=1).reshape(batch, num_classes, pixels)
    labels = target.reshape(batch, 1, pixels)
    valid = labels != ignore_index
    class_ids = torch.arange(num_classes, device=labels.device).view(1, num_classes, 1)
    foreground = (labels == class_ids) & valid
    # |g - p|, and -1 (below every error) where ignored: those sort last, with weight 0.
    errors = torch.where(valid, torch.where(foreground, 1 - probs, probs), -1.0)
    errors, foreground = _segments(errors, aggregation), _segments(foreground, aggregation)
    valid = _segments(valid, aggregation).sum(-1)  # (B, 1): the valid pixels of each segment
    images, length = errors.shape[0], errors.shape[-1]
    per_class = _lovasz_extension(
        errors.reshape(images * num_classes, length),
        foreground.reshape(images * num_classes, length),
        valid.expand(images, num_classes).reshape(images * num_classes, 1),
    ).view(images, num_classes)
    counted = valid > 0  # (B, 1): the images with a valid pixel
    kept = foreground.any(-1) if classes == "present" else counted.expand(-1, num_classes)
    kept = kept.to(per_class.dtype)
    per_image = weighted_mean((per_class * kept).sum(-1), kept.sum(-1))
    if aggregation == "batch":
        return per_image[0].to(logits.dtype)
    return reduce_loss(per_image, reduction, weight=counted[:, 0].to(per_image.dtype)).to(
        logits.dtype
    )


def lovasz_hinge_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    aggregation: Aggregation = "per_image",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Lovász hinge loss: the Lovász extension of the Jaccard loss of the hinge errors, binary.

    [Berman, Rannen Triki and Blaschko, 2018](https://arxiv.org/abs/1705.08790), for one logit
    $x_i$ per pixel and a binary target $g_i \in \{0, 1\}$ (the foreground): with the signs
    $s_i = 2 g_i - 1$ and the hinge errors $m_i = 1 - x_i s_i$, sorted decreasingly,

    $$
    \ell = \sum_{k=1}^{P} \max(m_{\pi_k}, 0)\, w_k,
    $$

    $w_k$ the increments of the Jaccard loss of the foreground, as in
    [`lovasz_softmax_loss`][deeplossdive.functional.lovasz_softmax_loss]. This is the reference's
    `lovasz_hinge` (`relu` of the sorted errors); the repository's other variant,
    `elu(m) + 1`, is not implemented. A pixel counts towards the loss until its logit is on the
    right side with a margin of 1. An image without foreground still has a loss (its
    largest hinge error), as in the reference.

    `aggregation` and `reduction` are those of `lovasz_softmax_loss`; there is no
    `ignore_index` (every pixel takes part). Ties, devices and dtypes as there.

    Args:
        logits: One logit per pixel, shape $(N, d_1, \dots)$ (e.g. $(N, H, W)$ or
            $(N, 1, H, W)$): image $n$ is `logits[n]`.
        target: Labels 0 or 1 (boolean, integer or floating point), the shape of `logits`.
        aggregation: `"per_image"` (a loss per image) or `"batch"` (the batch as one image).
        reduction: `"none"`, `"mean"` or `"sum"` over the images.

    Returns:
        The loss: shape $(N)$ for `"none"` with `"per_image"`, a scalar otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `target` is complex.
        ValueError: Shapes differ, `logits` has no dimension, an unknown `aggregation` or
            `reduction`, or (with value checks on) a label other than 0 or 1.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import lovasz_hinge_loss
        >>> logits = torch.tensor([[2.0, 0.5, -1.0, 0.5]])
        >>> target = torch.tensor([[1, 1, 0, 0]])
        >>> lovasz_hinge_loss(logits, target, reduction="none")
        tensor([0.6667])

        The errors are $m = (-1, 0.5, 0, 1.5)$. Pixel 4 (background) first:
        $\Delta_J = 1/3$; then pixel 2 (foreground): $2/3$; the others have $m \le 0$.
        $\ell = 1.5/3 + 0.5/3 = 0.6667$.
    """
    fn = "lovasz_hinge_loss"
    check_floating(fn, "logits", logits)
    check_zero_one_labels_dtype(fn, "target", target)
    check_min_ndim(fn, "logits", logits, 1, "(N, ...)")
    check_same_shape(fn, "target", target, "logits", logits)
    check_choice(fn, "aggregation", aggregation, AGGREGATIONS)
    check_reduction(fn, reduction)
    check_zero_one_labels(fn, "target", target)

    batch, pixels = logits.shape[0], math.prod(logits.shape[1:])
    scores = upcast(logits).reshape(batch, 1, pixels)
    foreground = (target != 0).reshape(batch, 1, pixels)
    errors = torch.where(foreground, 1 - scores, 1 + scores)
    errors, foreground = _segments(errors, aggregation), _segments(foreground, aggregation)
    images, length = errors.shape[0], errors.shape[-1]
    valid = torch.full((images, 1), length, device=errors.device)
    per_image = _lovasz_extension(errors[:, 0], foreground[:, 0], valid, rectify=True)
    if aggregation == "batch":
        return per_image[0].to(logits.dtype)
    return reduce_loss(per_image, reduction).to(logits.dtype)


class LovaszSoftmaxLoss(Loss[Reduction], function=lovasz_softmax_loss):
    """Module form of [`lovasz_softmax_loss`][deeplossdive.functional.lovasz_softmax_loss]."""

    def __init__(
        self,
        *,
        aggregation: Aggregation = "per_image",
        classes: LovaszClasses = "present",
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals())


class LovaszHingeLoss(Loss[Reduction], function=lovasz_hinge_loss):
    """Module form of [`lovasz_hinge_loss`][deeplossdive.functional.lovasz_hinge_loss]."""

    def __init__(
        self, *, aggregation: Aggregation = "per_image", reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals())


def _one_entry(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """`function`'s per-image loss as one entry per image, shape $(n, 1)$, for the plot helpers
    of the overlap losses (which average the entries of each image)."""
    return lambda *inputs, **options: function(*inputs, **options)[:, None]


describe(
    lovasz_softmax_loss,
    family="Segmentation",
    task="Segmentation (multi-class), fine-tuning for mean IoU",
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " Two classes (softmax). The Lovász-softmax loss is piecewise "
        "linear in the errors (its gradient jumps where two errors cross); the soft Jaccard loss "
        "of the same prediction is smooth.",
        {
            "lovasz_softmax_loss": softmax_small_object(_one_entry(lovasz_softmax_loss)),
            "jaccard_loss": softmax_small_object(jaccard_loss),
        },
    ),
    chart=Leaf("Segment images", "C logits per pixel", "fine-tune for IoU", rank=4),
)
describe(
    lovasz_hinge_loss,
    family="Segmentation",
    task="Segmentation (binary), fine-tuning for IoU",
    plot=Plot(
        OVERLAP,
        SEGMENTATION_SETUP + " One logit per pixel: the hinge errors $1 \\mp z$.",
        {"lovasz_hinge_loss": sigmoid_small_object(_one_entry(lovasz_hinge_loss))},
    ),
    chart=Leaf(
        "Segment images", "a logit per pixel and channel", "binary, fine-tune for IoU", rank=4
    ),
)
