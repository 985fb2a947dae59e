"""The base class of every loss module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from deeplossdive._reduction import Reduction, check_reduction


class Loss(nn.Module):
    """A loss module: a thin wrapper that stores validated hyperparameters and calls its function.

    Subclasses validate their hyperparameters once in `__init__` and never assign to `self` in
    `forward`. Tensors given to the constructor are buffers, so `.to(device)` moves them.
    """

    reduction: Reduction

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(type(self).__name__, reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    if TYPE_CHECKING:
        # nn.Module types __call__ as returning Any; a loss returns a Tensor.
        def __call__(self, *args: Tensor) -> Tensor: ...
