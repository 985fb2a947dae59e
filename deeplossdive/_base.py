"""The base class of every loss module."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from torch import Tensor, nn

from deeplossdive._reduction import REDUCTIONS
from deeplossdive._validation import check_choice, check_floating

R = TypeVar("R", bound=str)


class Loss(nn.Module, Generic[R]):
    """A loss module: a thin wrapper that stores validated hyperparameters and calls its function.

    Subclasses validate their hyperparameters once in `__init__` and never assign to `self` in
    `forward`. Tensors given to the constructor are buffers, so `.to(device)` moves them. The type
    parameter is the loss's reduction type: `Loss[Reduction]` for most, `Loss[KLReduction]` for
    the losses that add `"batchmean"` (and set `reductions` accordingly).
    """

    reductions: ClassVar[tuple[str, ...]] = REDUCTIONS
    reduction: R

    def __init__(self, *, reduction: R) -> None:
        super().__init__()
        check_choice(type(self).__name__, "reduction", reduction, self.reductions)
        self.reduction = reduction

    def register_weight(self, name: str, tensor: Tensor | None) -> None:
        """Store an optional constructor tensor (class weights, ...) as a floating-point buffer."""
        if tensor is not None:
            check_floating(type(self).__name__, name, tensor)
        self.register_buffer(name, tensor)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    if TYPE_CHECKING:
        # nn.Module types __call__ as returning Any; a loss returns a Tensor.
        def __call__(self, *args: Tensor) -> Tensor: ...
