"""Which path the overlap and focal losses take, and their Triton kernels under the interpreter.

The kernels themselves are checked by `tests/kernel_checks.py`, run here in a child pytest with
`TRITON_INTERPRET=1` set before anything imports Triton (see that module's docstring). Without
Triton installed those checks are skipped, visibly; the package never needs it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive._kernels import kernel_mode, triton_available, use_kernels
from deeplossdive._validation import check_class_indices
from deeplossdive.functional import (
    dice_loss,
    focal_loss,
    sigmoid_dice_loss,
    sigmoid_focal_loss,
)
from deeplossdive.losses._overlap import _softmax_statistics_torch, _SoftmaxCountsByMask
from tests.syncs import NoSync

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


# --- the PyTorch path for GPUs without Triton, checked on the CPU ---------------------------------


@pytest.mark.parametrize(
    ("ignore_index", "checks"),
    [(-100, True), (-100, False), (1, False), (255, False)],
    ids=["verified", "masked", "ignore-a-class", "ignore-255"],
)
def test_mask_formulation_equals_scatter_formulation(ignore_index: int, checks: bool) -> None:
    """`by_mask=True` (CUDA without Triton) gives the CPU's scatter results, without a sync."""
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.float64)
    target = torch.randint(4, (2, 5, 6), generator=gen)
    if not checks:
        target[0, 0, :4] = torch.tensor([ignore_index, 7, -3, ignore_index])
        logits[0, :, 0, 0] = float("nan")  # an ignored pixel may hold anything
    results = []
    for by_mask in (True, False):
        x = logits.clone().requires_grad_()
        with value_checks(checks):
            every = check_class_indices("f", target, 4, ignore_index)
        with NoSync() if by_mask else contextlib.nullcontext():
            stats = _softmax_statistics_torch(x, target, 4, ignore_index, every, by_mask=by_mask)
        weights = torch.rand(3, 2, 4, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
        total = sum((s * w).sum() for s, w in zip(stats[:3], weights, strict=True))
        (grad,) = torch.autograd.grad(total, x)
        results.append((stats, grad))
    (mask_stats, mask_grad), (scatter_stats, scatter_grad) = results
    for got, expected in zip(mask_stats, scatter_stats, strict=True):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(mask_grad, scatter_grad)
    assert torch.isfinite(mask_grad).all()


def test_mask_formulation_passes_gradcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(4, (2, 1, 7), generator=gen)  # label 3: no class
    ignored = labels == 2
    one_hot = (labels == torch.arange(3).view(1, 3, 1)).to(torch.float64)

    def counts(x: Tensor) -> tuple[Tensor, Tensor]:
        out: tuple[Tensor, Tensor] = _SoftmaxCountsByMask.apply(x, one_hot, ignored)  # type: ignore[no-untyped-call]
        return out

    assert torch.autograd.gradcheck(counts, (logits,))
