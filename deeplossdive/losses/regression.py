"""Regression losses: squared, absolute, Huber, smooth-L1, log-cosh and quantile (pinball)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._about import RESIDUAL, RESIDUAL_SETUP, Curve, Leaf, Plot, describe, residual
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    OPEN_UNIT,
    POSITIVE_FINITE,
    check_floating,
    check_interval,
    check_same_shape,
)

Kernel = Callable[..., Tensor]
"""torch's fused loss: `(input, target, *, reduction) -> Tensor`."""


def _checked(
    fn: str, input: Tensor, target: Tensor, weight: Tensor | None, reduction: Reduction
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Validate the tensors and return input, target and weights in the compute dtype.

    Both tensors are cast to the compute dtype *before* any subtraction: in float16 the
    difference of two representable values can overflow (60000 - (-60000)).
    """
    check_floating(fn, "input", input)
    check_floating(fn, "target", target)
    check_same_shape(fn, "target", target, "input", input)
    if weight is not None:
        check_floating(fn, "weight", weight)
        check_same_shape(fn, "weight", weight, "input", input)
    check_reduction(fn, reduction)
    work = upcast(input)
    return (
        work,
        _as(target, work.dtype),
        None if weight is None else _as(weight, work.dtype),
    )


def _as(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def _fused(
    kernel: Kernel,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: Reduction,
    dtype: torch.dtype,
) -> Tensor:
    r"""torch's fused `kernel` with DeepLossDive's reductions.

    Without weights torch's own reduction is ours, except that the mean of nothing is 0 here
    (torch: NaN): an empty input takes the sum, 0 with a zero gradient (a shape property, no
    sync). With weights the unreduced loss is weighted and reduced as $\sum w \ell / \sum w$.
    """
    if weight is None:
        if reduction == "mean" and input.numel() == 0:
            reduction = "sum"
        return _as(kernel(input, target, reduction=reduction), dtype)
    return _reduce(kernel(input, target, reduction="none"), reduction, weight, dtype)


def _reduce(
    loss: Tensor, reduction: Reduction, weight: Tensor | None, dtype: torch.dtype
) -> Tensor:
    return _as(reduce_loss(loss, reduction, weight=weight), dtype)


def mse_loss(
    input: Tensor, target: Tensor, /, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Mean squared error: the squared residual.

    With a prediction $x$ and a target $y$ the unreduced loss is

    $$
    \ell = (x - y)^2 .
    $$

    Large residuals dominate: a residual of 10 costs 100 times one of 1. The minimiser of
    $\sum_n (c - y_n)^2$ over a constant $c$ is the mean of the $y_n$. `"mean"` is
    $\sum w \ell / \sum w$ with weights, the plain mean without; float16 and bfloat16 inputs are
    computed in float32 and the result is returned in the input dtype.

    Args:
        input: Predictions, any shape, floating point.
        target: Targets, exactly the shape of `input` (never broadcast), floating point.
        weight: Optional per-element weights $w \ge 0$, exactly the shape of `input`.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `input` for `"none"` ($w \ell$ with weights), a scalar otherwise.

    Raises:
        TypeError: `input`, `target` or `weight` is not floating point.
        ValueError: `target` or `weight` does not have the shape of `input` (an $(N, 1)$
            prediction against an $(N)$ target included), or an unknown `reduction`.

    Examples:
        Residuals $x - y$ of $-0.5$, $0$ and $3$:

        >>> import torch
        >>> from deeplossdive.functional import mse_loss
        >>> input = torch.tensor([1.0, 2.0, 5.0])
        >>> target = torch.tensor([1.5, 2.0, 2.0])
        >>> mse_loss(input, target, reduction="none")
        tensor([0.2500, 0.0000, 9.0000])
        >>> mse_loss(input, target)
        tensor(3.0833)

        By hand: $(0.25 + 0 + 9) / 3 = 3.0833$.
    """
    work, target, weights = _checked("mse_loss", input, target, weight, reduction)
    return _fused(F.mse_loss, work, target, weights, reduction, input.dtype)


def l1_loss(
    input: Tensor, target: Tensor, /, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Mean absolute error: the absolute residual.

    $$
    \ell = |x - y| .
    $$

    Every unit of residual costs the same, so one outlier cannot dominate. The minimiser of
    $\sum_n |c - y_n|$ over a constant $c$ is a median of the $y_n$. The gradient is
    $\operatorname{sign}(x - y)$, with $\operatorname{sign}(0) = 0$ at a perfect prediction, as
    in torch. The arguments, reductions, weights, dtypes, the shape of the result and the errors
    are those of [`mse_loss`][deeplossdive.functional.mse_loss].

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import l1_loss
        >>> input = torch.tensor([1.0, 2.0, 5.0])
        >>> target = torch.tensor([1.5, 2.0, 2.0])
        >>> l1_loss(input, target, reduction="none")
        tensor([0.5000, 0.0000, 3.0000])
        >>> l1_loss(input, target)
        tensor(1.1667)

        By hand: $(0.5 + 0 + 3) / 3 = 1.1667$.
    """
    work, target, weights = _checked("l1_loss", input, target, weight, reduction)
    return _fused(F.l1_loss, work, target, weights, reduction, input.dtype)


def huber_loss(
    input: Tensor,
    target: Tensor,
    /,
    *,
    delta: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Huber loss ([Huber, 1964](https://doi.org/10.1214/aoms/1177703732)): quadratic near 0,
    linear beyond $\delta$.

    With $r = x - y$,

    $$
    \ell =
    \begin{cases}
    \tfrac{1}{2} r^2 & |r| \le \delta, \\
    \delta \left(|r| - \tfrac{1}{2}\delta\right) & |r| > \delta.
    \end{cases}
    $$

    The two pieces meet with the same value and slope at $|r| = \delta$; the gradient is $r$
    clipped to $[-\delta, \delta]$. This is `torch.nn.HuberLoss`; it equals $\delta$ times
    [`smooth_l1_loss`][deeplossdive.functional.smooth_l1_loss] with $\beta = \delta$, so the
    two coincide only at $\delta = \beta = 1$. `input`, `target`, `weight` and `reduction`, the
    reductions, dtypes and the shape of the result are those of
    [`mse_loss`][deeplossdive.functional.mse_loss].

    Args:
        delta: Where the quadratic turns linear, $\delta > 0$ (finite).

    Raises:
        TypeError: As for [`mse_loss`][deeplossdive.functional.mse_loss].
        ValueError: As for [`mse_loss`][deeplossdive.functional.mse_loss], or `delta` is not a
            finite number $> 0$.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import huber_loss
        >>> input = torch.tensor([1.0, 2.0, 5.0])
        >>> target = torch.tensor([1.5, 2.0, 2.0])
        >>> huber_loss(input, target, reduction="none")
        tensor([0.1250, 0.0000, 2.5000])
        >>> huber_loss(input, target, delta=2.0, reduction="none")
        tensor([0.1250, 0.0000, 4.0000])

        By hand: $\tfrac12 \cdot 0.5^2 = 0.125$; $1 \cdot (3 - 0.5) = 2.5$ and
        $2 \cdot (3 - 1) = 4$.
    """
    fn = "huber_loss"
    work, target, weights = _checked(fn, input, target, weight, reduction)
    delta = check_interval(fn, "delta", delta, POSITIVE_FINITE)

    def kernel(x: Tensor, y: Tensor, *, reduction: str) -> Tensor:
        return F.huber_loss(x, y, reduction=reduction, delta=delta)

    return _fused(kernel, work, target, weights, reduction, input.dtype)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    /,
    *,
    beta: float = 1.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Smooth L1 loss ([Girshick, 2015](https://arxiv.org/abs/1504.08083)): L1 with its kink at
    0 rounded off over $|r| < \beta$.

    With $r = x - y$,

    $$
    \ell =
    \begin{cases}
    \dfrac{r^2}{2\beta} & |r| < \beta, \\
    |r| - \tfrac{1}{2}\beta & |r| \ge \beta,
    \end{cases}
    $$

    and $\ell = |r|$ for $\beta = 0$, as in `torch.nn.SmoothL1Loss`. Its slope beyond $\beta$ is
    1 whatever $\beta$, where [`huber_loss`][deeplossdive.functional.huber_loss]'s is $\delta$:
    $\operatorname{Huber}_\delta = \delta \cdot \operatorname{SmoothL1}_{\beta = \delta}$.
    `input`, `target`, `weight` and `reduction`, the reductions, dtypes and the shape of the
    result are those of [`mse_loss`][deeplossdive.functional.mse_loss].

    Args:
        beta: Width of the quadratic zone, a finite $\beta \ge 0$; $\beta = 0$ is L1.

    Raises:
        TypeError: As for [`mse_loss`][deeplossdive.functional.mse_loss].
        ValueError: As for [`mse_loss`][deeplossdive.functional.mse_loss], or `beta` is not a
            finite number $\ge 0$.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import smooth_l1_loss
        >>> input = torch.tensor([1.0, 2.0, 5.0])
        >>> target = torch.tensor([1.5, 2.0, 2.0])
        >>> smooth_l1_loss(input, target, reduction="none")
        tensor([0.1250, 0.0000, 2.5000])
        >>> smooth_l1_loss(input, target, beta=2.0, reduction="none")
        tensor([0.0625, 0.0000, 2.0000])

        By hand, $\beta = 2$: $0.5^2 / 4 = 0.0625$ and $3 - 1 = 2$, half of Huber with
        $\delta = 2$.
    """
    fn = "smooth_l1_loss"
    work, target, weights = _checked(fn, input, target, weight, reduction)
    beta = check_interval(fn, "beta", beta, NON_NEGATIVE_FINITE)

    def kernel(x: Tensor, y: Tensor, *, reduction: str) -> Tensor:
        # torch's smooth_l1_loss is l1_loss at beta = 0.
        return F.smooth_l1_loss(x, y, reduction=reduction, beta=beta)

    return _fused(kernel, work, target, weights, reduction, input.dtype)


def log_cosh_loss(
    input: Tensor, target: Tensor, /, *, weight: Tensor | None = None, reduction: Reduction = "mean"
) -> Tensor:
    r"""Log-cosh loss: $\log\cosh$ of the residual, smooth everywhere.

    $$
    \ell = \log \cosh(x - y) \approx
    \begin{cases}
    \tfrac{1}{2} (x - y)^2 & |x - y| \ll 1, \\
    |x - y| - \log 2 & |x - y| \gg 1,
    \end{cases}
    $$

    with gradient $\tanh(x - y)$. Like Huber with $\delta = 1$, but with every derivative
    continuous. Written naively, `log(cosh(r))` overflows to `inf` at $|r| > 89$ in float32 (and
    at $|r| > 11.8$ in float16). Here it is computed as
    $|r| + \log(1 + e^{-2|r|}) - \log 2$ for $|r| \ge 1$, which cannot overflow, and as
    $\log(1 + 2\sinh^2(r/2))$ for $|r| < 1$, which keeps full relative precision near 0 where the
    first form cancels; values and gradients are finite at $|r| = 1000$ in float32 and float16.
    The gradient $\tanh(x - y)$ is written by hand from the one saved residual: first
    derivatives only (a second one raises an error). The arguments, reductions, weights, dtypes,
    the shape of the result and the errors are those of
    [`mse_loss`][deeplossdive.functional.mse_loss].

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import log_cosh_loss
        >>> input = torch.tensor([1.0, 2.0, 5.0, 1000.0])
        >>> target = torch.tensor([1.5, 2.0, 2.0, 0.0])
        >>> log_cosh_loss(input, target, reduction="none")
        tensor([1.2011e-01, 0.0000e+00, 2.3093e+00, 9.9931e+02])

        By hand: $\log\cosh 0.5 = 0.1201$ (close to $0.5^2/2 = 0.125$), and
        $1000 - \log 2 = 999.31$.
    """
    work, target, weights = _checked("log_cosh_loss", input, target, weight, reduction)
    loss: Tensor = _LogCosh.apply(work, target)  # type: ignore[no-untyped-call]
    return _reduce(loss, reduction, weights, input.dtype)


def quantile_loss(
    input: Tensor,
    target: Tensor,
    /,
    *,
    quantile: float = 0.5,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Quantile (pinball) loss of [Koenker & Bassett, 1978](https://doi.org/10.2307/1913643).

    With the residual taken as **target minus prediction**, $r = y - x$, and the quantile level
    $q \in (0, 1)$,

    $$
    \ell = \max\bigl(q\,r,\ (q - 1)\,r\bigr) =
    \begin{cases}
    q\,(y - x) & y \ge x \text{ (under-prediction)}, \\
    (1 - q)\,(x - y) & y < x \text{ (over-prediction)}.
    \end{cases}
    $$

    Under-predicting costs $q$ per unit, over-predicting $1 - q$: the constant that minimises
    the loss over a sample is its $q$-quantile, so $q = 0.9$ trains the upper end of an 80 %
    prediction interval. $q = 0.5$ is half the L1 loss. At $r = 0$ the gradient is 0 (a valid
    subgradient, between the one-sided slopes $-q$ and $1 - q$), as L1's is. The gradient is
    written by hand from the one saved residual: first derivatives only (a second one raises an
    error). `target`, `weight` and `reduction`, the reductions, dtypes and the shape of the
    result are those of [`mse_loss`][deeplossdive.functional.mse_loss].

    Args:
        input: Predictions of the $q$-quantile, any shape, floating point.
        quantile: The quantile level $q$, strictly between 0 and 1.

    Raises:
        TypeError: As for [`mse_loss`][deeplossdive.functional.mse_loss].
        ValueError: As for [`mse_loss`][deeplossdive.functional.mse_loss], or `quantile` is not
            in $(0, 1)$.

    Examples:
        The first prediction is too low by 0.5, the third too high by 3:

        >>> import torch
        >>> from deeplossdive.functional import quantile_loss
        >>> input = torch.tensor([1.0, 2.0, 5.0])
        >>> target = torch.tensor([1.5, 2.0, 2.0])
        >>> quantile_loss(input, target, quantile=0.9, reduction="none")
        tensor([0.4500, 0.0000, 0.3000])
        >>> quantile_loss(input, target, reduction="none")
        tensor([0.2500, 0.0000, 1.5000])

        By hand: $0.9 \cdot 0.5 = 0.45$ and $0.1 \cdot 3 = 0.3$; with $q = 0.5$, half of
        $(0.5, 0, 3)$.
    """
    fn = "quantile_loss"
    work, target, weights = _checked(fn, input, target, weight, reduction)
    q = check_interval(fn, "quantile", quantile, OPEN_UNIT)
    loss: Tensor = _Pinball.apply(work, target, q)  # type: ignore[no-untyped-call]
    return _reduce(loss, reduction, weights, input.dtype)


_LOG_2 = math.log(2.0)


class _LogCosh(torch.autograd.Function):
    r"""$\log\cosh(x - y)$, elementwise, with the gradient $\tanh(x - y)$ written by hand.

    With $a = |x - y|$: $\log(1 + 2\sinh^2(a/2))$ for $a < 1$, which keeps full relative
    precision near 0 where the other form cancels, and $a + \log(1 + e^{-2a}) - \log 2$ (a
    softplus) for $a \ge 1$, which cannot overflow. Autograd through these two branches would
    keep and revisit a dozen tensors; this keeps one, $x - y$. Second derivatives are not
    implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(ctx: Any, input: Tensor, target: Tensor) -> Tensor:
        residual = input - target
        size = residual.abs()
        sinh = torch.clamp_max(size, 1.0).mul_(0.5).sinh_()
        near = sinh.mul_(sinh).mul_(2.0).log1p_()
        far = F.softplus(size * -2.0).add_(size).sub_(_LOG_2)
        ctx.save_for_backward(residual)
        return torch.where(size < 1, near, far)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (residual,) = ctx.saved_tensors
        grad_input = torch.tanh(residual).mul_(grad)
        grad_target = -grad_input if ctx.needs_input_grad[1] else None
        return grad_input if ctx.needs_input_grad[0] else None, grad_target


class _Pinball(torch.autograd.Function):
    r"""The pinball loss $\max(r, 0) - q\,r$ of $r = x - y$, with its gradient written by hand.

    $\max(r, 0) - q\,r$ is $(1 - q)\,r$ above 0 and $-q\,r$ below, the quantile loss of the
    prediction $x$; at $r = 0$ it is $+0.0$ (never $-0.0$) and its gradient is 0 (as L1's),
    between the one-sided slopes. With $h = \operatorname{sign}(r) / 2$ the gradient is
    $h + (2 - 4q)\,h^2$: $1 - q$, $-q$ or 0. One saved tensor, $r$; second derivatives are not
    implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(ctx: Any, input: Tensor, target: Tensor, quantile: float) -> Tensor:
        residual = input - target
        ctx.save_for_backward(residual)
        ctx.quantile = quantile
        return torch.clamp_min(residual, 0.0).sub_(residual, alpha=quantile)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (residual,) = ctx.saved_tensors
        half_sign = torch.sign(residual).mul_(0.5)
        slope = torch.addcmul(half_sign, half_sign, half_sign, value=2 - 4 * ctx.quantile)
        grad_input = slope.mul_(grad)
        grad_target = -grad_input if ctx.needs_input_grad[1] else None
        return grad_input if ctx.needs_input_grad[0] else None, grad_target, None


class MSELoss(Loss[Reduction], function=mse_loss):
    """Module form of [`mse_loss`][deeplossdive.functional.mse_loss]."""

    def __init__(self, *, weight: Tensor | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


class L1Loss(Loss[Reduction], function=l1_loss):
    """Module form of [`l1_loss`][deeplossdive.functional.l1_loss]."""

    def __init__(self, *, weight: Tensor | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


class HuberLoss(Loss[Reduction], function=huber_loss):
    """Module form of [`huber_loss`][deeplossdive.functional.huber_loss]."""

    def __init__(
        self, *, delta: float = 1.0, weight: Tensor | None = None, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), delta=POSITIVE_FINITE)


class SmoothL1Loss(Loss[Reduction], function=smooth_l1_loss):
    """Module form of [`smooth_l1_loss`][deeplossdive.functional.smooth_l1_loss]."""

    def __init__(
        self, *, beta: float = 1.0, weight: Tensor | None = None, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), beta=NON_NEGATIVE_FINITE)


class LogCoshLoss(Loss[Reduction], function=log_cosh_loss):
    """Module form of [`log_cosh_loss`][deeplossdive.functional.log_cosh_loss]."""

    def __init__(self, *, weight: Tensor | None = None, reduction: Reduction = "mean") -> None:
        super().__init__(locals())


class QuantileLoss(Loss[Reduction], function=quantile_loss):
    """Module form of [`quantile_loss`][deeplossdive.functional.quantile_loss]."""

    def __init__(
        self, *, quantile: float = 0.5, weight: Tensor | None = None, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), quantile=OPEN_UNIT)


def _describe(
    function: Callable[..., Tensor],
    task: str,
    torch: str,
    curves: dict[str, Curve],
    chart: Leaf,
    note: str = "",
) -> None:
    plot = Plot(RESIDUAL, RESIDUAL_SETUP + note, curves)
    describe(function, family="Regression", task=task, torch=torch, chart=chart, plot=plot)


def _value(note: str, rank: int) -> Leaf:
    """A leaf of the flowchart's "Predict a number: a value per target"."""
    return Leaf("Predict a number", "a value per target", note, rank)


_describe(
    mse_loss,
    "Regression",
    "`F.mse_loss`",
    {"mse_loss": residual(mse_loss)},
    _value("start here", 1),
)
_describe(
    l1_loss,
    "Regression (median), outliers",
    "`F.l1_loss`",
    {"l1_loss": residual(l1_loss)},
    _value("the median", 4),
)
_describe(
    log_cosh_loss,
    "Regression with outliers",
    "—",
    {"log_cosh_loss": residual(log_cosh_loss)},
    _value("smooth and robust", 5),
)
_describe(
    huber_loss,
    "Regression with outliers",
    "`F.huber_loss`",
    {f"δ = {d:g}": residual(huber_loss, delta=d) for d in (0.5, 1.0, 2.0)},
    _value("outliers", 2),
)
_describe(
    smooth_l1_loss,
    "Regression with outliers, box regression",
    "`F.smooth_l1_loss`",
    {f"β = {b:g}": residual(smooth_l1_loss, beta=b) for b in (0.5, 1.0, 2.0)},
    _value("box regression", 3),
)
_describe(
    quantile_loss,
    "Quantile regression, intervals",
    "—",
    {f"q = {q:g}": residual(quantile_loss, quantile=q) for q in (0.1, 0.5, 0.9)},
    Leaf("Predict a number", "a value per quantile", "prediction intervals"),
    " Left of 0 the prediction is too low (under-prediction).",
)
