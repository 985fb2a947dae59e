"""Oracles for `deeplossdive/losses/{dice,jaccard,tversky}.py`: the overlap losses.

Each ratio is written the way its paper writes it, from the sums of the probabilities $\\sum p$,
of the target $\\sum g$ and of their overlap, not from the package's TP/FP/FN. The overlap is
$\\sum p g$ for one-hot targets (softmax forms); for the sigmoid forms, whose targets may be soft,
it is Wang et al.'s (2023, "Dice Semimetric Losses") $(\\sum p + \\sum g - \\sum |p - g|) / 2$,
which is $\\sum p g$ again for hard targets. With O that overlap:

- Dice (Milletari et al., 2016, linear denominator): 2 O / (Σp + Σg);
- Jaccard (soft IoU): O / (Σp + Σg − O);
- Tversky (Salehi et al., 2017): O / (O + α (Σp − O) + β (Σg − O)), raised to γ (focal).

Loops over images, classes and pixels with Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from tests.oracles import positions, reduce_literal

# (Σpg, Σp, Σg, smooth) -> score
Score = Callable[[float, float, float, float], float]
# Per image, per class: (Σpg, Σp, Σg, number of valid pixels).
Sums = list[list[tuple[float, float, float, int]]]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _softmax_sums(logits: Tensor, target: Tensor, ignore_index: int) -> Sums:
    x = logits.detach().double()
    num_images, num_classes = x.shape[0], x.shape[1]
    sums = [[[0.0, 0.0, 0.0, 0] for _ in range(num_classes)] for _ in range(num_images)]
    for index in positions(target):
        n, rest = index[0], index[1:]
        y = int(target[index])
        if y == ignore_index:
            continue
        scores = [float(x[(n, c, *rest)]) for c in range(num_classes)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        for c in range(num_classes):
            p = exps[c] / sum(exps)
            g = 1.0 if c == y else 0.0
            sums[n][c][0] += p * g
            sums[n][c][1] += p
            sums[n][c][2] += g
            sums[n][c][3] += 1
    return [[(a, b, c, int(d)) for a, b, c, d in image] for image in sums]


def _sigmoid_sums(logits: Tensor, target: Tensor) -> Sums:
    x, t = logits.detach().double(), target.detach().double()
    num_images, num_channels = x.shape[0], x.shape[1]
    sums = [[[0.0, 0.0, 0.0, 0] for _ in range(num_channels)] for _ in range(num_images)]
    for index in positions(x):
        n, c = index[0], index[1]
        p, g = _sigmoid(float(x[index])), float(t[index])
        sums[n][c][0] += (p + g - abs(p - g)) / 2
        sums[n][c][1] += p
        sums[n][c][2] += g
        sums[n][c][3] += 1
    return [[(a, b, c, int(d)) for a, b, c, d in image] for image in sums]


def _finish(
    sums: Sums,
    num_classes: int,
    score: Score,
    *,
    smooth: float,
    first_class: int,
    aggregation: str,
    empty: str,
    gamma: float,
    reduction: str,
) -> Tensor:
    kept = num_classes - first_class
    entries = [image[first_class:] for image in sums]
    if aggregation == "batch":
        entries = [
            [
                (
                    math.fsum(image[c][0] for image in entries),
                    math.fsum(image[c][1] for image in entries),
                    math.fsum(image[c][2] for image in entries),
                    sum(image[c][3] for image in entries),
                )
                for c in range(kept)
            ]
        ]
    losses, weights = [], []
    for image in entries:
        for overlap, predicted, true, pixels in image:
            if pixels == 0:  # not a single valid pixel: left out
                losses.append(0.0)
                weights.append(0.0)
                continue
            if true == 0 and empty == "ignore_absent":  # empty target, whatever is predicted
                losses.append(0.0)
                weights.append(0.0)
                continue
            if predicted == 0 and true == 0:  # empty target and empty prediction
                if empty == "ignore":
                    losses.append(0.0)
                    weights.append(0.0)
                    continue
                value = 1.0 if empty == "one" else 0.0
            else:
                value = score(overlap, predicted, true, smooth)
            losses.append((1 - value) ** gamma)
            weights.append(1.0)
    shape = (kept,) if aggregation == "batch" else (len(sums), kept)
    return reduce_literal(losses, weights, shape, reduction)


def dice_score(overlap: float, predicted: float, true: float, smooth: float) -> float:
    """2 Σpg / (Σp + Σg), smoothed."""
    return (2 * overlap + smooth) / (predicted + true + smooth)


def jaccard_score(overlap: float, predicted: float, true: float, smooth: float) -> float:
    """Σpg / (Σp + Σg − Σpg), smoothed."""
    return (overlap + smooth) / (predicted + true - overlap + smooth)


def tversky_score(alpha: float, beta: float) -> Score:
    """Σpg / (Σpg + α Σp(1−g) + β Σ(1−p)g), smoothed; Σp(1−g) = Σp − Σpg, Σ(1−p)g = Σg − Σpg."""

    def score(overlap: float, predicted: float, true: float, smooth: float) -> float:
        false_positive = predicted - overlap
        false_negative = true - overlap
        return (overlap + smooth) / (
            overlap + alpha * false_positive + beta * false_negative + smooth
        )

    return score


def _softmax(
    score: Score,
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float,
    include_background: bool,
    aggregation: str,
    ignore_index: int,
    empty: str,
    reduction: str,
    gamma: float = 1.0,
) -> Tensor:
    return _finish(
        _softmax_sums(logits, target, ignore_index),
        logits.shape[1],
        score,
        smooth=smooth,
        first_class=0 if include_background else 1,
        aggregation=aggregation,
        empty=empty,
        gamma=gamma,
        reduction=reduction,
    )


def dice(
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float = 1e-5,
    include_background: bool = True,
    aggregation: str = "per_image",
    ignore_index: int = -100,
    empty: str = "one",
    reduction: str = "mean",
) -> Tensor:
    return _softmax(
        dice_score,
        logits,
        target,
        smooth=smooth,
        include_background=include_background,
        aggregation=aggregation,
        ignore_index=ignore_index,
        empty=empty,
        reduction=reduction,
    )


def jaccard(
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float = 1e-5,
    include_background: bool = True,
    aggregation: str = "per_image",
    ignore_index: int = -100,
    empty: str = "one",
    reduction: str = "mean",
) -> Tensor:
    return _softmax(
        jaccard_score,
        logits,
        target,
        smooth=smooth,
        include_background=include_background,
        aggregation=aggregation,
        ignore_index=ignore_index,
        empty=empty,
        reduction=reduction,
    )


def tversky(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    smooth: float = 1e-5,
    include_background: bool = True,
    aggregation: str = "per_image",
    ignore_index: int = -100,
    empty: str = "one",
    reduction: str = "mean",
) -> Tensor:
    return _softmax(
        tversky_score(alpha, beta),
        logits,
        target,
        smooth=smooth,
        include_background=include_background,
        aggregation=aggregation,
        ignore_index=ignore_index,
        empty=empty,
        reduction=reduction,
        gamma=gamma,
    )


def _sigmoid_form(
    score: Score,
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float,
    aggregation: str,
    empty: str,
    reduction: str,
    gamma: float = 1.0,
) -> Tensor:
    return _finish(
        _sigmoid_sums(logits, target),
        logits.shape[1],
        score,
        smooth=smooth,
        first_class=0,
        aggregation=aggregation,
        empty=empty,
        gamma=gamma,
        reduction=reduction,
    )


def sigmoid_dice(
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float = 1e-5,
    aggregation: str = "per_image",
    empty: str = "one",
    reduction: str = "mean",
) -> Tensor:
    return _sigmoid_form(
        dice_score,
        logits,
        target,
        smooth=smooth,
        aggregation=aggregation,
        empty=empty,
        reduction=reduction,
    )


def sigmoid_jaccard(
    logits: Tensor,
    target: Tensor,
    *,
    smooth: float = 1e-5,
    aggregation: str = "per_image",
    empty: str = "one",
    reduction: str = "mean",
) -> Tensor:
    return _sigmoid_form(
        jaccard_score,
        logits,
        target,
        smooth=smooth,
        aggregation=aggregation,
        empty=empty,
        reduction=reduction,
    )


def sigmoid_tversky(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    smooth: float = 1e-5,
    aggregation: str = "per_image",
    empty: str = "one",
    reduction: str = "mean",
) -> Tensor:
    return _sigmoid_form(
        tversky_score(alpha, beta),
        logits,
        target,
        smooth=smooth,
        aggregation=aggregation,
        empty=empty,
        reduction=reduction,
        gamma=gamma,
    )
