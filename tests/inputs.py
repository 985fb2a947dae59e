"""Input builders shared by the loss specs (`LossSpec.make_inputs`, `saturate`, `perfect`, ...).

Class-index losses (cross-entropy, focal, poly-1, hinge, the softmax overlap losses) take logits
$(N, C, ...)$ and integer labels $(N, ...)$; the sigmoid overlap losses take logits and a mask
of their shape. Every builder works in float64 and rounds once to the dtype under test.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from tests.harness import Inputs

# float16/bfloat16 inputs computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def class_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Logits of `shape` (N, C, ...) and a random class index per position."""
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.randint(shape[1], (shape[0], *shape[2:]), generator=gen)
    return logits.to(dtype), target


def class_saturate(inputs: Inputs) -> Inputs:
    """Logits at ±100, same labels: right and confident, wrong and confident, ties (sample 0)."""
    logits, target = inputs
    saturated = torch.where(logits > 0, 100.0, -100.0).to(logits.dtype)
    # Every regime: right and confident, wrong and confident, ties, and (sample 0) classes whose
    # prediction is exactly empty in float32.
    saturated[0] = -100.0
    saturated[0].select(0, 0).fill_(100.0)
    return saturated, target


def class_perfect(inputs: Inputs) -> Inputs:
    """Logits +100 at the label and -100 elsewhere: a perfect prediction."""
    logits, target = inputs
    one_hot = F.one_hot(target, logits.shape[1]).movedim(-1, 1)
    return (200.0 * one_hot - 100.0).to(logits.dtype), target


def class_ignore(inputs: Inputs, keep: Tensor) -> tuple[Inputs, Inputs]:
    """Samples not kept labelled -100 (the default `ignore_index`), and those samples removed."""
    logits, target = inputs
    ignored = target.clone()
    ignored[~keep] = -100
    return (logits, ignored), (logits[keep], target[keep])


def class_weights(name: str) -> Callable[[Inputs, torch.Generator], dict[str, Tensor]]:
    """A spec's `weights`: one positive weight per class, passed as the keyword `name`."""

    def weights(inputs: Inputs, gen: torch.Generator) -> dict[str, Tensor]:
        num_classes = inputs[0].shape[1]
        return {name: torch.rand(num_classes, generator=gen, dtype=inputs[0].dtype) + 0.1}

    return weights


def mask_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Logits of `shape` and a random 0/1 mask of the same shape, in the same dtype."""
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    target = torch.randint(2, shape, generator=gen).to(torch.float64)
    return logits.to(dtype), target.to(dtype)


def mask_saturate(inputs: Inputs) -> Inputs:
    logits, target = inputs
    return torch.where(logits > 0, 100.0, -100.0).to(logits.dtype), target


def multi_hot_saturate(inputs: Inputs) -> Inputs:
    """Logits at ±100 by their sign; the first entry wrong by far, the second right by far."""
    logits, target = inputs
    saturated = torch.where(logits > 0, 100.0, -100.0).to(logits.dtype)
    flat, labels = saturated.view(-1), target.reshape(-1)
    flat[0] = 100.0 if labels[0] == 0 else -100.0  # wrong, by far
    flat[1] = 100.0 if labels[1] == 1 else -100.0  # right, by far
    return saturated, target


def mask_perfect(inputs: Inputs) -> Inputs:
    logits, target = inputs
    return (200.0 * target - 100.0).to(logits.dtype), target


def mask_soft_perfect(inputs: Inputs) -> Inputs:
    """A soft target, the sigmoid of the logits: the prediction is the target."""
    logits, _ = inputs
    return logits, torch.sigmoid(logits)
