"""Probabilistic regression: the Poisson and the Gaussian negative log-likelihoods."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from deeplossdive._about import RESIDUAL, Axis, Curve, Leaf, Plot, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    POSITIVE_FINITE,
    UNIT,
    check_floating,
    check_interval,
    check_probability_values,
    check_same_shape,
)

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    /,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Poisson negative log-likelihood of counts $y$ under a predicted rate $\lambda$: the loss of
    Poisson regression, the generalized linear model of counts with a log link
    ([Nelder & Wedderburn, 1972](https://doi.org/10.2307/2344614)).

    With `log_input=True` the prediction is the log-rate $x = \log\lambda$, and

    $$
    \ell = e^{x} - y\,x ;
    $$

    with `log_input=False` it is the rate itself, $x = \lambda \ge 0$, and

    $$
    \ell = x - y \log(x + \varepsilon) .
    $$

    Both are $-\log P(y \mid \lambda) = \lambda - y \log\lambda + \log y!$ without the
    $\log y!$ term, which does not depend on the prediction. `full=True` adds Stirling's
    approximation of it, $y \log y - y + \tfrac12 \log(2\pi y)$, for the targets $y > 1$ (0 for
    $y \le 1$, where $\log y! = 0$ exactly). The minimiser over $\lambda$ is $\lambda = y$: the
    loss trains the conditional mean of a count. This is `torch.nn.PoissonNLLLoss`, same
    arguments and defaults; `"mean"` is the mean over every element, and 0 for an empty input
    (torch: NaN). float16 and bfloat16 inputs are computed in float32 and the result is
    returned in the input dtype.

    Args:
        input: Log-rates (`log_input=True`) or rates $\ge 0$ (`log_input=False`), any shape,
            floating point.
        target: Counts $y \ge 0$ (any non-negative real is accepted), exactly the shape of
            `input`, floating point.
        log_input: Whether `input` holds $\log\lambda$ (the default, stable) or $\lambda$.
        full: Add the Stirling term, so that the loss is the full negative log-likelihood.
        eps: Added to the rate inside the log when `log_input=False`, a finite
            $\varepsilon \ge 0$, so that a rate of 0 costs $-y \log\varepsilon$, not infinity.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `input` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `input` or `target` is not floating point.
        ValueError: `target` does not have the shape of `input`, `eps` is not a finite number
            $\ge 0$, or an unknown `reduction`; with value checks on, a negative or non-finite
            target, or a negative rate with `log_input=False`.

    Examples:
        Log-rates $0$ and $\log 2$ (rates 1 and 2) against counts 1 and 4:

        >>> import math, torch
        >>> from deeplossdive.functional import poisson_nll_loss
        >>> log_rate = torch.tensor([0.0, math.log(2.0)])
        >>> counts = torch.tensor([1.0, 4.0])
        >>> poisson_nll_loss(log_rate, counts, reduction="none")
        tensor([ 1.0000, -0.7726])
        >>> poisson_nll_loss(log_rate.exp(), counts, log_input=False, reduction="none")
        tensor([ 1.0000, -0.7726])

        By hand: $e^0 - 1 \cdot 0 = 1$ and $2 - 4 \log 2 = -0.7726$: without the $\log y!$
        term the loss can be negative ($\log 4! = 3.1781$ would make it 2.4055).
    """
    fn = "poisson_nll_loss"
    check_floating(fn, "input", input)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "input", input)
    check_interval(fn, "eps", eps, NON_NEGATIVE_FINITE)
    check_reduction(fn, reduction)
    check_probability_values(fn, "target", target)
    if not log_input:
        check_probability_values(fn, "input", input)
    x = upcast(input)
    y = target.to(x.dtype)
    loss = torch.exp(x) - y * x if log_input else x - y * torch.log(x + eps)
    if full:
        # Stirling's term only where y > 1; the other entries see y = 2, so that neither the
        # value nor the gradient of the discarded branch can be NaN (log 0).
        above = y > 1
        safe = torch.where(above, y, 2.0)
        stirling = safe * torch.log(safe) - safe + 0.5 * torch.log(2 * math.pi * safe)
        loss = loss + torch.where(above, stirling, 0.0)
    return reduce_loss(loss, reduction).to(input.dtype)


