"""Fused Triton kernels for the overlap and focal losses, and the switch that selects them.

A loss takes its kernel path when `use_kernels` says so:
by default (`"auto"`) for CUDA tensors, when `import triton` works, outside `torch.compile`
(which fuses the PyTorch path itself). Everywhere else, the CPU always included, the PyTorch
path runs; Triton is never a dependency of the package. The private
`kernel_mode` forces either path for tests and
benchmarks: `"always"` runs the kernels on any tensor (on CPU tensors only under Triton's
interpreter, `TRITON_INTERPRET=1` set before the kernels are imported, which is how the test
suite checks them without a GPU), `"never"` the PyTorch path.

Nothing here imports Triton: the kernels (`_jit.py`) and their launchers (`overlap.py`,
`focal.py`) are imported on first use.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Final, Literal

import torch
from torch import Tensor

KernelMode = Literal["auto", "always", "never"]
KERNEL_MODES: Final[tuple[KernelMode, ...]] = ("auto", "always", "never")

_mode: KernelMode = "auto"

KERNEL_DTYPES: Final = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
"""Input dtypes the kernels read as they are (float64 is computed in float64, the rest in
float32 registers)."""


@cache
def triton_available() -> bool:
    """Whether `import triton` works (checked once; a broken install counts as absent)."""
    if importlib.util.find_spec("triton") is None:
        return False
    try:
        import triton  # noqa: F401
    except Exception:  # any failure to import means "no Triton here"
        return False
    return True


@contextmanager
def kernel_mode(mode: KernelMode) -> Iterator[None]:
    """Force the kernel path (`"always"`), the PyTorch path (`"never"`), or restore `"auto"`."""
    global _mode
    if mode not in KERNEL_MODES:
        raise ValueError(f"kernel_mode: mode must be one of {KERNEL_MODES}, got {mode!r}")
    previous = _mode
    _mode = mode
    try:
        yield
    finally:
        _mode = previous


def use_kernels(*tensors: Tensor) -> bool:
    """Whether a loss given `tensors` takes its Triton kernel path.

    `"auto"`: every tensor is on a CUDA device, Triton imports, and no `torch.compile` is
    tracing. `"always"`: whatever the device (raises if Triton is missing, so that a test
    forcing the kernels cannot silently test the PyTorch path). `"never"`: no.
    """
    if _mode == "never" or torch.compiler.is_compiling():
        return False
    if _mode == "always":
        if not triton_available():
            raise RuntimeError("kernel_mode('always'): triton is not importable")
        return True
    return all(tensor.is_cuda for tensor in tensors) and triton_available()
