"""The base class of every loss module."""

from __future__ import annotations

import typing
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from torch import Tensor, nn

from deeplossdive._validation import (
    Interval,
    check_choice,
    check_distributed_reduction,
    check_floating,
    check_interval,
)

R = TypeVar("R", bound=str)


class Loss(nn.Module, Generic[R]):
    """A loss module: the options of its function, validated once, and the function's call.

    A subclass names its function in its class statement and stores its options with one call
    of an explicit, typed `__init__`, the signature that users and type checkers see:

    ```python
    class FocalLoss(Loss[Reduction], function=focal_loss):
        def __init__(self, *, gamma: float = 2.0, alpha: Tensor | None = None,
                     ignore_index: int = -100, reduction: Reduction = "mean") -> None:
            super().__init__(locals(), gamma=NON_NEGATIVE)
    ```

    `module(*inputs)` is then `function(*inputs, **options)`. The base validates every option by
    its annotation and stores it as an attribute of the same name: a `Literal` must be one of
    its values (`reduction` too: `Loss[Reduction]` for most losses, `Loss[KLReduction]` for those
    that add `"batchmean"`), a real number in the `Interval` given for it must lie there and is
    stored as a float, a tensor is a floating-point buffer (so `.to(device)` moves it and
    `state_dict` holds it), a `bool` is stored as one, and `distributed=True` admits only the
    reductions that combine every rank's entries. Nothing is assigned to `self` in `forward`.
    The representation lists the options other than tensors, and `distributed` only when set.
    """

    function: ClassVar[Callable[..., Tensor]]
    """The loss function this module calls: the one pairing of a module with its function."""
    reduction: R

    def __init_subclass__(cls, *, function: Callable[..., Tensor] | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if function is not None:
            cls.function = staticmethod(function)

    def __init__(self, options: Mapping[str, Any], /, **intervals: Interval) -> None:
        """Store `options` (the subclass's `locals()`), with `intervals` for its real numbers."""
        super().__init__()
        name = type(self).__name__
        types = _option_types(type(self))
        self._options: tuple[str, ...] = tuple(key for key in options if key in types)
        for key in self._options:
            value, kind = options[key], types[key]
            if typing.get_origin(kind) is Literal:
                check_choice(name, key, value, typing.get_args(kind))
            if key in intervals and value is not None:
                value = check_interval(name, key, value, intervals[key])
            if Tensor in (kind, *typing.get_args(kind)):
                self.register_weight(key, value)
                continue
            setattr(self, key, bool(value) if kind is bool else value)
        check_distributed_reduction(name, self.reduction, bool(options.get("distributed")))

    def register_weight(self, name: str, tensor: Tensor | None) -> None:
        """Store an optional constructor tensor (class weights, ...) as a floating-point buffer."""
        if tensor is not None:
            check_floating(type(self).__name__, name, tensor)
        self.register_buffer(name, tensor)

    def options(self) -> dict[str, Any]:
        """The keyword arguments of the function, buffers included, as they are now."""
        return {key: getattr(self, key) for key in self._options}

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.function(*inputs, **self.options())

    def extra_repr(self) -> str:
        return self.describe()

    def describe(self, hidden: Collection[str] = ()) -> str:
        """The options other than tensors and those `hidden`, `distributed` only when set."""
        shown = []
        for key, value in self.options().items():
            if key in hidden or isinstance(value, Tensor) or key in self._buffers:
                continue
            if key == "distributed" and not value:
                continue
            shown.append(f"{key}={value.__name__ if callable(value) else repr(value)}")
        return ", ".join(shown)

    if TYPE_CHECKING:
        # nn.Module types __call__ as returning Any; a loss returns a Tensor.
        def __call__(self, *args: Tensor) -> Tensor: ...

        # Options are stored by the base: reading one is typed by its signature, not here.
        def __getattr__(self, name: str) -> Any: ...


_OPTION_TYPES: dict[type, dict[str, Any]] = {}


def _option_types(cls: type) -> dict[str, Any]:
    """The annotations of the parameters of `cls.__init__`, resolved (once per class)."""
    if cls not in _OPTION_TYPES:
        init = next(vars(klass)["__init__"] for klass in cls.__mro__ if "__init__" in vars(klass))
        hints = typing.get_type_hints(init)
        _OPTION_TYPES[cls] = {key: kind for key, kind in hints.items() if key != "return"}
    return _OPTION_TYPES[cls]