def _gaussian_variance(fn: str, input: Tensor, var: Tensor) -> Tensor:
    """`var` of the shape of `input`, or one dimension of size 1 (or the last one missing) for a
    variance shared along that dimension; returned with the missing dimension restored."""
    check_floating(fn, "var", var)
    if var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1] and input.dim() > 0:
        return var.unsqueeze(-1)
    differing = [i for i, (a, b) in enumerate(zip(input.shape, var.shape, strict=False)) if a != b]
    if var.dim() == input.dim() and len(differing) == 1 and var.shape[differing[0]] == 1:
        return var
    raise ValueError(
        f"{fn}: var must have the shape of input {tuple(input.shape)}, that shape with one "
        f"dimension of size 1, or without its last dimension, got {tuple(var.shape)}"
    )


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor,
    /,
    *,
    full: bool = False,
    eps: float = 1e-6,
    beta: float = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Gaussian negative log-likelihood of $y$ under a predicted mean $\mu$ and variance
    $\sigma^2$, with the β-NLL weighting of
    [Seitzer et al., 2022](https://arxiv.org/abs/2203.09168).

    With the variance clamped from below, $v = \max(\sigma^2, \varepsilon)$,

    $$
    \ell = \tfrac12 \left( \log v + \frac{(\mu - y)^2}{v} \right)
        \cdot \operatorname{sg}\!\left[v^{\beta}\right]
        \ \left( + \tfrac12 \log 2\pi \text{ with } \texttt{full=True} \right),
    $$

    where $\operatorname{sg}$ stops the gradient. $\beta = 0$ (the default) is
    `torch.nn.GaussianNLLLoss`: the heteroscedastic regression loss, whose gradient with respect
    to the mean, $(\mu - y)/v$, vanishes where the model predicts a large variance, so that
    hard points stop being fitted. $\beta > 0$ multiplies each element by its own (constant)
    $v^\beta$: at $\beta = 1$ the mean's gradient is $\mu - y$, that of the squared error, while
    the variance is still learned; Seitzer et al. recommend $\beta = 0.5$.

    As in torch, the clamp to $\varepsilon$ is a *clamp*, not an addition (torch's docs once
    said "added"), and it is invisible to autograd: the gradient with respect to `var` is taken
    as if $v = \sigma^2$. The constant $\tfrac12 \log 2\pi$ of `full=True` is not weighted.
    `"none"` is per element, of the shape of `input`; `"mean"` is the mean over every element,
    and 0 for an empty input (torch: NaN). float16 and bfloat16 inputs are computed in float32
    and the result is returned in the input dtype.

    Args:
        input: Predicted means $\mu$, any shape, floating point.
        target: Targets $y$, exactly the shape of `input`, floating point.
        var: Predicted variances $\sigma^2 \ge 0$ (not standard deviations, not log-variances):
            the shape of `input`, or that shape with one dimension of size 1 or without its
            last dimension, for a variance shared along that dimension (torch's rules).
        full: Add the constant $\tfrac12 \log 2\pi$, so that the loss is the full negative
            log-likelihood.
        eps: The smallest variance, a finite $\varepsilon > 0$: `var` is clamped to it.
        beta: The β-NLL exponent, $0 \le \beta \le 1$; 0 is torch's loss.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `input` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: `input`, `target` or `var` is not floating point.
        ValueError: `target` does not have the shape of `input`, `var` has none of the shapes
            above, `eps` is not a finite number $> 0$, `beta` is not in $[0, 1]$, or an unknown
            `reduction`; with value checks on, a negative or non-finite variance.

    Examples:
        Residuals $\mu - y$ of 0 and 2, variances 1 and 4:

        >>> import torch
        >>> from deeplossdive.functional import gaussian_nll_loss
        >>> mean = torch.tensor([0.0, 2.0])
        >>> target = torch.tensor([0.0, 0.0])
        >>> var = torch.tensor([1.0, 4.0])
        >>> gaussian_nll_loss(mean, target, var, reduction="none")
        tensor([0.0000, 1.1931])
        >>> gaussian_nll_loss(mean, target, var, beta=0.5, reduction="none")
        tensor([0.0000, 2.3863])

        By hand: $\tfrac12(\log 1 + 0) = 0$ and $\tfrac12(\log 4 + 4/4) = 1.1931$; with
        $\beta = 0.5$ the second is weighted by $\sqrt{4} = 2$.
    """
    fn = "gaussian_nll_loss"
    check_floating(fn, "input", input)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "input", input)
    variance = _gaussian_variance(fn, input, var)
    check_interval(fn, "eps", eps, POSITIVE_FINITE)
    check_interval(fn, "beta", beta, UNIT)
    check_reduction(fn, reduction)
    check_probability_values(fn, "var", var)
    mu = upcast(input)
    y = target.to(mu.dtype)
    v = variance.to(mu.dtype)
    # The clamp as torch does it: the value of max(v, eps), the gradient of v.
    v = v + (v.clamp(min=eps) - v).detach()
    residual = mu - y
    loss = 0.5 * (torch.log(v) + residual * residual / v)
    if beta != 0:
        loss = loss * v.detach() ** beta
    if full:
        loss = loss + _HALF_LOG_2PI
    return reduce_loss(loss, reduction).to(input.dtype)


class PoissonNLLLoss(Loss[Reduction], function=poisson_nll_loss):
    """Module form of [`poisson_nll_loss`][deeplossdive.functional.poisson_nll_loss]."""

    def __init__(
        self,
        *,
        log_input: bool = True,
        full: bool = False,
        eps: float = 1e-8,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), eps=NON_NEGATIVE_FINITE)


class GaussianNLLLoss(Loss[Reduction], function=gaussian_nll_loss):
    """Module form of [`gaussian_nll_loss`][deeplossdive.functional.gaussian_nll_loss]."""

    def __init__(
        self,
        *,
        full: bool = False,
        eps: float = 1e-6,
        beta: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), eps=POSITIVE_FINITE, beta=UNIT)


def _poisson(count: float) -> Curve:
    return lambda x: poisson_nll_loss(x, torch.full_like(x, count), reduction="none")


def _gaussian(var: float, beta: float = 0.0) -> Curve:
    return lambda r: gaussian_nll_loss(
        r, torch.zeros_like(r), torch.full_like(r, var), beta=beta, reduction="none"
    )


describe(
    poisson_nll_loss,
    family="Regression",
    task="Count regression",
    torch="`F.poisson_nll_loss`",
    plot=Plot(
        Axis("$\\log\\lambda$", (-2.0, 3.0), "$\\log\\lambda$"),
        "A predicted log-rate $\\log\\lambda$ (`log_input=True`) against a count $y$; the "
        "minimum is at $\\lambda = y$.",
        {f"y = {y:g}": _poisson(y) for y in (0.0, 1.0, 3.0, 8.0)},
    ),
    chart=Leaf("Predict a number", "a log-rate per count", "counts"),
)
describe(
    gaussian_nll_loss,
    family="Regression",
    task="Heteroscedastic regression (mean and variance)",
    torch="`F.gaussian_nll_loss` (no `beta`)",
    plot=Plot(
        RESIDUAL,
        "Target $y = 0$, predicted mean $x$, a fixed predicted variance $\\sigma^2$: the larger "
        "the variance, the weaker the pull on the mean, unless $\\beta > 0$.",
        {
            "σ² = 0.5": _gaussian(0.5),
            "σ² = 1": _gaussian(1.0),
            "σ² = 4": _gaussian(4.0),
            "σ² = 4, β = 0.5": _gaussian(4.0, beta=0.5),
        },
    ),
    chart=Leaf("Predict a number", "a mean and a variance", "learned uncertainty"),
)
