"""Supervised contrastive loss (SupCon), the L_out form of Khosla et al. (2020)."""

from __future__ import annotations

import torch
from torch import Tensor

from deeplossdive._about import Leaf, unit_at_cosine
from deeplossdive._base import Loss
from deeplossdive._distributed import all_gather_rows, reduce_over_ranks, row_counts, world_size
from deeplossdive._numerics import compute_dtype
from deeplossdive._reduction import Reduction, reduce_loss
from deeplossdive._validation import (
    POSITIVE_FINITE,
    check_floating,
    check_integer,
    check_ndim,
    check_shape,
)
from deeplossdive.losses._similarity import (
    _candidate_log_probs,
    _check_options,
    _describe,
    _unit_rows,
)


def _supcon_terms(
    anchors: Tensor,
    anchor_labels: Tensor,
    candidates: Tensor,
    candidate_labels: Tensor,
    self_index: Tensor,
    temperature: float,
) -> tuple[Tensor, Tensor]:
    """Per-anchor SupCon losses and whether each anchor has a positive among the candidates.

    Anchor $i$ is candidate `self_index[i]`; its positives are the other candidates with its
    label. An anchor without positives gets a loss of 0.
    """
    log_probs = _candidate_log_probs(anchors, candidates, self_index, temperature)
    columns = torch.arange(candidates.shape[0], device=candidates.device)
    is_positive = (anchor_labels.unsqueeze(1) == candidate_labels.unsqueeze(0)) & (
        self_index.unsqueeze(1) != columns.unsqueeze(0)
    )
    num_positives = is_positive.sum(dim=1)
    # `where`, not a product with the mask: the masked-out self entry is a huge negative number.
    total = torch.where(is_positive, -log_probs, torch.zeros_like(log_probs)).sum(dim=1)
    loss = total / num_positives.clamp(min=1).to(log_probs.dtype)
    return loss, num_positives > 0


