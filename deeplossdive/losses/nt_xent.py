"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import Leaf, unit_at_cosine
from deeplossdive._base import Loss
from deeplossdive._distributed import all_gather_rows, reduce_over_ranks, row_counts, world_size
from deeplossdive._numerics import compute_dtype
from deeplossdive._reduction import Reduction, reduce_loss
from deeplossdive._validation import POSITIVE_FINITE, check_floating, check_ndim, check_same_shape
from deeplossdive.losses._similarity import (
    _check_options,
    _describe,
    _self_masked_logits,
    _unit_rows,
)


def _nt_xent_terms(
    anchors: Tensor,
    candidates: Tensor,
    self_index: Tensor,
    positive_index: Tensor,
    temperature: float,
    reduction: Reduction = "none",
) -> Tensor:
    """NT-Xent per anchor, minus the log-probability of candidate `positive_index[i]`, reduced.

    One `F.cross_entropy` over the masked logits: torch's fused log-softmax and gather, which
    keeps small batches within a few percent of the formulation users write by hand. The unweighted
    mean is only right for a non-empty batch.
    """
    logits = _self_masked_logits(anchors, candidates, self_index, temperature)
    # 0 + x: a certain positive then has a loss of +0, not the -0 of -log 1.
    return 0.0 + F.cross_entropy(logits, positive_index, reduction=reduction)


