"""The one place that validates inputs.

Every message reads `"<function>: <argument> must …, got …"`. Shape and dtype checks are always on
and cost nothing on the device. Checks of tensor *values* (a label outside its range) read the data
on the host, which makes the host wait for the device (a sync), so one switch,
[`set_value_checks`][deeplossdive.set_value_checks], decides where they run: by default
(`"auto"`) on CPU tensors only, where reading the data costs no sync; `True` on every device;
`False` nowhere. They are skipped while `torch.compile` traces (a data-dependent branch would
break the graph).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, NamedTuple, TypeVar

import torch
from torch import Tensor

T = TypeVar("T")

ValueChecks = bool | Literal["auto"]
"""The setting of the value checks: `"auto"` (CPU tensors only, the default), `True`, `False`."""

_value_checks: ValueChecks = "auto"
# The device types whose tensors are value-checked in "auto" mode. Tests empty it to run CPU tensors
# the way CUDA tensors run by default (`_as_on_an_accelerator`).
_auto_device_types: frozenset[str] = frozenset({"cpu"})


def set_value_checks(enabled: ValueChecks) -> None:
    """Choose where the checks of tensor values (label ranges, target domains) run, globally.

    - `"auto"`, the default: on CPU tensors, off on every other device. On the CPU a check reads
      the data where it lies; on a GPU it would copy its verdict back to the host and make the
      host wait for the device at every call, stalling the training step's pipeline.
    - `True`: on every device. On a GPU each check then synchronises the host with the device:
      for debugging a data pipeline, not for a tuned training loop.
    - `False`: off everywhere, the CPU included.

    Each check costs one pass over the checked tensor. Shape, dtype and hyperparameter checks stay
    on regardless, and value checks are always skipped inside `torch.compile`.
    """
    if isinstance(enabled, str):
        if enabled != "auto":
            raise ValueError(
                f"set_value_checks: enabled must be True, False or 'auto', got {enabled!r}"
            )
        setting: ValueChecks = "auto"
    else:
        setting = bool(enabled)
    global _value_checks
    _value_checks = setting


@contextmanager
def value_checks(enabled: ValueChecks) -> Iterator[None]:
    """Context manager form of [`set_value_checks`][deeplossdive.set_value_checks]: `True`,
    `False` or `"auto"` inside the `with` block, the previous setting after it."""
    previous = _value_checks
    set_value_checks(enabled)
    try:
        yield
    finally:
        set_value_checks(previous)


def value_checks_active(tensor: Tensor) -> bool:
    """Whether value checks run on `tensor` here: per the setting and its device, and never while
    `torch.compile` traces."""
    if torch.compiler.is_compiling():
        return False
    if _value_checks == "auto":
        return on_the_host(tensor)
    return _value_checks


def on_the_host(tensor: Tensor) -> bool:
    """Whether `tensor` takes the CPU's formulations (a loss may pick another one for a GPU);
    under `_as_on_an_accelerator`, no tensor does."""
    return tensor.device.type in _auto_device_types


@contextmanager
def _as_on_an_accelerator() -> Iterator[None]:
    """For tests: in `"auto"` mode, check no tensor's values, the CPU's included, as for CUDA,
    and run the formulations chosen for a GPU (`on_the_host` is False).

    A test can then run a loss on CPU tensors exactly as it runs on a GPU by default, and prove
    that it never synchronises (`tests/test_no_sync.py`), and the benchmark's census counts the
    operations a GPU runs.
    """
    global _auto_device_types
    previous = _auto_device_types
    _auto_device_types = frozenset()
    try:
        yield
    finally:
        _auto_device_types = previous


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


def check_class_target(function: str, name: str, scores: Tensor, target: Tensor) -> None:
    """`target` (N, *) of class indices for `scores` (N, C, *) named `name`."""
    expected = (scores.shape[0], *scores.shape[2:])
    if _shape(target) != expected:
        raise ValueError(
            f"{function}: target must have shape {expected} ({name}' shape without the class "
            f"dimension 1), got {_shape(target)}"
        )


def check_class_scores(function: str, name: str, scores: Tensor, target: Tensor) -> int:
    """Floating-point `scores` (N, C, ...) named `name`, C >= 2, against an integer `target`
    (N, ...) of class indices; returns C."""
    check_floating(function, name, scores)
    check_integer(function, "target", target)
    check_min_ndim(function, name, scores, 2, "(N, C, ...)")
    check_class_target(function, name, scores, target)
    return check_num_classes(function, name, scores)


def check_signed_target(function: str, name: str, scores: Tensor, target: Tensor) -> None:
    r"""Floating-point `scores` named `name` and a `target` of their shape, floating point or a
    signed integer (labels $\pm 1$, whose values `check_plus_minus_one` checks)."""
    check_floating(function, name, scores)
    check_signed_labels(function, "target", target)
    check_same_shape(function, "target", target, name, scores)


def check_embeddings(function: str, **embeddings: Tensor) -> None:
    """Floating-point (N, D) embeddings, all of the first one's shape and dtype."""
    for name, tensor in embeddings.items():
        check_floating(function, name, tensor)
    (ref_name, ref), *others = embeddings.items()
    check_ndim(function, ref_name, ref, 2, "(N, D)")
    for name, tensor in others:
        check_same_shape(function, name, tensor, ref_name, ref)
    for name, tensor in others:
        check_same_dtype(function, name, tensor, ref_name, ref)


