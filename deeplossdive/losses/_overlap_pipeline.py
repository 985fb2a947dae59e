"""The one pipeline of the six overlap losses: Dice, Jaccard and Tversky, softmax and sigmoid.

An overlap loss is a ratio of the soft counts $TP$, $FP$ and $FN$ (each loss file holds its own,
a `Ratio`); everything else is shared and runs here, in the steps of `_overlap`: validate the
options, count per (image, class), sum over the batch (and the ranks) for `aggregation="batch"`,
take the ratio, then the empty policy, the focal exponent and the reduction (the last four in
one autograd node, `overlap_tail`, but with the reduction over the ranks).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from deeplossdive._distributed import world_size
from deeplossdive._reduction import Reduction
from deeplossdive.losses._overlap import (
    Aggregation,
    EmptyPolicy,
    OverlapStatistics,
    aggregate,
    check_overlap_options,
    overlap_loss,
    overlap_tail,
    sigmoid_statistics,
    softmax_statistics,
)


class Ratio(NamedTuple):
    r"""The overlap score $(a\,TP + s) / (b\,TP + c\,FP + d\,FN + s)$ of a loss, $s$ the smoothing:
    Dice's is $(2, 2, 1, 1)$, Jaccard's $(1, 1, 1, 1)$, Tversky's $(1, 1, \alpha, \beta)$."""

    a: float
    b: float
    c: float
    d: float

    def terms(self, stats: OverlapStatistics, smooth: float) -> tuple[Tensor, Tensor]:
        """The numerator and the denominator of the score, as tensors."""
        tp, fp, fn = stats.tp, stats.fp, stats.fn
        return self.a * tp + smooth, self.b * tp + self.c * fp + self.d * fn + smooth


class OverlapOptions(NamedTuple):
    """The options every overlap loss takes, in the order they are validated."""

    smooth: float
    aggregation: Aggregation
    empty: EmptyPolicy
    reduction: Reduction
    distributed: bool


class Classes(NamedTuple):
    """The options of the softmax losses, whose target holds class indices."""

    include_background: bool
    ignore_index: int


def overlap(
    function: str,
    ratio: Ratio,
    logits: Tensor,
    target: Tensor,
    options: OverlapOptions,
    classes: Classes | None = None,
    *,
    gamma: float = 1.0,
) -> Tensor:
    """The overlap loss `function`: of `softmax(logits)` against class indices with `classes`,
    else of `sigmoid(logits)`, per channel, against targets in [0, 1]."""
    smooth = check_overlap_options(function, **options._asdict())
    if classes is None:
        stats = sigmoid_statistics(function, logits, target)
    else:
        stats = softmax_statistics(function, logits, target, **classes._asdict())
    stats = aggregate(stats, options.aggregation, distributed=options.distributed)
    if options.distributed and options.aggregation == "per_image" and world_size(True) > 1:
        # The reduction sums over the ranks: the composite version, with its collectives.
        loss = overlap_loss(
            *ratio.terms(stats, smooth),
            stats,
            empty=options.empty,
            reduction=options.reduction,
            gamma=gamma,
            over_ranks=True,
        )
    else:
        loss = overlap_tail(
            stats, ratio, smooth, empty=options.empty, reduction=options.reduction, gamma=gamma
        )
    return loss.to(logits.dtype)