def nt_xent_loss(
    z1: Tensor,
    z2: Tensor,
    /,
    *,
    temperature: float = 0.5,
    reduction: Reduction = "mean",
    distributed: bool = False,
) -> Tensor:
    r"""NT-Xent, the contrastive loss of SimCLR ([Chen et al., 2020](https://arxiv.org/abs/2002.05709)).

    Row $n$ of `z1` and row $n$ of `z2` are two views (two augmentations) of sample $n$. Stack
    them into $2N$ embeddings $z_1, \dots, z_{2N}$ (`z1` first), normalise each,
    $u_k = z_k / \lVert z_k \rVert$, and write $s_{ij} = u_i^\top u_j$ for their cosine
    similarity. Every embedding is an anchor $i$ whose positive $p(i)$ is the other view of the
    same sample ($p(i) = i + N$ for $i \le N$, $i - N$ otherwise); the $2N - 2$ other embeddings
    are its negatives. The unreduced loss is the paper's eq. (1),

    $$
    \ell_i = -\log \frac{\exp(s_{i\,p(i)} / \tau)}{\sum_{k \ne i} \exp(s_{ik} / \tau)},
    $$

    the cross-entropy of a $(2N - 1)$-way classification of the anchor's positive among all the
    other embeddings, with logits $s_{ik} / \tau$. `"mean"` is SimCLR's
    $\frac{1}{2N} \sum_i \ell_i$.

    The embeddings are normalised here: pass the projection head's raw output. A zero row stays
    a zero vector (similarity 0 to everything), as in `F.normalize`. The log-softmax is taken over
    the similarity matrix with the anchor itself masked out by the most negative finite number,
    so values and gradients stay finite down to $\tau = 0.005$ (logits of $\pm 200$) and for
    embeddings of any norm. float16 and bfloat16 inputs are computed in float32 and the result
    is returned in the input dtype.

    Args:
        z1: Embeddings of the first view, shape $(N, D)$.
        z2: Embeddings of the second view, shape $(N, D)$; row $n$ is the positive of row $n$
            of `z1`.
        temperature: $\tau > 0$. Small values weigh the hardest negatives most; the paper
            compares 0.05 to 1 and gets its best linear evaluation at 0.1.
        reduction: `"none"`, `"mean"` or `"sum"`.
        distributed: Take the negatives from the global batch of a `torch.distributed` process
            group: every rank's embeddings are gathered (the gradient flows back to the rank
            that owns them), this rank's rows are the anchors, and the loss is reduced over the
            anchors of every rank. Each rank returns the loss of the concatenated batch, and
            DDP's averaging of the gradients makes them that of one process given it (the
            "Losses under DDP" guide). Only `"mean"` and `"sum"`; outside a process group (or
            with one process) the ordinary loss.

    Returns:
        The loss: shape $(2N)$ for `"none"` (the anchors of `z1`, then those of `z2`), a scalar
        otherwise.

    Raises:
        TypeError: `z1` or `z2` is not floating point.
        ValueError: `z1` is not 2-D, `z2` has another shape, `temperature` is not a finite
            number > 0, `reduction` is unknown, or `"none"` with `distributed=True`.

    Examples:
        Two samples whose two views agree exactly, at right angles to each other. Each anchor's
        positive has similarity 1, its two negatives 0:

        >>> import torch
        >>> from deeplossdive.functional import nt_xent_loss
        >>> z = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
        >>> nt_xent_loss(z, z, temperature=0.5, reduction="none")
        tensor([0.2395, 0.2395, 0.2395, 0.2395])

        That is $-\log(e^{2} / (e^{2} + 2)) = \log(1 + 2e^{-2})$: the norm 3 of the second row
        plays no part. If all four embeddings collapse onto one direction, every similarity is
        1 and the loss is $\log(2N - 1) = \log 3$:

        >>> nt_xent_loss(torch.ones(2, 2), torch.ones(2, 2))
        tensor(1.0986)
    """
    fn = "nt_xent_loss"
    check_floating(fn, "z1", z1)
    check_floating(fn, "z2", z2)
    check_ndim(fn, "z1", z1, 2, "(N, D)")
    check_same_shape(fn, "z2", z2, "z1", z1)
    _check_options(fn, temperature, reduction, distributed)

    out_dtype = torch.promote_types(z1.dtype, z2.dtype)
    work_dtype = torch.promote_types(compute_dtype(z1), compute_dtype(z2))
    embeddings = _unit_rows(torch.cat([z1.to(work_dtype), z2.to(work_dtype)]), work_dtype)
    num_samples = z1.shape[0]
    if world_size(distributed) > 1:
        # Candidates: the (sample, view) pairs of every rank, interleaved, so that view v of
        # global sample g is row 2g + v; the anchors are this rank's rows.
        pairs = torch.stack([embeddings[:num_samples], embeddings[num_samples:]], dim=1)
        counts, offset = row_counts(pairs)
        gathered = all_gather_rows(pairs, counts)
        sample = 2 * (torch.arange(num_samples, device=embeddings.device) + offset)
        loss = _nt_xent_terms(
            embeddings,
            gathered.flatten(0, 1),
            torch.cat([sample, sample + 1]),
            torch.cat([sample + 1, sample]),
            temperature,
        )
        return reduce_over_ranks(loss, reduction, weight=torch.ones_like(loss)).to(out_dtype)
    index = torch.arange(2 * num_samples, device=embeddings.device)
    positive = (index + num_samples) % max(2 * num_samples, 1)
    if num_samples > 0:
        return _nt_xent_terms(embeddings, embeddings, index, positive, temperature, reduction).to(
            out_dtype
        )
    # Weights of 1 give an empty batch a mean of 0, where cross-entropy's mean is 0/0.
    loss = _nt_xent_terms(embeddings, embeddings, index, positive, temperature)
    return reduce_loss(loss, reduction, weight=torch.ones_like(loss)).to(out_dtype)


class NTXentLoss(Loss[Reduction], function=nt_xent_loss):
    """Module form of [`nt_xent_loss`][deeplossdive.functional.nt_xent_loss]."""

    def __init__(
        self, *, temperature: float = 0.5, reduction: Reduction = "mean", distributed: bool = False
    ) -> None:
        super().__init__(locals(), temperature=POSITIVE_FINITE)


def _anchor_loss(temperature: float, c: Tensor) -> Tensor:
    other = torch.tensor([0.0, 0.0, 1.0], dtype=c.dtype)
    z1 = torch.stack([torch.tensor([1.0, 0.0, 0.0], dtype=c.dtype), other])
    z2 = torch.stack([unit_at_cosine(c), other])
    return nt_xent_loss(z1, z2, temperature=temperature, reduction="none")[0]


_describe(
    nt_xent_loss,
    "Self-supervised contrastive",
    "The loss of one anchor whose positive is at cosine $\\cos\\theta$, with two "
    "negatives at right angles to it ($N = 2$ pairs).",
    _anchor_loss,
    Leaf("Learn embeddings", "two views of each example", "self-supervised"),
)
