"""Margin-based classification of embeddings on the hypersphere: ArcFace and CosFace."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import compute_dtype
from deeplossdive._reduction import Reduction, check_reduction
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    POSITIVE_FINITE,
    Interval,
    check_floating,
    check_integer,
    check_interval,
    check_ndim,
    check_shape,
    value_checks_active,
)

ARC_MARGIN = Interval(0, math.pi / 2, high_open=True)
"""ArcFace's margin, in radians: $[0, \\pi/2)$."""

TargetCosine = Callable[[Tensor], Tensor]
"""Maps the true class's cosine $\\cos\\theta_{y}$, shape $(N, 1)$, to its margin-penalized one."""


def arcface_loss(
    embeddings: Tensor,
    weight: Tensor,
    labels: Tensor,
    /,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Additive angular margin loss (ArcFace) of [Deng et al., 2019](https://arxiv.org/abs/1801.07698).

    Embedding $x_n$ and each class's weight row $w_j$ are L2-normalized, so that their product is
    the cosine of the angle $\theta_{n,j}$ between them. The true class $y_n$ must win by an
    angle $m$: its logit is $s\,\psi(\theta_{n,y_n})$, every other class's $s\cos\theta_{n,j}$,
    and the loss is their cross-entropy,

    $$
    \ell_n = -\log \frac{e^{s\,\psi(\theta_{n,y_n})}}
        {e^{s\,\psi(\theta_{n,y_n})} + \sum_{j \ne y_n} e^{s\cos\theta_{n,j}}},
    \qquad
    \psi(\theta) = \begin{cases}
        \cos(\theta + m) & \theta \le \pi - m, \\
        \cos\theta - m \sin m & \theta > \pi - m.
    \end{cases}
    $$

    Past $\theta = \pi - m$, $\cos(\theta + m)$ would turn back up (a worse angle, a larger
    logit); there $\psi$ is $\cos\theta - m\sin m$, the rule of
    [insightface](https://github.com/deepinsight/insightface/blob/5ef98047542b18d911cef1e10c6c02273c4adff3/recognition/arcface_torch/losses.py)
    and of pytorch-metric-learning's `ArcFaceLoss`, which keeps $\psi$ decreasing (it steps
    down by $\cos m + m \sin m - 1$ at $\pi - m$, 0.117 for $m = 0.5$). $\cos(\theta + m)$ is
    computed as $\cos\theta\cos m - \sin\theta\sin m$ with
    $\sin\theta = \sqrt{1 - \cos^2\theta}$, and no `acos`: the gradient stays finite at
    $\cos\theta = \pm 1$ (where that of the square root is taken as 0). A zero embedding or
    weight row has cosine 0 with everything. `"mean"` averages over the $N$ embeddings (0 for an
    empty batch).

    The cosines, $\psi$ and the logits are computed in float32 for float16 and bfloat16 inputs
    (and with autocast off: $s\cos\theta$ reaches 64, and the softmax of float16 logits
    overflows, $e^{64} > 65504$), then torch's fused cross-entropy; the result has the promoted
    dtype of `embeddings` and `weight`.

    Args:
        embeddings: Embeddings $x_n$, shape $(N, D)$; their norm does not matter.
        weight: One weight row $w_j$ per class, shape $(C, D)$ as `nn.Linear`'s; their norm
            does not matter.
        labels: The class $y_n$ of each embedding, shape $(N)$, integers in $[0, C)$.
        margin: The angular margin $m$ in radians, in $[0, \pi/2)$. pytorch-metric-learning's
            `margin` is in degrees, $m = \pi d / 180$ for $d$ degrees.
        scale: The scale $s > 0$ of the logits (the radius of the hypersphere).
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `embeddings` or `weight` is not floating point, or `labels` not integer.
        ValueError: `embeddings` is not $(N, D)$, `weight` not $(C, D)$ with $C \ge 1$ and the
            embeddings' $D$, `labels` not $(N)$, a label outside $[0, C)$ (a value check), `margin`
            outside $[0, \pi/2)$, `scale` not a finite number $> 0$, or an unknown `reduction`.

    Examples:
        One embedding on its class's weight ($\theta = 0$), the other class at a right angle:
        the logits are $s\cos m$ and 0.

        >>> import math, torch
        >>> from deeplossdive.functional import arcface_loss
        >>> weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> embeddings = torch.tensor([[2.0, 0.0]])
        >>> loss = arcface_loss(embeddings, weight, torch.tensor([0]), margin=0.5, scale=4.0)
        >>> print(f"{loss:.4f}")
        0.0294

        By hand: $\log(1 + e^{-4\cos 0.5}) = \log(1 + e^{-3.5103}) = \log 1.0299 = 0.0294$.
    """
    fn = "arcface_loss"
    margin = check_interval(fn, "margin", margin, ARC_MARGIN)
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    threshold, step = math.cos(math.pi - margin), margin * math.sin(margin)

    def target_cosine(cos: Tensor) -> Tensor:
        squared = 1 - cos * cos
        inside = squared > 0
        # sqrt of 1 where its argument is <= 0, so that no gradient of sqrt at 0 leaks through.
        sin = torch.where(inside, torch.sqrt(torch.where(inside, squared, 1)), 0)
        return torch.where(cos >= threshold, cos * cos_m - sin * sin_m, cos - step)

    return _margin_softmax(fn, embeddings, weight, labels, target_cosine, scale, reduction)


def cosface_loss(
    embeddings: Tensor,
    weight: Tensor,
    labels: Tensor,
    /,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Large margin cosine loss (CosFace) of [Wang et al., 2018](https://arxiv.org/abs/1801.09414).

    As [`arcface_loss`][deeplossdive.functional.arcface_loss] (same inputs, normalization,
    precision and reductions), with the margin subtracted from the true class's cosine rather
    than added to its angle:

    $$
    \ell_n = -\log \frac{e^{s(\cos\theta_{n,y_n} - m)}}
        {e^{s(\cos\theta_{n,y_n} - m)} + \sum_{j \ne y_n} e^{s\cos\theta_{n,j}}}.
    $$

    Args:
        embeddings: Embeddings $x_n$, shape $(N, D)$.
        weight: One weight row $w_j$ per class, shape $(C, D)$.
        labels: The class $y_n$ of each embedding, shape $(N)$, integers in $[0, C)$.
        margin: The cosine margin $m$, a finite number $\ge 0$ (pytorch-metric-learning's and
            the paper's unit too).
        scale: The scale $s > 0$ of the logits.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: As `arcface_loss`.
        ValueError: As `arcface_loss`, with `margin` a finite number $\ge 0$.

    Examples:
        The embedding of the `arcface_loss` example: the logits are $s(1 - m)$ and 0.

        >>> import torch
        >>> from deeplossdive.functional import cosface_loss
        >>> weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> embeddings = torch.tensor([[2.0, 0.0]])
        >>> loss = cosface_loss(embeddings, weight, torch.tensor([0]), margin=0.35, scale=4.0)
        >>> print(f"{loss:.4f}")
        0.0716

        By hand: $\log(1 + e^{-4 \cdot 0.65}) = \log(1 + e^{-2.6}) = \log 1.0743 = 0.0716$.
    """
    fn = "cosface_loss"
    margin = check_interval(fn, "margin", margin, NON_NEGATIVE_FINITE)

    def target_cosine(cos: Tensor) -> Tensor:
        return cos - margin

    return _margin_softmax(fn, embeddings, weight, labels, target_cosine, scale, reduction)


def _margin_softmax(
    fn: str,
    embeddings: Tensor,
    weight: Tensor,
    labels: Tensor,
    target_cosine: TargetCosine,
    scale: float,
    reduction: Reduction,
) -> Tensor:
    """The cross-entropy of `scale` times the cosines, the true class's through `target_cosine`."""
    _check_inputs(fn, embeddings, weight, labels)
    scale = check_interval(fn, "scale", scale, POSITIVE_FINITE)
    check_reduction(fn, reduction)

    dtype = torch.promote_types(compute_dtype(embeddings), compute_dtype(weight))
    labels = labels.long()[:, None]
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        cos = F.linear(F.normalize(embeddings.to(dtype)), F.normalize(weight.to(dtype)))
        # One-to-one writes of the true classes' cosines: no atomics, no host sync.
        logits = cos.scatter(1, labels, target_cosine(cos.gather(1, labels))) * scale
        empty_mean = reduction == "mean" and logits.shape[0] == 0
        loss = F.cross_entropy(logits, labels[:, 0], reduction="sum" if empty_mean else reduction)
    return loss.to(torch.promote_types(embeddings.dtype, weight.dtype))


def _check_inputs(fn: str, embeddings: Tensor, weight: Tensor, labels: Tensor) -> None:
    check_floating(fn, "embeddings", embeddings)
    check_floating(fn, "weight", weight)
    check_integer(fn, "labels", labels)
    check_ndim(fn, "embeddings", embeddings, 2, "(N, D)")
    rows, dim = embeddings.shape
    if weight.dim() != 2 or weight.shape[1] != dim or weight.shape[0] < 1:
        raise ValueError(
            f"{fn}: weight must have shape (C, {dim}) with C >= 1 (one row per class, the "
            f"embeddings' D, as nn.Linear's weight), got {tuple(weight.shape)}"
        )
    check_shape(fn, "labels", labels, (rows,), "one label per embedding")
    num_classes = weight.shape[0]
    if not value_checks_active(labels) or labels.numel() == 0:
        return
    low, high = torch.aminmax(labels.detach())
    if not bool((low >= 0) & (high < num_classes)):
        value = int(low) if int(low) < 0 else int(high)
        raise ValueError(f"{fn}: labels must be in [0, {num_classes}), got {value}")


class _MarginHead(Loss[Reduction]):
    """A margin loss holding its class weights as a parameter: `module(embeddings, labels)`."""

    weight: nn.Parameter
    margin_interval: ClassVar[Interval]

    def __init__(
        self, num_classes: int, embedding_dim: int, margin: float, scale: float, reduction: str
    ) -> None:
        name = type(self).__name__
        for key, value in (("num_classes", num_classes), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {key} must be an integer >= 1, got {value!r}")
        options = {"margin": margin, "scale": scale, "reduction": reduction}
        super().__init__(options, margin=self.margin_interval, scale=POSITIVE_FINITE)
        # pytorch-metric-learning's initialization, torch.nn.init.normal_ (std 1): every row
        # direction equally likely; the loss reads only the directions.
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.normal_(self.weight)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:  # type: ignore[override]
        return self.function(embeddings, self.weight, labels, **self.options())

    def extra_repr(self) -> str:
        num_classes, embedding_dim = self.weight.shape
        return f"{num_classes}, {embedding_dim}, {self.describe()}"


class ArcFaceLoss(_MarginHead, function=arcface_loss):
    r"""Module form of [`arcface_loss`][deeplossdive.functional.arcface_loss].

    Unlike the other modules, it holds a parameter: `weight`, shape $(C, D)$
    (`num_classes`, `embedding_dim`), trained with the embedding network (give it to the
    optimizer: `module.parameters()`), initialized as pytorch-metric-learning's (normal, std 1;
    only the directions of its rows matter). `module(embeddings, labels)` is
    `arcface_loss(embeddings, module.weight, labels, ...)`.

    Shape:
        embeddings $(N, D)$, labels $(N)$; the loss $(N)$ for `"none"`, a scalar otherwise.
    """

    margin_interval = ARC_MARGIN

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        margin: float = 0.5,
        scale: float = 64.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(num_classes, embedding_dim, margin, scale, reduction)


class CosFaceLoss(_MarginHead, function=cosface_loss):
    r"""Module form of [`cosface_loss`][deeplossdive.functional.cosface_loss].

    Holds `weight`, shape $(C, D)$, as [`ArcFaceLoss`][deeplossdive.nn.ArcFaceLoss] does.

    Shape:
        embeddings $(N, D)$, labels $(N)$; the loss $(N)$ for `"none"`, a scalar otherwise.
    """

    margin_interval = NON_NEGATIVE_FINITE

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        margin: float = 0.35,
        scale: float = 64.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(num_classes, embedding_dim, margin, scale, reduction)


ANGLE = Axis("$\\theta_y$", (0.0, math.pi), "$\\theta_y$")
_ANGLE_SETUP = (
    "Two classes at a right angle, the embedding at angle $\\theta_y$ to its own class's weight "
    "(and $\\pi/2 - \\theta_y$ to the other's), scale $s = 16$."
)


def _at_angle(function: Callable[..., Tensor], **options: float) -> Curve:
    def loss(theta: Tensor) -> Tensor:
        embeddings = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
        weight = torch.eye(2, dtype=theta.dtype)
        labels = torch.zeros(theta.shape[0], dtype=torch.long)
        return function(embeddings, weight, labels, scale=16.0, reduction="none", **options)

    return loss


describe(
    arcface_loss,
    family="Metric learning",
    task="Face / speaker recognition, retrieval with class labels",
    plot=Plot(
        ANGLE,
        _ANGLE_SETUP,
        {
            "softmax (m = 0)": _at_angle(arcface_loss, margin=0.0),
            "ArcFace m = 0.5": _at_angle(arcface_loss, margin=0.5),
            "CosFace m = 0.35": _at_angle(cosface_loss, margin=0.35),
        },
    ),
    chart=Leaf("Learn embeddings", "embeddings, one class each", "angular margin"),
)
describe(
    cosface_loss,
    family="Metric learning",
    task="Face / speaker recognition, retrieval with class labels",
    plot=Plot(
        ANGLE,
        _ANGLE_SETUP,
        {f"CosFace m = {m:g}": _at_angle(cosface_loss, margin=m) for m in (0.0, 0.2, 0.35)},
    ),
    chart=Leaf("Learn embeddings", "embeddings, one class each", "cosine margin"),
)
