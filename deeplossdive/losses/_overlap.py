r"""Soft overlap statistics shared by the Dice, Jaccard and Tversky losses.

The three losses differ only in the ratio they take of the same three soft counts, computed per
(image, class) over the valid pixels $i$:

$$
TP = \sum_i \min(p_i, g_i), \qquad FP = \sum_i \max(p_i - g_i, 0), \qquad
FN = \sum_i \max(g_i - p_i, 0).
$$

For a hard target $g_i \in \{0, 1\}$ these are the usual $\sum_i p_i g_i$,
$\sum_i p_i (1 - g_i)$ and $\sum_i (1 - p_i) g_i$, value for value. For a soft target they are
the counts of the Dice semimetric losses
([Wang et al., 2023](https://arxiv.org/abs/2303.16296); MONAI's `soft_label=True`): with the
product forms the ratios are not largest at $p = g$ (the Dice page shows a fit to soft targets),
while with these every ratio is 1, its maximum, exactly when $p = g$.

The computation has three steps, each its own function, so that a distributed version can sum
the statistics over the ranks between the second and the third:

1. [`softmax_statistics`][deeplossdive.losses._overlap.softmax_statistics] /
   [`sigmoid_statistics`][deeplossdive.losses._overlap.sigmoid_statistics]: validate the inputs
   and return the per-(image, class) counts, shape $(N, C')$;
2. [`aggregate`][deeplossdive.losses._overlap.aggregate]: sum them over the batch for
   `aggregation="batch"` (shape $(C')$), and with `distributed=True` over the ranks too; the
   identity for `"per_image"`;
3. [`overlap_loss`][deeplossdive.losses._overlap.overlap_loss]: given each loss's numerator and
   denominator of those counts, apply the empty policy, the focal exponent and the reduction
   (for `"per_image"` with `distributed=True`, a reduction over the entries of every rank);
   [`overlap_tail`][deeplossdive.losses._overlap.overlap_tail] is the same, with the ratio given
   by its coefficients, in one autograd node: the path of every call but that one.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._distributed import all_reduce_sum, reduce_over_ranks, world_size
from deeplossdive._kernels import KERNEL_DTYPES, use_kernels
from deeplossdive._numerics import compute_dtype, upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    check_choice,
    check_class_indices,
    check_class_target,
    check_distributed_reduction,
    check_floating,
    check_in_unit_interval,
    check_integer,
    check_interval,
    check_min_ndim,
    check_num_classes,
    check_same_shape,
    on_the_host,
)

MAX_KERNEL_CLASSES: Final = 64
"""Most classes the softmax overlap kernel takes; more take the PyTorch path."""

Aggregation = Literal["per_image", "batch"]
"""`"per_image"`: one ratio per (image, class); `"batch"`: one per class, counts summed over N."""
AGGREGATIONS: Final[tuple[Aggregation, ...]] = ("per_image", "batch")

EmptyPolicy = Literal["one", "zero", "ignore", "ignore_absent"]
"""The score of an entry whose target and prediction are both empty: 1, 0, or left out; or
`"ignore_absent"`: every entry whose target is empty is left out, whatever is predicted."""
EMPTY_POLICIES: Final[tuple[EmptyPolicy, ...]] = ("one", "zero", "ignore", "ignore_absent")


class OverlapStatistics(NamedTuple):
    """Soft counts per (image, class), shape $(N, C')$, or per class after batch aggregation.

    `support` is the number of valid (not ignored) pixels behind each entry: an entry without a
    single valid pixel carries no information and is left out of the mean.
    """

    tp: Tensor
    fp: Tensor
    fn: Tensor
    support: Tensor


def check_overlap_options(
    function: str,
    *,
    smooth: float,
    aggregation: object,
    empty: object,
    reduction: object = "mean",
    distributed: bool = False,
) -> float:
    """Validate the options common to the six overlap losses; return `smooth` as a float."""
    smooth = check_interval(function, "smooth", smooth, NON_NEGATIVE_FINITE)
    check_choice(function, "aggregation", aggregation, AGGREGATIONS)
    check_choice(function, "empty", empty, EMPTY_POLICIES)
    check_distributed_reduction(function, check_reduction(function, reduction), distributed)
    return smooth


def _spatial_sum(tensor: Tensor) -> Tensor:
    """Sum a $(N, C, d_1, \\dots)$ tensor over its spatial dimensions (none for $(N, C)$)."""
    spatial = math.prod(tensor.shape[2:])
    return tensor.reshape(tensor.shape[0], tensor.shape[1], spatial).sum(dim=2)


def softmax_statistics(
    function: str,
    logits: Tensor,
    target: Tensor,
    *,
    include_background: bool,
    ignore_index: int,
) -> OverlapStatistics:
    """Per-(image, class) soft counts of `softmax(logits)` against one-hot class indices.

    CUDA tensors take the fused Triton kernel when `use_kernels` says so (at most
    `MAX_KERNEL_CLASSES` classes); otherwise the PyTorch path, whose class sums are a scatter on
    the CPU and sums over a comparison mask elsewhere. None syncs with the host once the label
    check is off.
    """
    check_floating(function, "logits", logits)
    check_integer(function, "target", target)
    check_min_ndim(function, "logits", logits, 2, "(N, C, ...)")
    check_class_target(function, "logits", logits, target)
    num_classes = check_num_classes(function, "logits", logits)
    every_pixel_labelled = check_class_indices(function, target, num_classes, ignore_index)

    batch, spatial = logits.shape[0], math.prod(logits.shape[2:])
    if (
        use_kernels(logits, target)
        and logits.dtype in KERNEL_DTYPES
        and num_classes <= MAX_KERNEL_CLASSES
        and logits.numel() > 0
    ):
        from deeplossdive._kernels.overlap import softmax_overlap_counts

        tp, fp, fn, count = softmax_overlap_counts(
            logits.reshape(batch, num_classes, spatial),
            target.reshape(batch, spatial),
            ignore_index,
        )
        stats = OverlapStatistics(
            tp=tp, fp=fp, fn=fn, support=count.sum(dim=1, keepdim=True).expand(-1, num_classes)
        )
    else:
        stats = _softmax_statistics_torch(
            logits,
            target,
            num_classes,
            ignore_index,
            every_pixel_labelled,
            by_mask=not on_the_host(logits),
        )
    if include_background:
        return stats
    return OverlapStatistics(*(statistic[:, 1:] for statistic in stats))


def _softmax_statistics_torch(
    logits: Tensor,
    target: Tensor,
    num_classes: int,
    ignore_index: int,
    every_pixel_labelled: bool,
    *,
    by_mask: bool,
) -> OverlapStatistics:
    """The PyTorch path of `softmax_statistics`, in one of two formulations of the class sums.

    `by_mask=False` (the CPU): gather each pixel's probability at its label and add it to its
    class with `scatter_add_`, $O(S)$ work on top of the softmax. `by_mask=True` (a GPU without
    Triton): every pixel of a class adding into the same address serializes on a GPU, so the
    sums are sums over the last dimension of $(N, C, S)$ tensors instead, with the one-hot
    target written once as the comparison of the labels with `arange(C)`. Neither syncs with
    the host.
    """
    batch, spatial = logits.shape[0], math.prod(logits.shape[2:])
    flat = target.reshape(batch, 1, spatial)
    work = upcast(logits).reshape(batch, num_classes, spatial)
    if by_mask:
        if every_pixel_labelled:
            labels, ignored = flat, None
        else:
            ignored = flat == ignore_index
            # A label outside [0, C) (value checks off) matches no class, as in a one-hot
            # encoding; so does ignore_index, unless it is itself a class: then it becomes -1.
            labels = flat
            if 0 <= ignore_index < num_classes:
                labels = torch.where(ignored, -1, flat if flat.dtype.is_signed else flat.long())
        classes = torch.arange(num_classes, device=work.device).view(1, num_classes, 1)
        one_hot = torch.empty_like(work)
        torch.eq(labels, classes, out=one_hot)
        tp, predicted = _SoftmaxCountsByMask.apply(work, one_hot, ignored)  # type: ignore[no-untyped-call]
        count = one_hot.sum(dim=2)
    else:
        if every_pixel_labelled:
            # Verified: no ignored pixel and no label outside [0, C), so no mask is needed.
            labels, valid, hit = flat.long(), None, None
            label_weight = torch.ones((), dtype=work.dtype, device=work.device).expand(
                batch, spatial
            )
        else:
            valid = flat != ignore_index
            # With value checks off, a label outside [0, C) matches no class, as in a one-hot
            # encoding.
            hit_mask = valid & (flat >= 0) & (flat < num_classes)
            labels = torch.where(hit_mask, flat, 0).long()
            # One conversion of the mask, shared by both counts and the backward pass.
            hit = hit_mask.to(work.dtype)
            label_weight = hit.squeeze(1)
        tp, predicted = _SoftmaxCounts.apply(work, labels, valid, hit)  # type: ignore[no-untyped-call]
        # The label counts: one-hot sums, without the one-hot tensor (no gradient).
        count = torch.zeros_like(tp).scatter_add_(1, labels.squeeze(1), label_weight)
    # FP = sum p - TP and FN = count - TP: the sums of the formulas, from two soft sums.
    return OverlapStatistics(
        tp=tp,
        fp=predicted - tp,
        fn=count - tp,
        support=count.sum(dim=1, keepdim=True).expand(-1, num_classes),
    )


class _SoftmaxCounts(torch.autograd.Function):
    r"""$TP_{nc} = \sum_i p_{nci} g_{nci}$ and $\sum_i p_{nci}$ over the valid pixels, $(N, C)$.

    Inputs: `logits` $(N, C, S)$, `labels` $(N, 1, S)$ int64 (0 where ignored), `valid`
    $(N, 1, S)$ bool (not ignored), `hit` $(N, 1, S)$ in the logits' dtype: 1 where valid with a
    label in $[0, C)$, else 0. `valid` and `hit` are None when every pixel is known to be
    valid with a label in $[0, C)$: then no pass applies them.
    Neither the one-hot target nor a product with it is ever formed: $TP$ gathers $p$ at the
    labels and adds it up per class. The probabilities of ignored pixels are set to 0 in place
    (whatever their logits hold, NaN included), which removes them from both sums and, in the
    backward pass, makes their gradient exactly 0. With $\bar T$ and $\bar P$ the incoming
    gradients of the two outputs, the backward pass is
    $\partial / \partial p_{nci} = \bar P_{nc} + \bar T_{nc} [y_{ni} = c]$ on valid pixels,
    then the softmax's; the mask by valid pixels needs no pass of its own, since the softmax's
    backward multiplies by the probabilities, 0 there. It keeps one tensor of the input's size,
    the probabilities, where the autograd graph of the sums of products keeps and revisits
    several. Second derivatives are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any, logits: Tensor, labels: Tensor, valid: Tensor | None, hit: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        probs = torch.softmax(logits, dim=1)
        if valid is not None:
            probs.masked_fill_(~valid, 0.0)
        at_label = probs.gather(1, labels)
        if hit is not None:
            at_label.mul_(hit)
        tp = torch.zeros(probs.shape[:2], dtype=probs.dtype, device=probs.device)
        tp.scatter_add_(1, labels.squeeze(1), at_label.squeeze(1))
        predicted = probs.sum(dim=2)
        ctx.save_for_backward(probs, labels, hit)
        return tp, predicted

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_tp: Tensor, grad_predicted: Tensor) -> tuple[Tensor | None, ...]:
        probs, labels, hit = ctx.saved_tensors
        grad_probs = grad_predicted.unsqueeze(2).expand_as(probs).contiguous()
        at_label = grad_tp.gather(1, labels.squeeze(1)).unsqueeze(1)
        if hit is not None:
            at_label.mul_(hit)
        grad_probs.scatter_add_(1, labels, at_label)
        return torch._softmax_backward_data(grad_probs, probs, 1, probs.dtype), None, None, None