def supervised_contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    /,
    *,
    temperature: float = 0.1,
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""Supervised contrastive loss (SupCon), the $\mathcal{L}^{sup}_{out}$ form.

    From [Khosla et al., 2020](https://arxiv.org/abs/2004.11362). Normalise each embedding,
    $u_i = z_i / \lVert z_i \rVert$. For anchor $i$ let $A(i)$ be every other embedding of the
    batch and $P(i) \subseteq A(i)$ those with the anchor's label. The unreduced loss is the
    paper's eq. (2),

    $$
    \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
        \log \frac{\exp(u_i^\top u_p / \tau)}{\sum_{a \in A(i)} \exp(u_i^\top u_a / \tau)},
    $$

    the mean, over the anchor's positives, of the cross-entropy of picking that positive among
    all the others ($\mathcal{L}_{out}$: the $1/|P(i)|$ sits outside the log, the form the paper
    finds best). All views are already in `embeddings`: for two augmentations of $B$ images,
    pass the $2B$ embeddings and the labels repeated twice. With two views per sample and all
    labels distinct, every $|P(i)| = 1$ and this is
    [`nt_xent_loss`][deeplossdive.functional.nt_xent_loss].

    An anchor whose label appears nowhere else in the batch has no positive; its term is
    undefined in the paper (0/0). Here it is 0 in `"none"`, and `"mean"` averages over the
    anchors that have a positive, $\sum_i \ell_i / |\{i : P(i) \ne \emptyset\}|$ (0 when none
    has one): a weighted mean whose weight is 0 for an anchor without positives. This is
    pytorch-metric-learning's choice; the authors' reference code divides by $|P(i)| = 0$ and
    returns NaN.

    The embeddings are normalised here (a zero row stays zero). The log-softmax masks the anchor
    itself with the most negative finite number, so values and gradients stay finite at small
    $\tau$ and for embeddings of any norm. float16 and bfloat16 inputs are computed in float32
    and the result is returned in the input dtype.

    Args:
        embeddings: Embeddings of every view, shape $(N, D)$.
        labels: Integer class labels, shape $(N)$; any integer values (not a range).
        temperature: $\tau > 0$; the paper's default is 0.1.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: Take the positives and negatives from the global batch of a
            `torch.distributed` process group: every rank's embeddings and labels are gathered
            (the gradient flows back to the rank that owns them), this rank's rows are the
            anchors, and `"mean"` divides by the number of anchors with a positive on every
            rank. Each rank returns the loss of the concatenated batch, and DDP's averaging of
            the gradients makes them that of one process given it (the "Losses under DDP"
            guide). Only `"mean"` and `"sum"`; outside a process group (or with one process)
            the ordinary loss.

    Returns:
        The loss: shape $(N)$ for `"none"` (0 for anchors without positives), a scalar
        otherwise.

    Raises:
        TypeError: `embeddings` is not floating point, or `labels` is not integer.
        ValueError: `embeddings` is not 2-D, `labels` is not of shape $(N)$, `temperature` is not
            a finite number > 0, `reduction` is unknown, or `"none"` with `distributed=True`.

    Examples:
        Two embeddings of class 0 pointing the same way, one of class 1 at right angles:

        >>> import torch
        >>> from deeplossdive.functional import supervised_contrastive_loss
        >>> embeddings = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
        >>> labels = torch.tensor([0, 0, 1])
        >>> supervised_contrastive_loss(embeddings, labels, temperature=1.0, reduction="none")
        tensor([0.3133, 0.3133, 0.0000])
        >>> supervised_contrastive_loss(embeddings, labels, temperature=1.0)
        tensor(0.3133)

        Anchor 0 has one positive (similarity 1) and one other (similarity 0):
        $-\log(e / (e + 1)) = \log(1 + e^{-1}) = 0.3133$. The third embedding is alone in its
        class: 0, and left out of the mean.
    """
    fn = "supervised_contrastive_loss"
    check_floating(fn, "embeddings", embeddings)
    check_integer(fn, "labels", labels)
    check_ndim(fn, "embeddings", embeddings, 2, "(N, D)")
    check_shape(fn, "labels", labels, (embeddings.shape[0],), "one label per row of embeddings")
    _check_options(fn, temperature, reduction, distributed)

    units = _unit_rows(embeddings, compute_dtype(embeddings))
    index = torch.arange(units.shape[0], device=units.device)
    if world_size(distributed) > 1:
        counts, offset = row_counts(units)
        candidates = all_gather_rows(units, counts)
        candidate_labels = all_gather_rows(labels, counts, differentiable=False)
        loss, has_positive = _supcon_terms(
            units, labels, candidates, candidate_labels, index + offset, temperature
        )
        weight = has_positive.to(loss.dtype)
        return reduce_over_ranks(loss, reduction, weight=weight).to(embeddings.dtype)
    loss, has_positive = _supcon_terms(units, labels, units, labels, index, temperature)
    return reduce_loss(loss, reduction, weight=has_positive.to(loss.dtype)).to(embeddings.dtype)


class SupervisedContrastiveLoss(Loss[Reduction], function=supervised_contrastive_loss):
    """Module form of
    [`supervised_contrastive_loss`][deeplossdive.functional.supervised_contrastive_loss].
    """

    def __init__(
        self, *, temperature: float = 0.1, reduction: Reduction = "mean", distributed: bool = False
    ) -> None:
        super().__init__(locals(), temperature=POSITIVE_FINITE)


def _anchor_loss(temperature: float, c: Tensor) -> Tensor:
    other = torch.tensor([0.0, 0.0, 1.0], dtype=c.dtype)
    anchor = torch.tensor([1.0, 0.0, 0.0], dtype=c.dtype)
    embeddings = torch.stack([anchor, unit_at_cosine(c), other, other])
    labels = torch.tensor([0, 0, 1, 1])
    return supervised_contrastive_loss(
        embeddings, labels, temperature=temperature, reduction="none"
    )[0]


_describe(
    supervised_contrastive_loss,
    "Supervised contrastive",
    "The loss of one anchor whose one positive is at cosine $\\cos\\theta$, with two "
    "negatives (the other label) at right angles to it.",
    _anchor_loss,
    Leaf("Learn embeddings", "embeddings and labels"),
)
