"""CLIP and SigLIP: the image-text contrastive losses of OpenCLIP and big_vision."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deeplossdive._about import COSINE, Curve, Leaf, Plot, describe, each, unit_at_cosine
from deeplossdive._base import Loss
from deeplossdive._distributed import all_gather_rows, reduce_over_ranks, row_counts, world_size
from deeplossdive._numerics import compute_dtype
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    POSITIVE_FINITE,
    Interval,
    check_distributed_reduction,
    check_embeddings,
    check_floating,
    check_interval,
    value_checks_active,
)

_FINITE = Interval(-math.inf, low_open=True, high_open=True)


def _check_real(fn: str, name: str, value: float, interval: Interval) -> float:
    """`value` in `interval`, as a float; an interval without ends reads "a finite number"."""
    if interval == _FINITE and isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be a finite number, got {value}")
    return check_interval(fn, name, value, interval)


def _check_scalar(fn: str, name: str, value: float | Tensor, interval: Interval) -> None:
    """A real number in `interval`, or a 0-d floating-point tensor (a learned one) whose value is
    checked like it where value checks run (never on CUDA by default: no host sync)."""
    if not isinstance(value, Tensor):
        _check_real(fn, name, value, interval)
        return
    check_floating(fn, name, value)
    if value.dim() != 0:
        raise ValueError(f"{fn}: {name} must be a 0-d tensor, got shape {tuple(value.shape)}")
    if value_checks_active(value):
        _check_real(fn, name, float(value.detach()), interval)


def _check_inputs(
    fn: str,
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    logit_scale: float | Tensor,
    reduction: Reduction,
    distributed: bool,
) -> None:
    check_embeddings(fn, image_embeddings=image_embeddings, text_embeddings=text_embeddings)
    _check_scalar(fn, "logit_scale", logit_scale, POSITIVE_FINITE)
    check_distributed_reduction(fn, check_reduction(fn, reduction), distributed)


def _unit_rows(image_embeddings: Tensor, text_embeddings: Tensor) -> tuple[Tensor, Tensor]:
    """Both embeddings L2-normalised row by row (a zero row stays zero), in the compute dtype."""
    work_dtype = compute_dtype(image_embeddings)
    return (
        F.normalize(image_embeddings.to(work_dtype), p=2.0, dim=1),
        F.normalize(text_embeddings.to(work_dtype), p=2.0, dim=1),
    )


def _global_rows(rows: Tensor, spread: bool) -> tuple[Tensor, Tensor]:
    """The rows of the global batch, gathered with their gradient when `spread` (one process
    otherwise), and the index there of each of this rank's rows."""
    offset = 0
    local = rows.shape[0]
    if spread:
        counts, offset = row_counts(rows)
        rows = all_gather_rows(rows, counts)
    return rows, torch.arange(offset, offset + local, device=rows.device)