class _SoftmaxCountsByMask(torch.autograd.Function):
    r"""$TP_{nc} = \sum_i p_{nci} g_{nci}$ and $\sum_i p_{nci}$, as sums over $i$: for GPUs.

    The outputs of [`_SoftmaxCounts`][deeplossdive.losses._overlap._SoftmaxCounts], without
    its scatter. Inputs: `logits` $(N, C, S)$, `one_hot` $(N, C, S)$ in the logits' dtype, 1
    where the label of a pixel is the class (0 for labels outside $[0, C)$ and, when
    `ignore_index` is a class, at ignored pixels), `ignored` $(N, 1, S)$ bool, or None when no
    pixel is ignored. $TP$ is a dot product with the one-hot target over the last dimension.
    The probabilities of ignored pixels are set to 0 in place, as there. The backward pass is
    $\partial / \partial p_{nci} = \bar P_{nc} + \bar T_{nc}\, g_{nci}$ in one pass, then the
    softmax's. It keeps the probabilities and the one-hot target. Second derivatives are not
    implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any, logits: Tensor, one_hot: Tensor, ignored: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        probs = torch.softmax(logits, dim=1)
        if ignored is not None:
            probs.masked_fill_(ignored, 0.0)
        tp = torch.linalg.vecdot(probs, one_hot, dim=2)
        predicted = probs.sum(dim=2)
        ctx.save_for_backward(probs, one_hot)
        return tp, predicted

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_tp: Tensor, grad_predicted: Tensor) -> tuple[Tensor | None, ...]:
        probs, one_hot = ctx.saved_tensors
        grad_probs = torch.addcmul(grad_predicted.unsqueeze(2), grad_tp.unsqueeze(2), one_hot)
        return torch._softmax_backward_data(grad_probs, probs, 1, probs.dtype), None, None


def sigmoid_statistics(function: str, logits: Tensor, target: Tensor) -> OverlapStatistics:
    r"""Per-(image, channel) soft counts of `sigmoid(logits)` against targets in $[0, 1]$.

    The counts of the module docstring, $\min(p, g)$ and the two parts of $g - p$, which make
    every ratio largest at $p = g$ for soft targets too. $g - p$ is computed as
    $g\,\sigma(-x) - (1 - g)\,\sigma(x)$: for a hard target that is $\sigma(-x)$ or $-p$ exactly,
    so $1 - p$ keeps its digits where $p$ rounds to 1 and the counts equal the product forms'.
    CUDA tensors take the fused Triton kernel (one read of logits and targets forward, one read
    and one write backward) when `use_kernels` says so
    and `target` needs no gradient.
    """
    check_floating(function, "logits", logits)
    check_floating(function, "target", target)
    check_min_ndim(function, "logits", logits, 2, "(N, C, ...)")
    check_same_shape(function, "target", target, "logits", logits)
    check_in_unit_interval(function, "target", target)

    spatial = math.prod(logits.shape[2:])
    batch, channels = logits.shape[:2]
    support = torch.full(
        logits.shape[:2], float(spatial), dtype=compute_dtype(logits), device=logits.device
    )
    if (
        use_kernels(logits, target)
        and logits.dtype in KERNEL_DTYPES
        and not (target.requires_grad and torch.is_grad_enabled())
        and logits.numel() > 0
    ):
        from deeplossdive._kernels.overlap import sigmoid_overlap_counts

        tp, fp, fn = sigmoid_overlap_counts(
            logits.reshape(batch, channels, spatial), target.reshape(batch, channels, spatial)
        )
        return OverlapStatistics(tp=tp, fp=fp, fn=fn, support=support)

    work = upcast(logits)
    truth = target.to(work.dtype)
    probs = torch.sigmoid(work)
    shortfall = truth * torch.sigmoid(-work) - (1 - truth) * probs  # g - p
    excess = torch.relu(-shortfall)  # max(p - g, 0)
    return OverlapStatistics(
        tp=_spatial_sum(probs - excess),  # min(p, g)
        fp=_spatial_sum(excess),
        fn=_spatial_sum(torch.relu(shortfall)),
        support=support,
    )


def aggregate(
    stats: OverlapStatistics, aggregation: Aggregation, *, distributed: bool = False
) -> OverlapStatistics:
    """`"batch"`: sum the counts over the images (dimension 0); `"per_image"`: unchanged.

    With `distributed=True` in a process group, the batch counts are then summed over the ranks
    (one differentiable all-reduce of the four tensors): the counts of the global batch.
    """
    if aggregation == "per_image":
        return stats
    summed = OverlapStatistics(*(statistic.sum(dim=0) for statistic in stats))
    if world_size(distributed) == 1:
        return summed
    return OverlapStatistics(*all_reduce_sum(torch.stack(summed)).unbind(0))


def overlap_loss(
    numerator: Tensor,
    denominator: Tensor,
    stats: OverlapStatistics,
    *,
    empty: EmptyPolicy,
    reduction: Reduction,
    gamma: float = 1.0,
    over_ranks: bool = False,
) -> Tensor:
    r"""The loss $(1 - \text{numerator} / \text{denominator})^\gamma$, empty policy, reduction.

    An entry is *empty* when $TP + FP + FN = 0$: its target and its prediction are both empty,
    and without smoothing its ratio is $0/0$. Its score is then 1 (`"one"`), 0 (`"zero"`), or it
    gets weight 0 (`"ignore"`), as does every entry without a valid pixel. `"ignore_absent"`
    gives weight 0 to every entry whose target is empty, $TP + FN = 0$, predicted or not. The
    ratio is taken with a denominator of 1 at zero denominators, so neither the value nor the
    gradient is ever NaN.

    `over_ranks=True` (per-image aggregation with `distributed=True`): the entries are this
    rank's share of the global batch, and the reduction sums $\sum w \ell$ and $\sum w$ over
    the ranks, so that `"mean"` is the mean over every image of the global batch.
    """
    is_empty = (stats.tp + stats.fp + stats.fn) == 0
    excluded = stats.support == 0
    if empty == "ignore":
        excluded = excluded | is_empty
    elif empty == "ignore_absent":
        excluded = excluded | ((stats.tp + stats.fn) == 0)
    score = numerator / denominator.masked_fill(denominator == 0, 1.0)
    empty_loss = 1.0 if empty == "zero" else 0.0
    # Left-out entries hold 0 in the unreduced loss (their weight is 0 anyway). masked_fill
    # (as where) passes no gradient to the entries it fills; each is one kernel on a small
    # tensor, with no tensor of constants to build.
    loss = (1 - score).masked_fill_(is_empty, empty_loss).masked_fill_(excluded, 0.0)
    if gamma != 1.0:
        # (1 - score)^gamma with the gradient 0 at 1 - score = 0: the true slope there is 0 for
        # gamma > 1 and +inf for gamma < 1, and pow's backward would give 0 · inf = NaN.
        positive = loss > 0
        base = torch.where(positive, loss, torch.ones_like(loss))
        loss = torch.where(positive, base**gamma, torch.zeros_like(loss))
    weight = (~excluded).to(loss.dtype)
    if over_ranks and world_size(True) > 1:
        return reduce_over_ranks(loss, reduction, weight=weight)
    return reduce_loss(loss, reduction, weight=weight)


class _OverlapTail(torch.autograd.Function):
    r"""[`overlap_loss`][deeplossdive.losses._overlap.overlap_loss] of the score
    $(a\,TP + s) / (b\,TP + c\,FP + d\,FN + s)$, as one node with a hand-derived backward pass.

    The composite version dispatches some ninety operations on the small $(N, C)$ tensors, each
    a kernel launch on a GPU, and as many autograd nodes; this one takes about twenty forward and
    ten backward. The values and the gradients are those of the composite version, operation for
    operation where the order of the floating-point operations matters: the ratio's terms are
    added in the same order, and the backward pass follows the formulas of torch's `div` and
    `pow` backward. Entries that are empty or left out, and entries at $1 - \text{score} \le 0$
    for $\gamma \ne 1$, get no gradient, as there; so does the denominator where it is 0.
    Second derivatives are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        tp: Tensor,
        fp: Tensor,
        fn: Tensor,
        support: Tensor,
        coefficients: tuple[float, float, float, float],
        smooth: float,
        empty: EmptyPolicy,
        reduction: Reduction,
        gamma: float,
    ) -> Tensor:
        a, b, c, d = coefficients
        scaled_tp = tp * b if b != 1.0 else tp
        numerator = (scaled_tp if a == b else tp * a) + smooth
        denominator = scaled_tp + (fp if c == 1.0 else fp * c)
        denominator.add_(fn if d == 1.0 else fn * d).add_(smooth)
        is_empty = (tp + fp).add_(fn) == 0
        excluded = support == 0
        if empty == "ignore":
            excluded |= is_empty
        elif empty == "ignore_absent":
            excluded |= (tp + fn) == 0
        denominator_zero = denominator == 0
        denominator.masked_fill_(denominator_zero, 1.0)
        score = numerator.div_(denominator)
        empty_loss = 1.0 if empty == "zero" else 0.0
        loss = (1 - score).masked_fill_(is_empty, empty_loss).masked_fill_(excluded, 0.0)
        frozen = is_empty | excluded
        if gamma == 1.0:
            slope = frozen.logical_not_()  # bool: a product with it is one operation
        else:
            # (1 - score)^gamma, 0 and without gradient where 1 - score is not > 0: the true
            # slope there is 0 for gamma > 1 and +inf for gamma < 1.
            outside = (loss > 0).logical_not_()
            base = loss.masked_fill_(outside, 1.0)
            frozen |= outside
            slope = base.pow(gamma - 1.0).mul_(gamma).masked_fill_(frozen, 0.0)
            loss = base.pow_(gamma).masked_fill_(outside, 0.0)
        ctx.coefficients = coefficients
        ctx.reduction = reduction
        if reduction == "none":
            ctx.save_for_backward(score, denominator, denominator_zero, slope)
            return loss
        total = loss.sum()
        if reduction == "sum":
            ctx.save_for_backward(score, denominator, denominator_zero, slope)
            return total
        count = excluded.logical_not_().sum().clamp_(min=1)
        ctx.save_for_backward(score, denominator, denominator_zero, slope, count)
        return total / count

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        a, b, c, d = ctx.coefficients
        score, denominator, denominator_zero, slope, *count = ctx.saved_tensors
        if ctx.reduction == "mean":
            grad = grad / count[0]
        grad_loss = slope * grad  # the gradient of 1 - score
        # score = numerator / denominator: torch's div backward, with grad_score = -grad_loss,
        # so the numerator's gradient is -quotient.
        quotient = grad_loss / denominator
        grad_denominator = (grad_loss * score.div(denominator)).masked_fill_(denominator_zero, 0.0)
        if a == b and math.frexp(a)[0] == 0.5:
            # a·(-q) + a·g_den = a·(g_den - q) exactly for a power of two.
            difference = grad_denominator - quotient
            grad_tp = difference if a == 1.0 else difference.mul_(a)
        else:
            grad_tp = torch.sub(grad_denominator * b, quotient * a)
        grad_fp = grad_denominator if c == 1.0 else grad_denominator * c
        grad_fn = grad_denominator if d == 1.0 else grad_denominator * d
        return grad_tp, grad_fp, grad_fn, None, None, None, None, None, None


def overlap_tail(
    stats: OverlapStatistics,
    coefficients: tuple[float, float, float, float],
    smooth: float,
    *,
    empty: EmptyPolicy,
    reduction: Reduction,
    gamma: float = 1.0,
) -> Tensor:
    r"""`overlap_loss` of the score $(a\,TP + s) / (b\,TP + c\,FP + d\,FN + s)$, with
    `coefficients` $(a, b, c, d)$ and `smooth` $s$, in one autograd node (`_OverlapTail`)."""
    loss: Tensor = _OverlapTail.apply(  # type: ignore[no-untyped-call]
        stats.tp,
        stats.fp,
        stats.fn,
        stats.support,
        tuple(coefficients),
        smooth,
        empty,
        reduction,
        gamma,
    )
    return loss
