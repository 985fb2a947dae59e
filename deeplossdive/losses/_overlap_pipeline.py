"""The one pipeline of the six overlap losses: Dice, Jaccard and Tversky, softmax and sigmoid.

An overlap loss is a ratio of the soft counts $TP$, $FP$ and $FN$ (each loss file holds its own,
a `Ratio`); everything else is shared and runs here, in the steps of `_overlap`: validate the
options, count per (image, class), sum over the batch (and the ranks) for `aggregation="batch"`,
take the ratio, then the empty policy, the focal exponent and the reduction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import Tensor

from deeplossdive._reduction import Reduction
from deeplossdive.losses._overlap import (
    Aggregation,
    EmptyPolicy,
    OverlapStatistics,
    aggregate,
    check_overlap_options,
    overlap_loss,
    sigmoid_statistics,
    softmax_statistics,
)

Ratio = Callable[[OverlapStatistics, float], tuple[Tensor, Tensor]]
"""(counts, smooth) -> the numerator and the denominator of a loss's overlap score."""


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
    loss = overlap_loss(
        *ratio(stats, smooth),
        stats,
        empty=options.empty,
        reduction=options.reduction,
        gamma=gamma,
        over_ranks=options.distributed and options.aggregation == "per_image",
    )
    return loss.to(logits.dtype)
