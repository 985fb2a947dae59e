"""Poly-1 cross-entropy (Leng et al., 2022, PolyLoss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import P_T, TWO_CLASSES, Leaf, Plot, describe, two_class
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    Interval,
    check_class_indices,
    check_class_scores,
    check_interval,
)


def poly1_cross_entropy(
    logits: Tensor, target: Tensor, /, *, epsilon: float = 1.0, reduction: Reduction = "mean"
) -> Tensor:
    r"""Poly-1 cross-entropy of [Leng et al., 2022](https://arxiv.org/abs/2204.12511) (PolyLoss).

    Cross-entropy is the series $-\log p_t = \sum_{j \ge 1} (1 - p_t)^j / j$ in $1 - p_t$.
    Poly-1 changes the coefficient of the first term from 1 to $1 + \varepsilon$: with
    $p_t = \operatorname{softmax}(x_n)_{y_n}$ the probability of the true class, the unreduced
    loss is

    $$
    \ell_n = -\log p_t + \varepsilon\,(1 - p_t).
    $$

    $\varepsilon = 0$ is [`cross_entropy`][deeplossdive.functional.cross_entropy]. The gradient
    is cross-entropy's scaled by $1 + \varepsilon\,p_t$: $\varepsilon > 0$ pushes harder on
    examples the model already gets right, $\varepsilon = -1$ (which drops the first term)
    lets go of them. Below $-1$ the loss would *increase* again as $p_t \to 1$ (its minimum over
    $p_t$ would sit at $p_t = -1/\varepsilon < 1$), so `epsilon` must be $\ge -1$; then
    $\ell_n \ge 0$. `"mean"` is the plain mean over all elements.

    It is computed as $\ell = c - \varepsilon \operatorname{expm1}(-c)$ from the fused
    cross-entropy $c = -\log p_t$ (so $1 - p_t = -\operatorname{expm1}(-c)$ keeps its precision
    near $p_t = 1$): values and gradients are finite at saturated logits. float16 and bfloat16
    logits go to the cross-entropy kernel as they are (it accumulates in float32); the rest is
    computed in float32 and returned in the input dtype.

    Args:
        logits: Unnormalised scores, shape $(N, C)$ or $(N, C, d_1, \dots)$, $C \ge 2$.
        target: Class indices in $[0, C)$, shape $(N)$ or $(N, d_1, \dots)$.
        epsilon: Coefficient $\varepsilon \ge -1$ added to the first polynomial term.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `target` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `target` is not integer.
        ValueError: Shapes disagree, $C < 2$, `epsilon` $< -1$, an unknown `reduction`, or (with
            value checks on) a label outside $[0, C)$.

    Examples:
        An undecided sample ($p_t = 1/2$) and one with $p_t = 3/5$:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import poly1_cross_entropy
        >>> logits = torch.tensor([[0.0, 0.0], [math.log(3.0), math.log(2.0)]])
        >>> poly1_cross_entropy(logits, torch.tensor([1, 0]), epsilon=1.0, reduction="none")
        tensor([1.1931, 0.9108])

        That is $\log 2 + 0.5$ and $-\log 0.6 + 0.4$.
    """
    fn = "poly1_cross_entropy"
    num_classes = check_class_scores(fn, "logits", logits, target)
    check_interval(fn, "epsilon", epsilon, Interval(-1.0))
    check_reduction(fn, reduction)
    check_class_indices(fn, target, num_classes, None)

    # No float32 copy of float16/bfloat16 logits: torch's cross-entropy accumulates in float32;
    # only its per-element result, one value per row, is upcast for 1 - p_t and the sum.
    ce = upcast(F.cross_entropy(logits, target.long(), reduction="none"))
    loss = torch.sub(ce, torch.expm1(-ce), alpha=epsilon)
    return reduce_loss(loss, reduction).to(logits.dtype)


class Poly1CrossEntropyLoss(Loss[Reduction], function=poly1_cross_entropy):
    """Module form of [`poly1_cross_entropy`][deeplossdive.functional.poly1_cross_entropy]."""

    def __init__(self, *, epsilon: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__(locals(), epsilon=Interval(-1.0))


describe(
    poly1_cross_entropy,
    family="Classification",
    task="Multi-class",
    plot=Plot(
        P_T,
        TWO_CLASSES + " $\\varepsilon = 0$ is cross-entropy.",
        {f"ε = {e:g}": two_class(poly1_cross_entropy, epsilon=e) for e in (-1.0, 0.0, 1.0, 2.0)},
    ),
    chart=Leaf("Classify: one class per example", "C logits", "one more knob to tune", rank=3),
)
