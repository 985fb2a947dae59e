"""The margin losses of torch.nn: ranking, soft margin, hinge embedding and the multi-label pair."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import MARGIN, Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE,
    check_class_weight,
    check_floating,
    check_in_unit_interval,
    check_integer,
    check_interval,
    check_ndim,
    check_padded_class_indices,
    check_plus_minus_one,
    check_probability_values,
    check_same_shape,
    check_signed_labels,
    check_signed_target,
    check_zero_one_labels,
    check_zero_one_labels_dtype,
)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    /,
    *,
    margin: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Margin ranking loss: $x_1$ should rank above $x_2$ by a margin when $y = 1$, below when
    $y = -1$, as in `torch.nn.MarginRankingLoss`: the pairwise loss of the ranking SVM
    ([Joachims, 2002](https://doi.org/10.1145/775047.775067)).

    With scores $x_1$, $x_2$, a label $y \in \{-1, +1\}$ and a margin $m$,

    $$
    \ell = \max\bigl(0,\ m - y\,(x_1 - x_2)\bigr) .
    $$

    A pair costs nothing once the right score leads by $m$. With $x_2 = 0$ it is the binary
    hinge of [`hinge_loss`][deeplossdive.functional.hinge_loss] (whose default margin is 1,
    this one's 0). `"mean"` averages over every pair. float16 and bfloat16 inputs are computed in
    float32 and the result is returned in the input dtype.

    Args:
        input1: Scores of the first item of each pair, any shape, floating point.
        input2: Scores of the second item, the shape of `input1`, floating point.
        target: Labels $+1$ ($x_1$ should be higher) or $-1$ ($x_2$ should), the shape of
            `input1`, floating point or signed integer.
        margin: The margin $m \ge 0$.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `input1` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `input1` or `input2` is not floating point, or `target` is neither floating
            point nor a signed integer.
        ValueError: Shapes differ, `margin` < 0, an unknown `reduction`, or (with value checks
            on) a label other than $-1$ and $+1$.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import margin_ranking_loss
        >>> input1 = torch.tensor([2.0, 0.5, 1.0])
        >>> input2 = torch.tensor([1.0, 1.0, 3.0])
        >>> target = torch.tensor([1, 1, -1])
        >>> margin_ranking_loss(input1, input2, target, margin=1.0, reduction="none")
        tensor([0.0000, 1.5000, 0.0000])

        By hand: $\max(0, 1 - (2 - 1)) = 0$, $1 - (0.5 - 1) = 1.5$ and
        $\max(0, 1 + (1 - 3)) = 0$.
    """
    fn = "margin_ranking_loss"
    check_floating(fn, "input1", input1)
    check_floating(fn, "input2", input2)
    check_signed_labels(fn, "target", target)
    check_same_shape(fn, "input2", input2, "input1", input1)
    check_same_shape(fn, "target", target, "input1", input1)
    check_interval(fn, "margin", margin, NON_NEGATIVE)
    check_reduction(fn, reduction)
    check_plus_minus_one(fn, "target", target)
    x1 = upcast(input1)
    x2 = input2.to(x1.dtype)
    loss = torch.clamp_min(margin - target.to(x1.dtype) * (x1 - x2), 0)
    return reduce_loss(loss, reduction).to(input1.dtype)


