"""Oracles for `deeplossdive/losses/generalized_dice.py`: the generalized Dice losses.

Sudre et al., 2017 (https://arxiv.org/abs/1707.03237), eq. (2), per image:
GDL = 1 − 2 Σ_l w_l Σ_i r_li p_li / Σ_l w_l Σ_i (r_li + p_li), with w_l = 1 / (Σ_i r_li)²
("square"), 1 / Σ_i r_li ("simple") or 1 ("uniform"), smoothed by s in both terms. The sums
per (image, class) are those of the overlap oracles (`tests/oracles/overlap.py`): Σ p g (or Wang
et al.'s soft overlap for the sigmoid form), Σ p, Σ g and the number of valid pixels.

The rule for an absent class, written as stated: a weight 1/0 is infinite; every infinite
weight of an image becomes the largest finite weight of that image, or 0 when it has none. An
image whose weighted sums are all 0 scores 1 (loss 0); one without a valid pixel is left out.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from tests.oracles import reduce_literal
from tests.oracles.overlap import Sums, _sigmoid_sums, _softmax_sums


def _weight(volume: float, weight_type: str) -> float:
    if weight_type == "uniform":
        return 1.0
    if volume == 0:
        return math.inf
    return 1 / volume**2 if weight_type == "square" else 1 / volume


def _finish(
    sums: Sums,
    *,
    first_class: int = 0,
    weight_type: str = "square",
    smooth: float = 1e-5,
    reduction: str = "mean",
) -> Tensor:
    losses, kept = [], []
    for image in sums:
        classes = image[first_class:]
        if all(pixels == 0 for *_, pixels in classes):  # every pixel ignored: left out
            losses.append(0.0)
            kept.append(0.0)
            continue
        weights = [_weight(true, weight_type) for _, _, true, _ in classes]
        finite = [w for w in weights if math.isfinite(w)]
        largest = max(finite) if finite else 0.0
        weights = [w if math.isfinite(w) else largest for w in weights]
        pairs = list(zip(weights, classes, strict=True))
        numerator = 2 * math.fsum(w * overlap for w, (overlap, _, _, _) in pairs)
        denominator = math.fsum(w * (predicted + true) for w, (_, predicted, true, _) in pairs)
        if numerator + smooth == 0 and denominator + smooth == 0:
            losses.append(0.0)  # every weight 0 (no class present) and s = 0: 0/0 scores 1
        else:
            losses.append(1 - (numerator + smooth) / (denominator + smooth))
        kept.append(1.0)
    return reduce_literal(losses, kept, (len(sums),), reduction)


def generalized_dice(
    logits: Tensor,
    target: Tensor,
    *,
    include_background: bool = True,
    ignore_index: int = -100,
    **options: Any,
) -> Tensor:
    """Options: `weight_type`, `smooth`, `reduction`, as the function's."""
    sums = _softmax_sums(logits, target, ignore_index)
    return _finish(sums, first_class=0 if include_background else 1, **options)


def sigmoid_generalized_dice(logits: Tensor, target: Tensor, **options: Any) -> Tensor:
    """Options: `weight_type`, `smooth`, `reduction`, as the function's."""
    return _finish(_sigmoid_sums(logits, target), **options)