def check_class_weight(function: str, name: str, weight: Tensor, num_classes: int) -> None:
    check_floating(function, name, weight)
    if _shape(weight) != (num_classes,):
        raise ValueError(
            f"{function}: {name} must be a 1-D tensor with one weight per class, shape "
            f"({num_classes},), got {_shape(weight)}"
        )


def check_class_indices(
    function: str,
    target: Tensor,
    num_classes: int,
    ignore_index: int | None,
    *,
    name: str = "target",
) -> bool:
    """Value check: every label is in [0, C) or equals `ignore_index`.

    The common case, no label outside [0, C), takes one pass that allocates nothing of the
    target's size (`torch.aminmax`); ignored or bad labels take the elementwise path. Returns
    True when it verified that every label is in [0, C) and none can be `ignore_index`, so that
    a caller may skip its masks of ignored and out-of-range labels; False when value checks are
    off, some label is ignored, or `ignore_index` is itself a class in [0, C).
    """
    if not value_checks_active(target):
        return False
    if target.numel() == 0:
        return True
    low, high = torch.aminmax(target.detach())
    if bool((low >= 0) & (high < num_classes)):
        return ignore_index is None or not 0 <= ignore_index < num_classes
    bad = (target < 0) | (target >= num_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bool(bad.any()):
        value = int(target[bad][0])
        allowed = f"in [0, {num_classes})"
        if ignore_index is not None:
            allowed += f" or equal to ignore_index={ignore_index}"
        raise ValueError(f"{function}: {name} must hold class indices {allowed}, got {value}")
    return False


def check_in_unit_interval(function: str, name: str, tensor: Tensor) -> None:
    """Value check: every element is in [0, 1].

    `torch.aminmax` reads the tensor once and allocates nothing of its size (NaN propagates to
    both bounds and fails); only a failing tensor takes the slow path that finds the first
    offending value for the message.
    """
    if not value_checks_active(tensor) or tensor.numel() == 0:
        return
    tensor = tensor.detach()
    low, high = torch.aminmax(tensor)
    if bool((low >= 0) & (high <= 1)):
        return
    bad = ~((tensor >= 0) & (tensor <= 1))
    if bool(bad.any()):
        value = float(tensor[bad][0])
        raise ValueError(f"{function}: {name} must hold values in [0, 1], got {value}")


def _check_label_dtype(
    function: str, name: str, value: object, allowed: Callable[[Tensor], bool], kinds: str
) -> Tensor:
    """Dtype check for a tensor of labels: `allowed(tensor)`, else a TypeError naming `kinds`."""
    tensor = check_tensor(function, name, value)
    if not allowed(tensor):
        raise TypeError(f"{function}: {name} must be a {kinds}, got dtype {tensor.dtype}")
    return tensor


def _check_label_values(
    function: str, name: str, tensor: Tensor, labels: tuple[int, int], text: str
) -> None:
    """Value check: every element is one of the two `labels`, written `text` in the message."""
    if not value_checks_active(tensor) or tensor.numel() == 0:
        return
    tensor = tensor.detach()
    bad = (tensor != labels[0]) & (tensor != labels[1])
    if bool(bad.any()):
        value = tensor[bad][0].item()
        raise ValueError(f"{function}: {name} must hold labels {text}, got {value}")


def check_signed_labels(function: str, name: str, value: object) -> Tensor:
    """Dtype check for labels in {-1, +1}: a floating-point or signed integer tensor."""
    return _check_label_dtype(
        function,
        name,
        value,
        lambda t: not t.is_complex() and (t.is_floating_point() or t.dtype.is_signed),
        "floating-point or signed integer tensor of labels -1 or +1",
    )


def check_plus_minus_one(function: str, name: str, tensor: Tensor) -> None:
    """Value check: every element is -1 or +1."""
    _check_label_values(function, name, tensor, (-1, 1), "-1 or +1")


def check_probability_values(function: str, name: str, tensor: Tensor) -> None:
    """Value check: every element is finite and >= 0 (a probability, not necessarily normalised)."""
    if not value_checks_active(tensor) or tensor.numel() == 0:
        return
    bad = ~((tensor >= 0) & torch.isfinite(tensor))
    if bool(bad.any()):
        value = float(tensor[bad][0])
        raise ValueError(f"{function}: {name} must hold finite values >= 0, got {value}")


def check_log_probability_values(function: str, name: str, tensor: Tensor) -> None:
    """Value check: every element is the log of a finite value >= 0: below +inf, not NaN."""
    if not value_checks_active(tensor) or tensor.numel() == 0:
        return
    bad = ~(tensor < float("inf"))
    if bool(bad.any()):
        value = float(tensor[bad][0])
        raise ValueError(
            f"{function}: {name} must hold log-probabilities (values below inf, -inf allowed), "
            f"got {value}"
        )


def check_broadcasts_to(
    function: str, name: str, tensor: Tensor, ref_name: str, ref: Tensor
) -> None:
    """`tensor` broadcasts to `ref`'s shape without enlarging it (trailing dimensions aligned).

    For a `ref` of shape (N, C) this accepts (N, C), (C,), (N, 1), (1, C) and (); for
    (N, C, H, W) it also accepts (C, 1, 1). The caller expands the tensor explicitly.
    """
    fits = tensor.dim() <= ref.dim() and all(
        size in (1, ref_size)
        for size, ref_size in zip(reversed(tensor.shape), reversed(ref.shape), strict=False)
    )
    if not fits:
        raise ValueError(
            f"{function}: {name} must have a shape that broadcasts to the shape of {ref_name} "
            f"{_shape(ref)} without enlarging it, got {_shape(tensor)}"
        )


def check_num_classes(function: str, name: str, tensor: Tensor, hint: str = "") -> int:
    """`tensor` (N, C, ...) has C >= 2 classes; returns C. `hint` is appended to the message."""
    num_classes = tensor.shape[1]
    if num_classes < 2:
        raise ValueError(
            f"{function}: {name} must have at least 2 classes in dimension 1, got {num_classes}"
            + (f" ({hint})" if hint else "")
        )
    return int(num_classes)


def check_class_or_probability_target(
    function: str, name: str, logits: Tensor, target: Tensor
) -> bool:
    """`target` holds class indices (integer, `logits`' shape without dim 1) or probabilities
    (floating point, `logits`' shape). Returns whether it holds probabilities."""
    check_tensor(function, "target", target)
    class_shape = (logits.shape[0], *logits.shape[2:])
    if target.is_floating_point():
        if _shape(target) == class_shape:
            raise TypeError(
                f"{function}: target of shape {class_shape} must be an integer tensor of class "
                f"indices (torch.int64), got dtype {target.dtype} (a floating-point target holds "
                f"class probabilities and must have the shape of {name} {_shape(logits)})"
            )
        if target.shape != logits.shape:
            raise ValueError(
                f"{function}: target must have the shape of {name} {_shape(logits)} (class "
                f"probabilities) or {class_shape} (class indices), got {_shape(target)}"
            )
        return True
    check_integer(function, "target", target)
    if target.shape == logits.shape:
        raise ValueError(
            f"{function}: target must have shape {class_shape} ({name}' shape without the class "
            f"dimension 1), got {_shape(target)}; an integer target of the shape of {name} looks "
            f"one-hot: pass target.argmax(1) (class indices) or target.float() (probabilities)"
        )
    check_class_target(function, "logits", logits, target)
    return False


def check_probability_rows(function: str, name: str, tensor: Tensor, dim: int = 1) -> None:
    """Value check: every element is in [0, 1] and the sums over `dim` are 1.

    The sums may be off by 0.01: a distribution rounded to bfloat16 (and then perhaps cast back to
    float32) is off by up to 2^-9; a multi-hot or unnormalised row is off by far more.
    """
    if not value_checks_active(tensor) or tensor.numel() == 0:
        return
    check_in_unit_interval(function, name, tensor)
    wide = torch.float64 if tensor.dtype == torch.float64 else torch.float32
    sums = tensor.detach().sum(dim=dim, dtype=wide)
    bad = ~((sums - 1).abs() <= 0.01)
    if bool(bad.any()):
        value = float(sums[bad][0])
        raise ValueError(
            f"{function}: {name} must hold probabilities that sum to 1 over dimension {dim}, got "
            f"a sum of {value} (a multi-hot target is multi-label: use "
            f"binary_cross_entropy_with_logits)"
        )


def check_non_positive_log_probabilities(function: str, name: str, tensor: Tensor) -> None:
    """Value check: no element is > 0, as no log-probability is (NaN and -inf pass)."""
    if not value_checks_active(tensor) or tensor.numel() == 0:
        return
    bad = tensor > 0
    if bool(bad.any()):
        value = float(tensor.detach()[bad][0])
        raise ValueError(
            f"{function}: {name} must hold log-probabilities (values <= 0), got {value}; "
            f"pass log_softmax(logits), not softmax(logits) or raw logits"
        )


def check_ndim(function: str, name: str, tensor: Tensor, ndim: int, layout: str) -> None:
    """`tensor` has exactly `ndim` dimensions, laid out as `layout` (e.g. "(N, D)")."""
    if tensor.dim() != ndim:
        raise ValueError(
            f"{function}: {name} must have {ndim} dimensions {layout}, got shape {_shape(tensor)}"
        )


def check_shape(
    function: str, name: str, tensor: Tensor, expected: tuple[int, ...], meaning: str
) -> None:
    """`tensor` has exactly the shape `expected`; `meaning` says why (e.g. "one label per row")."""
    if _shape(tensor) != expected:
        raise ValueError(
            f"{function}: {name} must have shape {expected} ({meaning}), got {_shape(tensor)}"
        )


def check_same_dtype(function: str, name: str, tensor: Tensor, ref_name: str, ref: Tensor) -> None:
    """`tensor` has the dtype of `ref` (no silent type promotion between inputs)."""
    if tensor.dtype != ref.dtype:
        raise TypeError(
            f"{function}: {name} must have the dtype of {ref_name} ({ref.dtype}), "
            f"got dtype {tensor.dtype}"
        )


def check_zero_one_labels_dtype(function: str, name: str, value: object) -> Tensor:
    """Dtype check for labels in {0, 1}: a boolean, integer or floating-point tensor."""
    return _check_label_dtype(
        function,
        name,
        value,
        lambda t: not t.is_complex(),
        "boolean, integer or floating-point tensor of labels 0 or 1",
    )


def check_zero_one_labels(function: str, name: str, tensor: Tensor) -> None:
    """Value check: every element is 0 or 1."""
    _check_label_values(function, name, tensor, (0, 1), "0 or 1")


class Interval(NamedTuple):
    """The real values a hyperparameter may take, from `low` to `high`.

    Each end is closed unless `low_open` / `high_open`; an infinite end that is closed admits
    infinity. NaN is never in an interval.
    """

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """What a message says: ">= 0", "a finite number > 0", "in [0, 1]", "in (0, 1)", ..."""
        above = f"{'>' if self.low_open else '>='} {self.low}"
        if self.high == math.inf:
            return f"a finite number {above}" if self.high_open else above
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low}, {self.high}{right}"