def soft_margin_loss(input: Tensor, target: Tensor, /, *, reduction: Reduction = "mean") -> Tensor:
    r"""Soft margin loss: the logistic loss for labels $\pm 1$, as in `torch.nn.SoftMarginLoss`
    (the smooth margin loss of [Zhang, 2004](https://doi.org/10.1214/aos/1079120130)).

    With a raw score $x$ and a label $y \in \{-1, +1\}$,

    $$
    \ell = \log\bigl(1 + e^{-y\,x}\bigr) = -\log \sigma(y\,x) .
    $$

    It is binary cross-entropy with logits for the $\{0, 1\}$ target $(y + 1) / 2$, and a smooth
    version of the hinge $\max(0, 1 - y x)$ that never reaches 0. Computed as
    $\operatorname{softplus}(-y\,x)$, which stays finite where torch's
    $\log(1 + e^{-y x})$ overflows (a wrong score of $-100$: torch gives `inf` in float32, this
    gives 100). `"mean"` averages over every element; float16 and bfloat16 inputs are computed in
    float32 and the result is returned in the input dtype.

    Args:
        input: Raw scores (logits), any shape, floating point.
        target: Labels $-1$ or $+1$, the shape of `input`, floating point or signed integer.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `input` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `input` is not floating point, or `target` is neither floating point nor a
            signed integer.
        ValueError: Shapes differ, an unknown `reduction`, or (with value checks on) a label
            other than $-1$ and $+1$.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import soft_margin_loss
        >>> scores = torch.tensor([0.0, 2.0, -100.0])
        >>> soft_margin_loss(scores, torch.tensor([1, 1, 1]), reduction="none")
        tensor([  0.6931,   0.1269, 100.0000])

        By hand: $\log 2 = 0.6931$, $\log(1 + e^{-2}) = 0.1269$, and
        $\log(1 + e^{100}) = 100$ to float32 precision.
    """
    fn = "soft_margin_loss"
    check_signed_target(fn, "input", input, target)
    check_reduction(fn, reduction)
    check_plus_minus_one(fn, "target", target)
    x = upcast(input)
    loss = F.softplus(-target.to(x.dtype) * x)
    return reduce_loss(loss, reduction).to(input.dtype)


def hinge_embedding_loss(
    input: Tensor, target: Tensor, /, *, margin: float = 1.0, reduction: Reduction = "mean"
) -> Tensor:
    r"""Hinge embedding loss: a loss on *distances* between the two embeddings of a pair, as in
    `torch.nn.HingeEmbeddingLoss` (the margin form of
    [Hadsell et al., 2006](https://doi.org/10.1109/CVPR.2006.100), unsquared).

    With a distance $d \ge 0$, a label $y = 1$ (similar pair) or $y = -1$ (dissimilar) and a
    margin $\Delta$,

    $$
    \ell =
    \begin{cases}
    d & y = 1, \\
    \max(0,\ \Delta - d) & y = -1 .
    \end{cases}
    $$

    Similar pairs are pulled together, dissimilar pairs pushed until they are $\Delta$ apart.
    It is **not** the SVM hinge of [`hinge_loss`][deeplossdive.functional.hinge_loss]: given
    classifier scores, its $y = 1$ branch is the raw score, unbounded below. Here a negative
    "distance" is an error (a value check, run on CPU tensors by default); torch accepts it.
    `"mean"` averages over every element; float16 and bfloat16 inputs are computed in float32
    and the result is returned in the input dtype.

    Args:
        input: Distances $d \ge 0$ (an L1 or L2 distance, $1 - \cos$), any shape, floating
            point.
        target: Labels $1$ (similar) or $-1$ (dissimilar), the shape of `input`, floating
            point or signed integer.
        margin: The margin $\Delta \ge 0$.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `input` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `input` is not floating point, or `target` is neither floating point nor a
            signed integer.
        ValueError: Shapes differ, `margin` < 0, an unknown `reduction`, or (with value checks
            on) a label other than $-1$ and $+1$ or a distance that is negative or not finite.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import hinge_embedding_loss
        >>> distance = torch.tensor([0.5, 0.5, 2.0])
        >>> target = torch.tensor([1, -1, -1])
        >>> hinge_embedding_loss(distance, target, reduction="none")
        tensor([0.5000, 0.5000, 0.0000])

        By hand: a similar pair costs its distance 0.5; dissimilar pairs cost
        $\max(0, 1 - 0.5) = 0.5$ and $\max(0, 1 - 2) = 0$.
    """
    fn = "hinge_embedding_loss"
    check_signed_target(fn, "input", input, target)
    check_interval(fn, "margin", margin, NON_NEGATIVE)
    check_reduction(fn, reduction)
    check_plus_minus_one(fn, "target", target)
    check_probability_values(fn, "input", input)
    d = upcast(input)
    loss = torch.where(target > 0, d, torch.clamp_min(margin - d, 0))
    return reduce_loss(loss, reduction).to(input.dtype)


