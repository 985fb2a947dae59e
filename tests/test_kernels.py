"""Which path the overlap and focal losses take, and their Triton kernels under the interpreter.

The kernels themselves are checked by `tests/kernel_checks.py`, run here in a child pytest with
`TRITON_INTERPRET=1` set before anything imports Triton (see that module's docstring). Without
Triton installed those checks are skipped, visibly; the package never needs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deeplossdive._kernels import kernel_mode, triton_available, use_kernels
from deeplossdive.functional import (
    dice_loss,
    focal_loss,
    sigmoid_dice_loss,
    sigmoid_focal_loss,
)

ROOT = Path(__file__).resolve().parent.parent

needs_triton = pytest.mark.skipif(not triton_available(), reason="triton is not installed")


def test_cpu_tensors_never_take_the_kernel_path() -> None:
    cpu = torch.zeros(2, 3)
    assert not use_kernels(cpu, cpu)
    with kernel_mode("never"):
        assert not use_kernels(cpu)
    with pytest.raises(ValueError, match="kernel_mode: mode must be one of"), kernel_mode("gpu"):  # type: ignore[arg-type]
        pass


@needs_triton
def test_forced_kernel_mode_selects_the_kernels() -> None:
    with kernel_mode("always"):
        assert use_kernels(torch.zeros(2, 3))


@needs_triton
def test_cpu_tensors_take_the_pytorch_path_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import deeplossdive._kernels.focal as focal_kernels
    import deeplossdive._kernels.overlap as overlap_kernels

    def refuse(*args: object) -> None:
        raise AssertionError("the kernel path ran on CPU tensors in 'auto' mode")

    for module, name in (
        (overlap_kernels, "softmax_overlap_counts"),
        (overlap_kernels, "sigmoid_overlap_counts"),
        (focal_kernels, "softmax_focal"),
        (focal_kernels, "sigmoid_focal"),
    ):
        monkeypatch.setattr(module, name, refuse)
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randint(3, (2, 4, 4))
    truth = torch.randint(2, (2, 3, 4, 4)).float()
    for loss in (
        dice_loss(logits, target),
        focal_loss(logits, target),
        sigmoid_dice_loss(logits, truth),
        sigmoid_focal_loss(logits, truth),
    ):
        torch.autograd.grad(loss, logits)


@needs_triton
def test_kernels_under_the_interpreter() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "tests" / "kernel_checks.py"),
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
    ]
    child = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stdout[-6000:] + child.stderr[-2000:]
    assert " passed" in child.stdout
    assert "skipped" not in child.stdout