NON_NEGATIVE = Interval(0)
NON_NEGATIVE_FINITE = Interval(0, high_open=True)
POSITIVE_FINITE = Interval(0, low_open=True, high_open=True)
UNIT = Interval(0, 1)
OPEN_UNIT = Interval(0, 1, low_open=True, high_open=True)


def check_interval(function: str, name: str, value: float, interval: Interval) -> float:
    """A real hyperparameter (not a bool) in `interval`; returns it as a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{function}: {name} must be a real number, got {type(value).__name__}")
    low, high, low_open, high_open = interval
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):  # also rejects NaN
        raise ValueError(f"{function}: {name} must be {interval.describe()}, got {value}")
    return float(value)


def check_distributed_reduction(function: str, reduction: str, distributed: bool) -> None:
    """With `distributed=True`, only the reductions that combine every rank's entries."""
    if distributed and reduction not in ("mean", "sum"):
        raise ValueError(
            f"{function}: reduction must be 'mean' or 'sum' with distributed=True, "
            f"got {reduction!r}"
        )


def check_padded_class_indices(function: str, name: str, target: Tensor, num_classes: int) -> None:
    """Value check: every element is a class index in [0, C) or -1 (the padding after a list)."""
    if not value_checks_active(target) or target.numel() == 0:
        return
    target = target.detach()
    bad = (target < -1) | (target >= num_classes)
    if bool(bad.any()):
        value = int(target[bad][0])
        raise ValueError(
            f"{function}: {name} must hold class indices in [0, {num_classes}) or -1 (padding), "
            f"got {value}"
        )