def clip_loss(
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    /,
    *,
    logit_scale: float | Tensor = 1 / 0.07,
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""CLIP's symmetric cross-entropy ([Radford et al., 2021](https://arxiv.org/abs/2103.00020)),
    as OpenCLIP's `ClipLoss` computes it.

    Row $n$ of `image_embeddings` and row $n$ of `text_embeddings` are a matching image and
    caption; every other caption of the batch is a negative of image $n$, and every other image
    a negative of caption $n$. Both are L2-normalised here, $u_n = x_n / \lVert x_n \rVert$ and
    $v_n = y_n / \lVert y_n \rVert$, and with the multiplier $s$ (`logit_scale`, the inverse
    temperature) the logits are $z_{ij} = s\, u_i^\top v_j$. The unreduced loss of pair $n$
    averages the cross-entropy of picking its caption among the $N$ captions and that of picking
    its image among the $N$ images:

    $$
    \ell_n = \frac{1}{2} \left( -\log \frac{e^{z_{nn}}}{\sum_{j} e^{z_{nj}}}
        - \log \frac{e^{z_{nn}}}{\sum_{i} e^{z_{in}}} \right),
    $$

    and `"mean"`, $\frac{1}{N} \sum_n \ell_n$, is OpenCLIP's
    `(F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2`.

    `logit_scale` is the multiplier $s$ itself, not its logarithm: what OpenCLIP's loss receives
    (the model learns $t = \log s$ and passes `logit_scale.exp()`; the module
    [`ClipLoss`][deeplossdive.nn.ClipLoss] holds $t$ as a parameter). A 0-d tensor that requires
    grad receives its gradient. float16 and bfloat16 embeddings are computed in float32 and the
    result is returned in their dtype.

    Args:
        image_embeddings: Image embeddings, shape $(N, D)$, any norm.
        text_embeddings: Text embeddings of the same shape and dtype; row $n$ describes image $n$.
        logit_scale: $s > 0$, a real number or a 0-d floating-point tensor (a learned
            temperature). The default $1/0.07 \approx 14.3$ is where CLIP starts; it clamps $s$
            at 100.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: Take the negatives from the global batch of a `torch.distributed` process
            group: both embeddings are gathered from every rank (the gradient flows back to the
            rank that owns them), this rank's pairs are the rows, and the loss is reduced over
            the pairs of every rank. Each rank returns the loss of the concatenated batch, and
            DDP's averaging of the gradients makes them those of one process given it: OpenCLIP's
            `ClipLoss(local_loss=True, gather_with_grad=True)`, whose per-rank values average to
            ours. Only `"mean"` and `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: An embedding is not a floating-point tensor, or `logit_scale` is neither a
            real number nor a floating-point tensor.
        ValueError: `image_embeddings` is not 2-D, `text_embeddings` has another shape (batch
            size or dimension) or dtype, `logit_scale` is not a finite number > 0 or is a tensor
            that is not 0-d, `reduction` is unknown, or `"none"` with `distributed=True`.

    Examples:
        Two pairs whose image and caption agree exactly, at right angles to the other pair, at
        $s = 1$: each pair's logits are $(1, 0)$ both ways, so each $\ell_n = \log(1 + e^{-1})$:

        >>> import torch
        >>> from deeplossdive.functional import clip_loss
        >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> clip_loss(x, x, logit_scale=1.0, reduction="none")
        tensor([0.3133, 0.3133])

        Collapsed embeddings make every logit equal and the loss $\log N$ at any scale:

        >>> clip_loss(torch.ones(4, 3), torch.ones(4, 3), logit_scale=100.0)
        tensor(1.3863)
    """
    fn = "clip_loss"
    _check_inputs(fn, image_embeddings, text_embeddings, logit_scale, reduction, distributed)
    u, v = _unit_rows(image_embeddings, text_embeddings)
    spread = world_size(distributed) > 1
    if spread:
        # One gather for both: pair n of the global batch is row n, its image then its text.
        pairs, target = _global_rows(torch.stack([u, v], dim=1), spread)
        images, texts = pairs.unbind(dim=1)
        logits = (u @ texts.T) * logit_scale
        # The captions' rows: this rank's texts against the images of every rank.
        text_logits = (v @ images.T) * logit_scale
    else:
        target = torch.arange(u.shape[0], device=u.device)
        logits = (u @ v.T) * logit_scale
        text_logits = logits.T
    loss = 0.5 * (
        F.cross_entropy(logits, target, reduction="none")
        + F.cross_entropy(text_logits, target, reduction="none")
    )
    return _reduce(loss, reduction, spread).to(image_embeddings.dtype)


def _reduce(loss: Tensor, reduction: Reduction, spread: bool) -> Tensor:
    """`reduction` of the per-pair losses of this rank, or of every rank when `spread`."""
    if spread:
        return reduce_over_ranks(loss, reduction, weight=torch.ones_like(loss))
    return reduce_loss(loss, reduction)


def siglip_loss(
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    /,
    *,
    logit_scale: float | Tensor = 10.0,
    logit_bias: float | Tensor = -10.0,
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""SigLIP's pairwise sigmoid loss ([Zhai et al., ICCV 2023](https://arxiv.org/abs/2303.15343)),
    as big_vision and OpenCLIP's `SigLipLoss` compute it.

    With the unit rows $u_i$, $v_j$ and the multiplier $s$ of
    [`clip_loss`][deeplossdive.functional.clip_loss] and a bias $b$ (`logit_bias`), every one of
    the $N^2$ image-caption pairs is a binary classification of its logit
    $z_{ij} = s\, u_i^\top v_j + b$, with label $y_{ij} = +1$ for a matching pair ($i = j$) and
    $-1$ otherwise. No softmax couples the pairs. The unreduced loss of image $i$ sums its row:

    $$
    \ell_i = -\sum_{j=1}^{N} \log \sigma(y_{ij} z_{ij}),
    $$

    and `"mean"`, $\frac{1}{N} \sum_i \ell_i$, is the paper's normalisation: the sum over all
    $N^2$ pairs divided by the batch size $N$ (not by $N^2$), as in big_vision and OpenCLIP.

    The paper initialises $s = e^{t'}$ with $t' = \log 10$ and $b = -10$, which the module
    [`SigLipLoss`][deeplossdive.nn.SigLipLoss] holds as parameters. Both arguments here are the
    values used, $s$ (not $t'$) and $b$: real numbers or 0-d tensors, which receive their
    gradients. float16 and bfloat16 embeddings are computed in float32.

    Args:
        image_embeddings: Image embeddings, shape $(N, D)$, any norm.
        text_embeddings: Text embeddings of the same shape and dtype; row $n$ describes image $n$.
        logit_scale: $s > 0$, a real number or a 0-d floating-point tensor; by default the
            paper's initial 10.
        logit_bias: $b$, a finite real number or a 0-d floating-point tensor; by default the
            paper's initial $-10$.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: Take the negatives from the global batch of a `torch.distributed` process
            group: the text embeddings of every rank are gathered (the gradient flows back to
            the rank that owns them; OpenCLIP passes them around the ring of ranks instead,
            which holds less memory at once and sums the same terms), this rank's images are
            the rows, and the loss is reduced over the images of every rank: each rank returns
            the loss of the concatenated batch (divided by the global batch size), and DDP's
            averaging of the gradients makes them those of one process given it. Only `"mean"`
            and `"sum"`.

    Returns:
        The loss: shape $(N)$ for `"none"` (one entry per image), a scalar otherwise.

    Raises:
        TypeError: An embedding, `logit_scale` or `logit_bias` has a wrong type or dtype.
        ValueError: As for [`clip_loss`][deeplossdive.functional.clip_loss], or `logit_bias` is
            not finite or is a tensor that is not 0-d.

    Examples:
        Two matching pairs at right angles to each other, at the paper's initialisation: each
        positive's logit is $10 - 10 = 0$ and costs $\log 2$; each negative's is $-10$ and costs
        $\log(1 + e^{-10}) \approx 4.5 \times 10^{-5}$:

        >>> import torch
        >>> from deeplossdive.functional import siglip_loss
        >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> siglip_loss(x, x, logit_scale=10.0, logit_bias=-10.0, reduction="none")
        tensor([0.6932, 0.6932])
    """
    fn = "siglip_loss"
    _check_inputs(fn, image_embeddings, text_embeddings, logit_scale, reduction, distributed)
    _check_scalar(fn, "logit_bias", logit_bias, _FINITE)
    u, v = _unit_rows(image_embeddings, text_embeddings)
    spread = world_size(distributed) > 1
    texts, own = _global_rows(v, spread)
    logits = (u @ texts.T) * logit_scale + logit_bias
    # -log σ(y z) = softplus(-y z): flip the sign of the matching pair's logit.
    columns = torch.arange(texts.shape[0], device=texts.device)
    signed = torch.where(own.unsqueeze(1) == columns.unsqueeze(0), -logits, logits)
    loss = F.softplus(signed).sum(dim=1)
    return _reduce(loss, reduction, spread).to(image_embeddings.dtype)


class ClipLoss(Loss[Reduction], function=clip_loss):
    r"""Module form of [`clip_loss`][deeplossdive.functional.clip_loss] with a learned temperature.

    It holds $t = \log s$ as the parameter `log_logit_scale`, initialised to
    $\log$ `logit_scale` (OpenCLIP's $\log(1/0.07)$ by default), and calls the function with
    $s = e^t$. Give it to the optimizer with the model's parameters. OpenCLIP clamps
    $t$ to $[0, \log 100]$ after every optimizer step; do the same with
    `criterion.log_logit_scale.data.clamp_(0, math.log(100))`.
    """

    def __init__(
        self,
        *,
        logit_scale: float = 1 / 0.07,
        reduction: Reduction = "mean",
        distributed: bool = False,
    ) -> None:
        super().__init__({"reduction": reduction, "distributed": distributed})
        scale = check_interval(type(self).__name__, "logit_scale", logit_scale, POSITIVE_FINITE)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def forward(self, *inputs: Tensor) -> Tensor:
        return clip_loss(*inputs, logit_scale=self.log_logit_scale.exp(), **self.options())


class SigLipLoss(Loss[Reduction], function=siglip_loss):
    r"""Module form of [`siglip_loss`][deeplossdive.functional.siglip_loss] with a learned scale
    and bias.

    It holds $t' = \log s$ as the parameter `log_logit_scale` and $b$ as `logit_bias`,
    initialised as in the paper ($s = 10$, $b = -10$), and calls the function with $s = e^{t'}$.
    """

    def __init__(
        self,
        *,
        logit_scale: float = 10.0,
        logit_bias: float = -10.0,
        reduction: Reduction = "mean",
        distributed: bool = False,
    ) -> None:
        super().__init__({"reduction": reduction, "distributed": distributed})
        name = type(self).__name__
        scale = check_interval(name, "logit_scale", logit_scale, POSITIVE_FINITE)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.logit_bias = nn.Parameter(
            torch.tensor(_check_real(name, "logit_bias", logit_bias, _FINITE))
        )

    def forward(self, *inputs: Tensor) -> Tensor:
        return siglip_loss(
            *inputs,
            logit_scale=self.log_logit_scale.exp(),
            logit_bias=self.logit_bias,
            **self.options(),
        )


def _pair_rows(c: Tensor) -> tuple[Tensor, Tensor]:
    """Image 0 along $e_1$, caption 0 at cosine `c` to it; pair 1 matching along $e_3$."""
    other = torch.tensor([0.0, 0.0, 1.0], dtype=c.dtype)
    images = torch.stack([torch.tensor([1.0, 0.0, 0.0], dtype=c.dtype), other])
    return images, torch.stack([unit_at_cosine(c), other])


_PAIRS = (
    "$N = 2$ pairs: image 0 and its caption at cosine $\\cos\\theta$, pair 1 matching at right "
    "angles to both."
)


def _clip_pair(s: float) -> Curve:
    return each(lambda c: clip_loss(*_pair_rows(c), logit_scale=s, reduction="none")[0])


def _siglip_image(s: float, b: float) -> Curve:
    return each(
        lambda c: siglip_loss(*_pair_rows(c), logit_scale=s, logit_bias=b, reduction="none")[0]
    )


describe(
    clip_loss,
    family="Metric learning",
    task="Image-text (CLIP) contrastive pre-training",
    plot=Plot(
        COSINE,
        f"The loss of pair 0; {_PAIRS}",
        {f"s = {s:.3g}": _clip_pair(s) for s in (1 / 0.07, 100.0)},
        points=61,
    ),
    chart=Leaf("Learn embeddings", "matching pairs of two modalities", "softmax"),
)
describe(
    siglip_loss,
    family="Metric learning",
    task="Image-text (SigLIP) contrastive pre-training",
    plot=Plot(
        COSINE,
        f"The loss of image 0 (its two pairs); {_PAIRS}",
        {f"s = {s:g}, b = {b:g}": _siglip_image(s, b) for s, b in ((10.0, -10.0), (100.0, -10.0))},
        points=61,
    ),
    chart=Leaf("Learn embeddings", "matching pairs of two modalities", "sigmoid"),
)
