"""Connectionist temporal classification (CTC): a loss over every alignment of a label sequence."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe, logit
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    check_ctc_targets,
    check_floating,
    check_integer,
    check_lengths,
    check_ndim,
    check_non_positive_log_probabilities,
    check_shape,
)


def _check_blank(function: str, blank: object, num_classes: int) -> int:
    if not isinstance(blank, int) or isinstance(blank, bool):
        raise TypeError(f"{function}: blank must be an int, got {type(blank).__name__}")
    if not 0 <= blank < num_classes:
        raise ValueError(
            f"{function}: blank must be a class index in [0, {num_classes}), got {blank}"
        )
    return blank


def _check_module_blank(module: str, blank: object) -> None:
    if not isinstance(blank, int) or isinstance(blank, bool) or blank < 0:
        raise ValueError(f"{module}: blank must be an int >= 0, got {blank!r}")


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    /,
    *,
    blank: int = 0,
    reduction: Reduction = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    r"""Connectionist temporal classification loss of
    [Graves et al., 2006](https://doi.org/10.1145/1143844.1143891), as
    `torch.nn.CTCLoss`.

    For one sample with per-frame log-probabilities $\log y_t(k)$ over $T_n$ frames and a target
    label sequence $l$ of length $S_n$, the loss is the negative log of the total probability of
    every alignment $\pi$ (a path of one class per frame, blanks allowed) that collapses to $l$
    (merge repeats, then drop blanks), $\mathcal{B}(\pi) = l$:

    $$
    \ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(l)} \prod_{t=1}^{T_n} y_t(\pi_t) .
    $$

    It is computed by the forward algorithm over the label sequence with blanks interleaved
    (torch's kernel, after the checks here). `"mean"` divides each $\ell_n$ by its target length
    $\max(S_n, 1)$, **then** averages over the batch (torch's definition); `"sum"` adds the
    $\ell_n$; `"none"` returns them. An input too short for its target has no alignment: its
    loss is $+\infty$ (with `zero_infinity=True`, 0 and a zero gradient).

    The gradient with respect to `log_probs` is torch's: the gradient with respect to the
    *logits* of a `log_softmax` over the classes, $y_t(k) - \gamma_t(k)$ with $\gamma$ the
    posterior of class $k$ at frame $t$. It differs from the derivative with respect to the
    log-probabilities themselves by $y_t(k)$, which `log_softmax`'s backward removes: pass
    `log_softmax(logits, dim=2)`, as torch requires too. float16 and bfloat16 inputs are
    computed in float32 and the result is returned in the input dtype. An empty batch
    ($N = 0$) gives an empty `"none"` and 0 for `"mean"` and `"sum"` (torch raises).

    Args:
        log_probs: $(T, N, C)$ log-probabilities: frames first, then the batch, then the
            classes (the output of `log_softmax(logits, dim=2)`), floating point.
        targets: The label sequences, either $(N, S)$ padded (only the first $S_n$ labels of
            row $n$ are read) or 1-D, the $N$ sequences concatenated; an integer tensor of
            classes in $[0, C)$ other than `blank`.
        input_lengths: $(N)$ integer tensor, the number of frames $T_n \le T$ of each sample.
            Keep it on the CPU: torch copies it there, which is a host sync on a GPU.
        target_lengths: $(N)$ integer tensor, the target length $S_n$ of each sample.
        blank: The index of the blank class, in $[0, C)$.
        reduction: `"none"`, `"mean"` (each loss over its target length, then the batch
            mean) or `"sum"`.
        zero_infinity: Replace infinite losses (no alignment) and their gradients by 0.

    Returns:
        The loss: shape $(N)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `log_probs` is not floating point, `targets` or a length tensor is not an
            integer tensor, or `blank` is not an int.
        ValueError: `log_probs` is not 3-D, `targets` is neither $(N, S)$ nor 1-D, a length
            tensor is not $(N)$, `blank` is not in $[0, C)$, or an unknown `reduction`; with
            value checks on, a positive log-probability (raw logits or probabilities), a
            length out of range, a target that is the blank or not a class, or 1-D targets
            whose size is not the sum of the target lengths.

    Examples:
        Two frames, classes (blank, a), target "a": the alignments are "a a", "a -" and "- a".

        >>> import math, torch
        >>> from deeplossdive.functional import ctc_loss
        >>> probs = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]])  # (T=2, N=1, C=2)
        >>> targets = torch.tensor([[1]])
        >>> lengths = torch.tensor([2]), torch.tensor([1])
        >>> ctc_loss(probs.log(), targets, *lengths, reduction="none")
        tensor([0.2877])

        By hand: each alignment has probability $0.25$; three of them: $-\log 0.75 = 0.2877$.
    """
    fn = "ctc_loss"
    check_floating(fn, "log_probs", log_probs)
    check_ndim(fn, "log_probs", log_probs, 3, "(T, N, C)")
    frames, batch, num_classes = log_probs.shape
    check_integer(fn, "targets", targets)
    check_integer(fn, "input_lengths", input_lengths)
    check_integer(fn, "target_lengths", target_lengths)
    check_shape(fn, "input_lengths", input_lengths, (batch,), "one length per sample")
    check_shape(fn, "target_lengths", target_lengths, (batch,), "one length per sample")
    if not (targets.dim() == 1 or (targets.dim() == 2 and targets.shape[0] == batch)):
        raise ValueError(
            f"{fn}: targets must have shape (N, S) = ({batch}, S) (padded) or be 1-D "
            f"(concatenated), got {tuple(targets.shape)}"
        )
    _check_blank(fn, blank, num_classes)
    check_reduction(fn, reduction)
    check_non_positive_log_probabilities(fn, "log_probs", log_probs)
    check_lengths(fn, "input_lengths", input_lengths, frames, f"T = {frames}")
    width = targets.shape[1] if targets.dim() == 2 else targets.numel()
    check_lengths(fn, "target_lengths", target_lengths, width, f"{width}")
    check_ctc_targets(fn, targets, target_lengths, num_classes, blank)
    work = upcast(log_probs)
    if batch == 0:  # torch refuses an empty batch; its losses are the empty (N) tensor
        return reduce_loss(work.sum(dim=(0, 2)), reduction).to(log_probs.dtype)
    losses = F.ctc_loss(
        work,
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction="none",
        zero_infinity=zero_infinity,
    )
    if reduction == "mean":
        losses = losses / target_lengths.to(losses.device).clamp_min(1).to(losses.dtype)
    return reduce_loss(losses, reduction).to(log_probs.dtype)


class CTCLoss(Loss[Reduction], function=ctc_loss):
    """Module form of [`ctc_loss`][deeplossdive.functional.ctc_loss]."""

    def __init__(
        self, *, blank: int = 0, zero_infinity: bool = False, reduction: Reduction = "mean"
    ) -> None:
        _check_module_blank(type(self).__name__, blank)
        super().__init__(locals())


def _ctc(frames: int) -> Curve:
    """Classes (blank, a), the same logits (0, z) on every frame, target "a": one sample per
    point of the sweep."""

    def loss(z: Tensor) -> Tensor:
        logits = torch.stack([torch.zeros_like(z), z], dim=1)  # (n, 2)
        log_probs = logits.log_softmax(dim=1).expand(frames, -1, -1)  # (T, n, 2)
        n = z.shape[0]
        targets = torch.ones(n, 1, dtype=torch.long)
        input_lengths = torch.full((n,), frames, dtype=torch.long)
        target_lengths = torch.ones(n, dtype=torch.long)
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")

    return loss


describe(
    ctc_loss,
    family="Classification",
    task="Sequence labelling without alignment (speech, text)",
    torch="`F.ctc_loss`",
    plot=Plot(
        Axis("$p$", (0.01, 0.99), "$z$", logit),
        'Classes (blank, a) with probability $p = \\sigma(z)$ of "a" on every frame, target '
        '"a", for $T$ frames: longer inputs have more alignments.',
        {f"T = {frames}": _ctc(frames) for frames in (1, 2, 4, 8)},
    ),
    chart=Leaf(
        "Transcribe sequences", "(T, N, C) log-probabilities, no alignment", "speech, handwriting"
    ),
)