def check_boxes(function: str, name: str, boxes: Tensor) -> None:
    """Value check: boxes (..., 4) as (x1, y1, x2, y2), finite, with x1 <= x2 and y1 <= y2."""
    if not value_checks_active(boxes) or boxes.numel() == 0:
        return
    boxes = boxes.detach()
    x1, y1, x2, y2 = boxes.unbind(dim=-1)
    bad = ~(torch.isfinite(boxes).all(dim=-1) & (x1 <= x2) & (y1 <= y2))
    if bool(bad.any()):
        value = [float(v) for v in boxes[bad][0].tolist()]
        raise ValueError(
            f"{function}: {name} must hold finite boxes (x1, y1, x2, y2) with x1 <= x2 and "
            f"y1 <= y2, got {value}"
        )


def check_lengths(function: str, name: str, lengths: Tensor, high: int, meaning: str) -> None:
    """Value check: every length is in [0, high]; `meaning` names the bound (e.g. "T = 6")."""
    if not value_checks_active(lengths) or lengths.numel() == 0:
        return
    lengths = lengths.detach()
    bad = (lengths < 0) | (lengths > high)
    if bool(bad.any()):
        value = int(lengths[bad][0])
        raise ValueError(f"{function}: {name} must be in [0, {meaning}], got {value}")


def check_ctc_targets(
    function: str, targets: Tensor, target_lengths: Tensor, num_classes: int, blank: int
) -> None:
    """Value check: the labels that the lengths cover are classes in [0, C) other than `blank`;
    concatenated (1-D) targets hold exactly sum(target_lengths) labels."""
    if not (value_checks_active(targets) and value_checks_active(target_lengths)):
        return
    targets, target_lengths = targets.detach(), target_lengths.detach()
    if targets.dim() == 1:
        total = int(target_lengths.sum())
        if total != targets.numel():
            raise ValueError(
                f"{function}: targets (1-D, concatenated) must hold sum(target_lengths) = {total} "
                f"labels, got {targets.numel()}"
            )
        used = targets
    else:
        positions = torch.arange(targets.shape[1], device=targets.device)
        covered = positions < target_lengths.to(targets.device).unsqueeze(1)
        used = targets[covered]
    bad = (used < 0) | (used >= num_classes) | (used == blank)
    if bool(bad.any()):
        value = int(used[bad][0])
        raise ValueError(
            f"{function}: targets must hold class indices in [0, {num_classes}) other than "
            f"blank={blank}, got {value}"
        )