def multilabel_soft_margin_loss(
    logits: Tensor,
    target: Tensor,
    /,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-label soft margin loss: binary cross-entropy with logits, averaged over the classes
    of each sample, as in `torch.nn.MultiLabelSoftMarginLoss` (the one-vs-rest logistic
    regression of [Rifkin & Klautau, 2004](https://jmlr.org/papers/v5/rifkin04a.html)).

    With logits $x_{n,c}$, targets $y_{n,c} \in [0, 1]$ and optional class weights $w_c$,

    $$
    \ell_n = \frac{1}{C} \sum_{c=1}^{C} w_c \Bigl( -y_{n,c} \log \sigma(x_{n,c})
        - (1 - y_{n,c}) \log \sigma(-x_{n,c}) \Bigr) .
    $$

    One value per **sample**: `"none"` has shape $(N)$, and `"mean"` averages the $\ell_n$ over
    the batch, which equals
    [`binary_cross_entropy_with_logits`][deeplossdive.functional.binary_cross_entropy_with_logits]
    with `"mean"` over the $N \cdot C$ elements. The class weights are inside $\ell_n$ and the sum
    is divided by $C$, not by $\sum_c w_c$ (torch's definition). float16 and bfloat16 inputs are
    computed in float32 and the result is returned in the input dtype.

    Args:
        logits: Raw scores $(N, C)$, floating point.
        target: Targets $(N, C)$ in $[0, 1]$ (multi-hot labels or soft targets), floating
            point, integer or boolean.
        weight: Optional weight per class, shape $(C)$, floating point.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits` or `weight` is not floating point, or `target` is complex.
        ValueError: `logits` is not 2-D, `target` does not have its shape, `weight` is not
            $(C)$, an unknown `reduction`, or (with value checks on) a target outside
            $[0, 1]$ (integer targets: other than 0 and 1).

    Examples:
        Two classes, one sample with logits $(0, 0)$:

        >>> import torch
        >>> from deeplossdive.functional import multilabel_soft_margin_loss
        >>> logits = torch.tensor([[0.0, 0.0], [2.0, -2.0]])
        >>> target = torch.tensor([[1, 0], [1, 0]])
        >>> multilabel_soft_margin_loss(logits, target, reduction="none")
        tensor([0.6931, 0.1269])

        By hand: $(\log 2 + \log 2) / 2 = 0.6931$ and $\log(1 + e^{-2}) = 0.1269$ for both
        classes of the second sample.
    """
    fn = "multilabel_soft_margin_loss"
    check_floating(fn, "logits", logits)
    check_zero_one_labels_dtype(fn, "target", target)
    check_ndim(fn, "logits", logits, 2, "(N, C)")
    check_same_shape(fn, "target", target, "logits", logits)
    if weight is not None:
        check_class_weight(fn, "weight", weight, logits.shape[1])
    check_reduction(fn, reduction)
    if target.is_floating_point():
        check_in_unit_interval(fn, "target", target)
    else:
        check_zero_one_labels(fn, "target", target)
    x = upcast(logits)
    per_class = F.binary_cross_entropy_with_logits(x, target.to(x.dtype), reduction="none")
    if weight is not None:
        per_class = per_class * weight.to(x.dtype)
    loss = per_class.sum(dim=1) / max(logits.shape[1], 1)
    return reduce_loss(loss, reduction).to(logits.dtype)


def multilabel_margin_loss(
    scores: Tensor, target: Tensor, /, *, reduction: Reduction = "mean"
) -> Tensor:
    r"""Multi-label margin loss: every true class should outscore every other class by 1, as in
    `torch.nn.MultiLabelMarginLoss` (the multi-label hinge of
    [Weston & Watkins, 1999](https://www.esann.org/sites/default/files/proceedings/legacy/es1999-461.pdf)
    extended to several true classes).

    With scores $x_{n,c}$ and $Y_n$ the list of the true classes of sample $n$,

    $$
    \ell_n = \frac{1}{C} \sum_{j \in Y_n} \sum_{i \notin Y_n}
        \max\bigl(0,\ 1 - (x_{n,j} - x_{n,i})\bigr) .
    $$

    `target` holds the lists as in torch: class indices, **padded with -1**; the first $-1$ ends
    the list (`[3, 0, -1, 1]` is $Y = \{3, 0\}$). A class listed twice counts twice, as in torch.
    One value per sample: `"none"` has shape $(N)$. Computed without a loop or a host sync, with
    an $(N, C, C)$ intermediate. float16 and bfloat16 inputs are computed in float32 and the
    result is returned in the input dtype.

    Args:
        scores: Raw scores $(N, C)$, floating point.
        target: Class indices $(N, C)$, `torch.int64`, each row a list of true classes padded
            with $-1$.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `scores` is not floating point, or `target` is not an integer tensor.
        ValueError: `scores` is not 2-D, `target` does not have its shape, an unknown
            `reduction`, or (with value checks on) a target outside $[-1, C)$.

    Examples:
        Four classes, true classes 3 and 0:

        >>> import torch
        >>> from deeplossdive.functional import multilabel_margin_loss
        >>> scores = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
        >>> target = torch.tensor([[3, 0, -1, 1]])
        >>> multilabel_margin_loss(scores, target)
        tensor(0.8500)

        By hand: for $j = 3$, $(1 - 0.8 + 0.2) + (1 - 0.8 + 0.4) = 1.0$; for $j = 0$,
        $(1 - 0.1 + 0.2) + (1 - 0.1 + 0.4) = 2.4$; $(1.0 + 2.4) / 4 = 0.85$.
    """
    fn = "multilabel_margin_loss"
    check_floating(fn, "scores", scores)
    check_integer(fn, "target", target)
    check_ndim(fn, "scores", scores, 2, "(N, C)")
    check_same_shape(fn, "target", target, "scores", scores)
    check_reduction(fn, reduction)
    num_classes = scores.shape[1]
    check_padded_class_indices(fn, "target", target, num_classes)
    x = upcast(scores)
    listed = (target < 0).cumsum(dim=1) == 0  # the slots before the first -1
    index = torch.where(listed, target, num_classes)
    # One-to-one writes of True (a class listed twice writes True twice): no atomics.
    is_true = torch.zeros(
        (x.shape[0], num_classes + 1), dtype=torch.bool, device=x.device
    ).scatter_(1, index, True)[:, :num_classes]
    true_scores = x.gather(1, torch.where(listed, target, 0))  # x_{n, j} per listed slot
    # (N, slot j, class i): relu, whose gradient at 0 is 0, as in torch's kernel (z > 0).
    terms = torch.relu(1 - true_scores.unsqueeze(2) + x.unsqueeze(1))
    counted = listed.unsqueeze(2) & ~is_true.unsqueeze(1)
    loss = torch.where(counted, terms, 0).sum(dim=(1, 2)) / max(num_classes, 1)
    return reduce_loss(loss, reduction).to(scores.dtype)


class MarginRankingLoss(Loss[Reduction], function=margin_ranking_loss):
    """Module form of [`margin_ranking_loss`][deeplossdive.functional.margin_ranking_loss]."""

    def __init__(self, *, margin: float = 0.0, reduction: Reduction = "mean") -> None:
        super().__init__(locals(), margin=NON_NEGATIVE)


class SoftMarginLoss(Loss[Reduction], function=soft_margin_loss):
    """Module form of [`soft_margin_loss`][deeplossdive.functional.soft_margin_loss]."""

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


class HingeEmbeddingLoss(Loss[Reduction], function=hinge_embedding_loss):
    """Module form of [`hinge_embedding_loss`][deeplossdive.functional.hinge_embedding_loss]."""

    def __init__(self, *, margin: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__(locals(), margin=NON_NEGATIVE)


class MultiLabelSoftMarginLoss(Loss[Reduction], function=multilabel_soft_margin_loss):
    """Module form of
    [`multilabel_soft_margin_loss`][deeplossdive.functional.multilabel_soft_margin_loss].
    """

    def __init__(self, *, weight: Tensor | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


class MultiLabelMarginLoss(Loss[Reduction], function=multilabel_margin_loss):
    """Module form of [`multilabel_margin_loss`][deeplossdive.functional.multilabel_margin_loss]."""

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


def _ranking(margin: float) -> Curve:
    return lambda s: margin_ranking_loss(
        s, torch.zeros_like(s), torch.ones_like(s), margin=margin, reduction="none"
    )


def _soft_margin(s: Tensor) -> Tensor:
    return soft_margin_loss(s, torch.ones_like(s), reduction="none")


def _hinge_embedding(target: int, margin: float = 1.0) -> Curve:
    return lambda d: hinge_embedding_loss(
        d, torch.full_like(d, target), margin=margin, reduction="none"
    )


def _multilabel_soft_margin(target: float) -> Curve:
    def loss(z: Tensor) -> Tensor:
        logits = torch.stack([z, torch.zeros_like(z)], dim=1)
        labels = torch.tensor([target, 0.0], dtype=z.dtype).expand_as(logits)
        return multilabel_soft_margin_loss(logits, labels, reduction="none")

    return loss


def _multilabel_margin(true_classes: tuple[int, ...]) -> Curve:
    def loss(s: Tensor) -> Tensor:
        scores = torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], dim=1)
        row = list(true_classes) + [-1] * (3 - len(true_classes))
        target = torch.tensor(row).expand(s.shape[0], 3)
        return multilabel_margin_loss(scores, target, reduction="none")

    return loss


describe(
    margin_ranking_loss,
    family="Classification",
    task="Ranking (pairs)",
    torch="`F.margin_ranking_loss`",
    plot=Plot(
        replace(MARGIN, x="$y (x_1 - x_2)$", wrt="$x_1$"),
        "A pair with $x_2 = 0$ and $y = 1$: $x_1$ should lead by the margin.",
        {f"margin = {m:g}": _ranking(m) for m in (0.0, 1.0)},
    ),
    chart=Leaf("Learn embeddings", "two scores, which ranks higher", "ranking"),
)
describe(
    soft_margin_loss,
    family="Classification",
    task="Binary (labels ±1)",
    torch="`F.soft_margin_loss`",
    plot=Plot(
        replace(MARGIN, x="$y \\cdot x$", x_range=(-5.0, 5.0), wrt="$x$"),
        "Label $y = +1$, score $x$.",
        {"soft_margin_loss": _soft_margin},
    ),
    chart=Leaf("Binary or multi-label", "a score, labels ±1", "a smooth margin", rank=2),
)
describe(
    hinge_embedding_loss,
    family="Classification",
    task="Metric learning (pair distances)",
    torch="`F.hinge_embedding_loss`",
    plot=Plot(
        Axis("$d$", (0.0, 3.0), "$d$"),
        "A pair of embeddings at distance $d$: similar ($y = 1$) or dissimilar ($y = -1$).",
        {
            "similar (y = 1)": _hinge_embedding(1),
            "dissimilar, Δ = 1": _hinge_embedding(-1),
            "dissimilar, Δ = 2": _hinge_embedding(-1, margin=2.0),
        },
    ),
    chart=Leaf("Learn embeddings", "a distance per pair, labels ±1", "similar or not"),
)
describe(
    multilabel_soft_margin_loss,
    family="Classification",
    task="Multi-label",
    torch="`F.multilabel_soft_margin_loss`",
    plot=Plot(
        Axis("$z$", (-5.0, 5.0), "$z$"),
        "Two classes, logits $(z, 0)$; the second class is false, the first true or false. "
        "The loss of the sample is the mean of the two classes' BCE.",
        {
            "first class true": _multilabel_soft_margin(1.0),
            "first class false": _multilabel_soft_margin(0.0),
        },
    ),
    chart=Leaf("Binary or multi-label", "one logit per label", "averaged over labels", rank=3),
)
describe(
    multilabel_margin_loss,
    family="Classification",
    task="Multi-label (max-margin)",
    torch="`F.multilabel_margin_loss`",
    plot=Plot(
        replace(MARGIN, x="$s$", wrt="$s$"),
        "Three classes, scores $(s, 0, 0)$; class 0 is true, and class 1 too in the second curve.",
        {"true: {0}": _multilabel_margin((0,)), "true: {0, 1}": _multilabel_margin((0, 1))},
    ),
    chart=Leaf(
        "Binary or multi-label", "a score per label, lists of labels", "true labels above the rest"
    ),
)
