"""On a CUDA GPU: the Triton kernels of the overlap and focal losses against the PyTorch path and
against torch's built-ins.

Not a test (it needs a GPU and measures): for each case it

1. checks the kernel path (`kernel_mode("always")`) against the PyTorch path
   (`kernel_mode("never")`): the value and the gradient, as the largest relative difference;
2. runs the kernel path's forward and backward under `torch.cuda.set_sync_debug_mode("error")`
   (any host sync raises);
3. times forward+backward with CUDA events, interleaved with the reference built-in
   (`F.cross_entropy` for the softmax losses, `F.binary_cross_entropy_with_logits` for the
   sigmoid ones) on the same tensors, and prints the median per-round ratio, with the PyTorch
   path's ratio beside it and the target of issue #13.

Value checks are off (`value_checks(False)`), as they are by default on CUDA. Usage, from the
repository root (about 15 s on an H200, most of it compiling the kernels once):

    python benchmarks/overlap_kernels_cuda.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deeplossdive import functional as D
from deeplossdive import value_checks
from deeplossdive._kernels import kernel_mode, triton_available

Loss = Callable[[Tensor, Tensor], Tensor]


@dataclass
class Case:
    name: str
    logits: Tensor
    target: Tensor
    loss: Loss
    reference: Loss
    reference_name: str
    target_ratio: float | None


def timed_ms(fn: Callable[[], None], iterations: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iterations):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iterations


def forward_backward(loss: Loss, logits: Tensor, target: Tensor) -> Callable[[], None]:
    x = logits.detach().requires_grad_()

    def run() -> None:
        x.grad = None
        loss(x, target).backward()

    return run


def value_and_grad(loss: Loss, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    x = logits.detach().requires_grad_()
    value = loss(x, target)
    (grad,) = torch.autograd.grad(value.float().sum(), x)
    return value.detach().float(), grad.float()


def relative(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def cases() -> list[Case]:
    gen = torch.Generator(device="cuda").manual_seed(0)
    cuda = torch.device("cuda")

    def randn(*shape: int, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.randn(shape, generator=gen, device=cuda).to(dtype)

    def labels(classes: int, *shape: int) -> Tensor:
        return torch.randint(classes, shape, generator=gen, device=cuda)

    ce = lambda x, y: F.cross_entropy(x, y)  # noqa: E731
    bce = lambda x, t: F.binary_cross_entropy_with_logits(x, t)  # noqa: E731
    seg2d, y2d = randn(16, 4, 512, 512), labels(4, 16, 512, 512)
    seg3d, y3d = randn(2, 4, 128, 128, 128), labels(4, 2, 128, 128, 128)
    ignored = torch.where(torch.rand(y2d.shape, generator=gen, device=cuda) < 0.1, -100, y2d)
    rows, y_rows = 2 * randn(8192, 1000), labels(1000, 8192)
    multi = 2 * randn(262144, 80)
    multi_t = (torch.rand(262144, 80, generator=gen, device=cuda) < 0.05).float()
    masks = randn(16, 3, 512, 512)
    masks_t = (torch.rand(16, 3, 512, 512, generator=gen, device=cuda) < 0.3).float()
    out = []
    for name, loss in (
        ("dice", D.dice_loss),
        ("jaccard", D.jaccard_loss),
        ("tversky", D.tversky_loss),
    ):
        out.append(Case(f"{name} (16, 4, 512, 512)", seg2d, y2d, loss, ce, "F.cross_entropy", 1.5))
        out.append(
            Case(f"{name} (2, 4, 128, 128, 128)", seg3d, y3d, loss, ce, "F.cross_entropy", 1.5)
        )
    out += [
        Case(
            "dice (16, 4, 512, 512), 10% ignored, no background",
            seg2d,
            ignored,
            lambda x, y: D.dice_loss(x, y, include_background=False),
            ce,
            "F.cross_entropy",
            None,
        ),
        Case(
            "dice (16, 4, 512, 512) bfloat16",
            seg2d.bfloat16(),
            y2d,
            D.dice_loss,
            ce,
            "F.cross_entropy",
            None,
        ),
        Case("focal_loss (8192, 1000)", rows, y_rows, D.focal_loss, ce, "F.cross_entropy", 1.5),
        Case(
            "focal_loss (8192, 1000) bfloat16",
            rows.bfloat16(),
            y_rows,
            D.focal_loss,
            ce,
            "F.cross_entropy",
            None,
        ),
        Case(
            "sigmoid_focal_loss (262144, 80)",
            multi,
            multi_t,
            D.sigmoid_focal_loss,
            bce,
            "F.binary_cross_entropy_with_logits",
            1.5,
        ),
        Case(
            "sigmoid_dice_loss (16, 3, 512, 512)",
            masks,
            masks_t,
            D.sigmoid_dice_loss,
            bce,
            "F.binary_cross_entropy_with_logits",
            1.5,
        ),
    ]
    return out


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 1
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", end="")
    if not triton_available():
        print("; triton is not importable: only the PyTorch path can run")
        return 1
    import triton

    print(f", triton {triton.__version__}")
    began = time.perf_counter()
    failures = 0
    rows = []
    with value_checks(False):
        for case in cases():
            with kernel_mode("always"):
                kernel_value, kernel_grad = value_and_grad(case.loss, case.logits, case.target)
            with kernel_mode("never"):
                torch_value, torch_grad = value_and_grad(case.loss, case.logits, case.target)
            low = case.logits.dtype == torch.bfloat16
            tolerance = 1e-2 if low else 1e-4
            value_error = relative(kernel_value, torch_value)
            grad_error = relative(kernel_grad, torch_grad)
            agree = value_error <= tolerance and grad_error <= tolerance
            sync = "no sync"
            try:
                torch.cuda.set_sync_debug_mode("error")
                with kernel_mode("always"):
                    forward_backward(case.loss, case.logits, case.target)()
            except RuntimeError as error:
                sync = f"SYNC: {str(error).splitlines()[0][:60]}"
            finally:
                torch.cuda.set_sync_debug_mode(0)
            reference = forward_backward(case.reference, case.logits, case.target)
            with kernel_mode("always"):
                ours = forward_backward(case.loss, case.logits, case.target)
                ours()
            with kernel_mode("never"):
                fallback = forward_backward(case.loss, case.logits, case.target)
                fallback()
            reference()
            ratios, fallback_ratios, reference_ms = [], [], []
            for _ in range(5):
                ref_ms = timed_ms(reference, 10)
                with kernel_mode("always"):
                    ours_ms = timed_ms(ours, 10)
                with kernel_mode("never"):
                    fallback_ms = timed_ms(fallback, 10)
                reference_ms.append(ref_ms)
                ratios.append(ours_ms / ref_ms)
                fallback_ratios.append(fallback_ms / ref_ms)
            ratio = statistics.median(ratios)
            met = (
                "" if case.target_ratio is None else ("yes" if ratio <= case.target_ratio else "NO")
            )
            failures += (not agree) + sync.startswith("SYNC") + (met == "NO")
            rows.append(
                (
                    case.name,
                    case.reference_name,
                    statistics.median(reference_ms),
                    ratio,
                    statistics.median(fallback_ratios),
                    "" if case.target_ratio is None else f"≤ {case.target_ratio}×: {met}",
                    f"value {value_error:.1e}, grad {grad_error:.1e}"
                    + ("" if agree else " MISMATCH"),
                    sync,
                )
            )
            print(f"  measured {case.name} ({time.perf_counter() - began:.0f} s)", flush=True)
    print()
    header = (
        f"{'case':52s} {'reference':34s} {'ref ms':>7s} {'kernel':>7s} {'torch':>7s}  "
        f"{'target':14s} {'kernel vs torch path (rel.)':32s} sync"
    )
    print(header)
    print("-" * len(header))
    for name, ref_name, ref_ms, ratio, fallback_ratio, target, errors, sync in rows:
        print(
            f"{name:52s} {ref_name:34s} {ref_ms:7.3f} {ratio:6.2f}× {fallback_ratio:6.2f}×  "
            f"{target:14s} {errors:32s} {sync}"
        )
    print(
        "\nkernel, torch: forward+backward time over the reference's (median of 5 rounds of 10);"
        f"\nwall time {time.perf_counter() - began:.0f} s; {failures} problem(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
