"""Kullback–Leibler divergence, with the reduction that really is the KL divergence by default."""

from __future__ import annotations

import torch
from torch import Tensor

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe, logit
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import KLReduction, check_kl_reduction, reduce_loss
from deeplossdive._validation import (
    check_floating,
    check_log_probability_values,
    check_min_ndim,
    check_probability_values,
    check_same_shape,
)


def kl_terms(log_probs: Tensor, target: Tensor, *, log_target: bool) -> Tensor:
    r"""The element-wise terms $p\,(\log p - \log q)$, with $0 \cdot \log 0 = 0$ for any $q$.

    A target probability of exactly 0 contributes 0, even where `log_probs` is $-\infty$ (a masked
    class), where the naive product $0 \cdot (-\infty)$ is NaN.
    """
    if log_target:
        terms = torch.exp(target) * (target - log_probs)
        return torch.where(target == float("-inf"), 0.0, terms)
    terms = torch.addcmul(torch.xlogy(target, target), target, log_probs, value=-1)
    return torch.where(target == 0, 0.0, terms)


def kl_div(
    log_probs: Tensor,
    target: Tensor,
    /,
    *,
    log_target: bool = False,
    reduction: KLReduction = "batchmean",
) -> Tensor:
    r"""Kullback–Leibler divergence $\mathrm{KL}(p \,\|\, q)$ of the model $q$ from the target $p$.

    The input is the model's **log**-probabilities $x = \log q$; the target is the probabilities
    $p$ (or $\log p$ with `log_target=True`). The unreduced loss is element-wise,

    $$
    \ell_{n,c} = p_{n,c}\,\bigl(\log p_{n,c} - x_{n,c}\bigr), \qquad 0 \cdot \log 0 = 0,
    $$

    and summing it over the classes of sample $n$ gives
    $\mathrm{KL}(p_n \,\|\, q_n) = \sum_c p_{n,c} \log (p_{n,c} / q_{n,c}) \ge 0$. A single term
    can be negative (wherever $q > p$); only the per-sample sum is a divergence. Note the
    argument order: `kl_div(log q, p)` is $\mathrm{KL}(p \,\|\, q)$, the *forward* KL from the
    target, as in `torch.nn.functional.kl_div`.

    Reductions, with $N$ the size of dimension 0:

    - `"batchmean"` (the default): $\frac{1}{N}\sum_{n,c} \ell_{n,c}$, the KL divergence per
      sample averaged over the batch: the number the mathematics means;
    - `"sum"`: $\sum_{n,c} \ell_{n,c}$;
    - `"mean"`: the sum divided by the number of elements $N \cdot C \cdots$. This is **not** the
      KL divergence (it is `"batchmean"` divided by $C$); it is kept for compatibility with
      `torch.nn.functional.kl_div`, whose default it is;
    - `"none"`: the terms $\ell_{n,c}$, shape of `log_probs`.

    The gradient with respect to the input is $\partial \ell_{n,c} / \partial x_{n,c} = -p_{n,c}$
    (divided by $N$ for `"batchmean"`). float16 and bfloat16 inputs are computed in float32 and
    the result is returned in the input dtype.

    Args:
        log_probs: Log-probabilities $\log q$ of the model, e.g. `log_softmax(logits, dim=1)`,
            shape $(N, C)$ or $(N, C, d_1, \dots)$ (any shape except for `"batchmean"`, which
            needs the batch in dimension 0 and at least 2 dimensions).
        target: Probabilities $p$, or log-probabilities $\log p$ if `log_target`; the shape of
            `log_probs`. Never broadcast.
        log_target: Whether `target` is given in log space. Log space is more accurate for tiny
            probabilities and lets $p = 0$ be written $-\infty$.
        reduction: `"batchmean"`, `"sum"`, `"mean"` or `"none"`.

    Returns:
        The loss: shape of `log_probs` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `log_probs` or `target` is not floating point.
        ValueError: Shapes differ, an unknown `reduction`, `"batchmean"` on fewer than 2
            dimensions, or (with value checks on) a target that is negative, infinite or NaN
            (with `log_target`: $+\infty$ or NaN).

    Examples:
        Two samples over two classes: $p_1 = (0.5, 0.5)$ against $q_1 = (0.25, 0.75)$, and a
        one-hot $p_2 = (1, 0)$ against $q_2 = (0.5, 0.5)$:

        >>> import torch
        >>> from deeplossdive.functional import kl_div
        >>> q = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
        >>> p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
        >>> kl_div(q.log(), p, reduction="none")
        tensor([[ 0.3466, -0.2027],
                [ 0.6931,  0.0000]])
        >>> kl_div(q.log(), p)
        tensor(0.4185)
        >>> kl_div(q.log(), p, reduction="mean")
        tensor(0.2092)

        The rows sum to $\mathrm{KL}(p_1 \| q_1) = 0.5 \log 2 + 0.5 \log \frac{2}{3} = 0.1438$ and
        $\mathrm{KL}(p_2 \| q_2) = \log 2 = 0.6931$ (the $0 \cdot \log 0$ term is 0);
        `"batchmean"` is their average, `"mean"` half of it ($C = 2$).
    """
    fn = "kl_div"
    check_floating(fn, "log_probs", log_probs)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "log_probs", log_probs)
    check_kl_reduction(fn, reduction)
    if reduction == "batchmean":
        check_min_ndim(
            fn, "log_probs", log_probs, 2, "(N, C, ...) for reduction='batchmean' (sum / N)"
        )
    if log_target:
        check_log_probability_values(fn, "target", target)
    else:
        check_probability_values(fn, "target", target)

    work = upcast(log_probs)
    terms = kl_terms(work, target.to(work.dtype), log_target=log_target)
    return reduce_loss(terms, reduction).to(log_probs.dtype)


class KLDivLoss(Loss[KLReduction], function=kl_div):
    """Module form of [`kl_div`][deeplossdive.functional.kl_div]."""

    def __init__(self, *, log_target: bool = False, reduction: KLReduction = "batchmean") -> None:
        super().__init__(locals())


def _kl(target: float) -> Curve:
    def loss(z: Tensor) -> Tensor:
        log_probs = torch.log_softmax(torch.stack([torch.zeros_like(z), z], dim=1), dim=1)
        p = torch.tensor([1 - target, target], dtype=z.dtype).expand_as(log_probs)
        return kl_div(log_probs, p, reduction="none").sum(dim=1)

    return loss


describe(
    kl_div,
    family="Distributions",
    task="Matching distributions",
    torch="`F.kl_div`",
    plot=Plot(
        Axis("$q_1$", (0.01, 0.99), "$z$", logit),
        "Two classes: the model's log-probabilities are `log_softmax` of $(0, z)$, so "
        "$q_1 = \\sigma(z)$; the target $p = (1 - p_1, p_1)$. Summed over the classes.",
        {"p_1 = 0.8": _kl(0.8), "p_1 = 0.5": _kl(0.5)},
    ),
    chart=Leaf("Match a distribution", "log-probabilities", "soft targets"),
)
