"""Numeric policy shared by every loss: the dtype a loss computes in."""

from __future__ import annotations

from typing import Final

import torch
from torch import Tensor

LOW_PRECISION: Final = (torch.float16, torch.bfloat16)


def compute_dtype(tensor: Tensor) -> torch.dtype:
    """float32 for float16/bfloat16 inputs, the input's own dtype otherwise.

    In half precision a loss's terms underflow (the focal factor, an `exp` of a log-target) or
    its sums overflow (65504) long before the result is meaningless; losses compute in float32
    and round once at the end, as autocast does for its float32 ops.
    """
    return torch.float32 if tensor.dtype in LOW_PRECISION else tensor.dtype


def upcast(tensor: Tensor) -> Tensor:
    """`tensor` in [`compute_dtype`][deeplossdive._numerics.compute_dtype]."""
    return tensor.float() if tensor.dtype in LOW_PRECISION else tensor
