"""The one place that validates inputs.

Every message reads `"<function>: <argument> must …, got …"`. Shape and dtype checks are always on
and cost nothing on the device. Checks of tensor *values* (a label outside its range) need a
device-to-host sync, so they sit behind one switch,
[`set_value_checks`][deeplossdive.set_value_checks], and are skipped while `torch.compile`
traces (a data-dependent branch would break the graph).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import Tensor

T = TypeVar("T")

_value_checks_enabled = True


def set_value_checks(enabled: bool) -> None:
    """Turn the checks of tensor values (label ranges, target domains) on or off, globally.

    They are on by default. Each costs one pass over the target and one device-to-host sync;
    turn them off in a tuned training loop once the data pipeline is trusted. Shape, dtype and
    hyperparameter checks stay on regardless, and value checks are always skipped inside
    `torch.compile`.
    """
    global _value_checks_enabled
    _value_checks_enabled = bool(enabled)


@contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Context manager form of [`set_value_checks`][deeplossdive.set_value_checks]."""
    previous = _value_checks_enabled
    set_value_checks(enabled)
    try:
        yield
    finally:
        set_value_checks(previous)


def value_checks_active() -> bool:
    """Whether value checks run here: enabled, and not while `torch.compile` traces."""
    return _value_checks_enabled and not torch.compiler.is_compiling()


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_choice(function: str, name: str, value: object, choices: Sequence[T]) -> T:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{function}: {name} must be one of {options}, got {value!r}")
    return value  # type: ignore[return-value]


def check_tensor(function: str, name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{function}: {name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(function: str, name: str, value: object) -> Tensor:
    tensor = check_tensor(function, name, value)
    if not tensor.is_floating_point():
        raise TypeError(
            f"{function}: {name} must be a floating-point tensor, got dtype {tensor.dtype}"
        )
    return tensor


def check_integer(function: str, name: str, value: object) -> Tensor:
    tensor = check_tensor(function, name, value)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(
            f"{function}: {name} must be an integer tensor of class indices (torch.int64), "
            f"got dtype {tensor.dtype}"
        )
    return tensor


def check_min_ndim(function: str, name: str, tensor: Tensor, ndim: int, layout: str) -> None:
    if tensor.dim() < ndim:
        raise ValueError(
            f"{function}: {name} must have at least {ndim} dimensions {layout}, "
            f"got shape {_shape(tensor)}"
        )


def check_same_shape(function: str, name: str, tensor: Tensor, ref_name: str, ref: Tensor) -> None:
    if tensor.shape != ref.shape:
        raise ValueError(
            f"{function}: {name} must have the shape of {ref_name} {_shape(ref)}, "
            f"got {_shape(tensor)}"
        )


def check_class_target(function: str, logits: Tensor, target: Tensor) -> None:
    """`target` (N, *) of class indices for `logits` (N, C, *)."""
    expected = (logits.shape[0], *logits.shape[2:])
    if _shape(target) != expected:
        raise ValueError(
            f"{function}: target must have shape {expected} (logits' shape without the class "
            f"dimension 1), got {_shape(target)}"
        )


def check_class_weight(function: str, name: str, weight: Tensor, num_classes: int) -> None:
    check_floating(function, name, weight)
    if _shape(weight) != (num_classes,):
        raise ValueError(
            f"{function}: {name} must be a 1-D tensor with one weight per class, shape "
            f"({num_classes},), got {_shape(weight)}"
        )


def check_non_negative(function: str, name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{function}: {name} must be a real number, got {type(value).__name__}")
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{function}: {name} must be >= 0, got {value}")
    return float(value)


def check_unit_interval(function: str, name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{function}: {name} must be a real number, got {type(value).__name__}")
    if not 0 <= value <= 1:
        raise ValueError(f"{function}: {name} must be in [0, 1], got {value}")
    return float(value)


def check_class_indices(
    function: str, target: Tensor, num_classes: int, ignore_index: int | None
) -> None:
    """Value check: every label is in [0, C) or equals `ignore_index`."""
    if not value_checks_active() or target.numel() == 0:
        return
    bad = (target < 0) | (target >= num_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bool(bad.any()):
        value = int(target[bad][0])
        allowed = f"in [0, {num_classes})"
        if ignore_index is not None:
            allowed += f" or equal to ignore_index={ignore_index}"
        raise ValueError(f"{function}: target must hold class indices {allowed}, got {value}")


def check_in_unit_interval(function: str, name: str, tensor: Tensor) -> None:
    """Value check: every element is in [0, 1]."""
    if not value_checks_active() or tensor.numel() == 0:
        return
    bad = ~((tensor >= 0) & (tensor <= 1))
    if bool(bad.any()):
        value = float(tensor[bad][0])
        raise ValueError(f"{function}: {name} must hold values in [0, 1], got {value}")
