"""Per-class weights computed from class counts, for the `weight`/`alpha` of the losses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from deeplossdive._about import helper
from deeplossdive._validation import Interval, check_interval

_BETA = Interval(0, 1, high_open=True)


def class_balanced_weights(
    samples_per_class: Tensor | Sequence[float], /, *, beta: float = 0.999
) -> Tensor:
    r"""Class weights from the effective number of samples of
    [Cui et al., 2019](https://arxiv.org/abs/1901.05555) ("Class-Balanced Loss Based on Effective
    Number of Samples").

    A class with $n_c$ samples has the effective number $E_{n_c} = (1 - \beta^{n_c}) / (1 - \beta)$
    (each new sample adds less, as it overlaps the ones already seen); its weight is proportional
    to $1 / E_{n_c}$, normalised so that the $C$ weights sum to $C$, as in the paper's code:

    $$
    w_c = C \, \frac{1 / E_{n_c}}{\sum_{k=1}^{C} 1 / E_{n_k}} .
    $$

    $\beta = 0$ gives equal weights (every $E_n = 1$); as $\beta \to 1$, $E_n \to n$ and the
    weights tend to the inverse class frequencies (normalised the same way). The paper uses
    $\beta \in \{0.9, 0.99, 0.999, 0.9999\}$. Computed in float64 ($1 - \beta^n$ as
    $-\operatorname{expm1}(n \log \beta)$, exact for $\beta$ close to 1).

    The result is the `weight` of [`cross_entropy`][deeplossdive.functional.cross_entropy] and
    [`nll_loss`][deeplossdive.functional.nll_loss], the `alpha` of
    [`focal_loss`][deeplossdive.functional.focal_loss] and
    [`poly1_cross_entropy`][deeplossdive.functional.poly1_cross_entropy]'s `weight`, or the
    per-class `weight` of
    [`multilabel_soft_margin_loss`][deeplossdive.functional.multilabel_soft_margin_loss].
    (`sigmoid_focal_loss` takes one `alpha` for every class, not one per class.) It is computed
    once, before training: its value checks read the counts on the host whatever their device.

    Args:
        samples_per_class: The number of training samples $n_c$ of each class, shape $(C)$,
            $C \ge 1$: a 1-D tensor (integer or floating point) or a sequence of numbers. Every
            count must be finite and $> 0$: a class without samples would have an infinite
            weight (it never occurs as a target, so drop it or give it a count of 1).
        beta: $\beta \in [0, 1)$.

    Returns:
        The weights, shape $(C)$, on the device of `samples_per_class`: in its dtype if it is a
        floating-point tensor, in torch's default dtype otherwise.

    Raises:
        TypeError: `samples_per_class` is not a tensor or sequence of real numbers (a boolean or
            complex tensor), or `beta` is not a real number.
        ValueError: `samples_per_class` is not 1-D or is empty, a count is not finite and
            $> 0$, or `beta` is outside $[0, 1)$.

    Examples:
        Three classes with 1000, 100 and 10 samples:

        >>> from deeplossdive.functional import class_balanced_weights
        >>> class_balanced_weights([1000, 100, 10], beta=0.99)
        tensor([0.2301, 0.3630, 2.4068])
        >>> class_balanced_weights([1000, 100, 10], beta=0.0)
        tensor([1., 1., 1.])

        With $\beta = 0.99$: $E = (100.0, 63.4, 9.56)$; $1/E = (0.0100, 0.0158, 0.1046)$, whose
        sum is $0.1304$, so $w = 3 \cdot 1/E / 0.1304$.
    """
    fn = "class_balanced_weights"
    counts, dtype = _counts(fn, samples_per_class)
    beta = check_interval(fn, "beta", beta, _BETA)
    work = counts.detach().to(torch.float64)
    bad = ~(torch.isfinite(work) & (work > 0))
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{fn}: samples_per_class must hold finite counts > 0, got {float(work[index])} "
            f"for class {index}"
        )
    if beta == 0:
        inverse = torch.ones_like(work)
    else:
        # 1 / E_n = (1 - beta) / (1 - beta^n), with 1 - beta^n = -expm1(n log beta).
        inverse = (1 - beta) / -torch.expm1(work * torch.log1p(work.new_tensor(beta - 1)))
    weights = inverse * (work.numel() / inverse.sum())
    return weights.to(dtype)


def _counts(function: str, value: object) -> tuple[Tensor, torch.dtype]:
    """The counts as a 1-D, non-empty tensor of real numbers, and the dtype of the weights."""
    if isinstance(value, Tensor):
        counts = value
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise TypeError(
                f"{function}: samples_per_class must be a 1-D tensor or a sequence of numbers, "
                f"got {type(value).__name__} of {sorted({type(v).__name__ for v in value})}"
            )
        counts = torch.tensor(value, dtype=torch.float64)
    else:
        raise TypeError(
            f"{function}: samples_per_class must be a 1-D tensor or a sequence of numbers, got "
            f"{type(value).__name__}"
        )
    if counts.dtype == torch.bool or counts.is_complex():
        raise TypeError(
            f"{function}: samples_per_class must be an integer or floating-point tensor, got "
            f"dtype {counts.dtype}"
        )
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError(
            f"{function}: samples_per_class must be a 1-D tensor with one count per class, "
            f"got shape {tuple(counts.shape)}"
        )
    from_tensor = isinstance(value, Tensor) and value.is_floating_point()
    return counts, counts.dtype if from_tensor else torch.get_default_dtype()


helper(class_balanced_weights)
