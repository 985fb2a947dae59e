"""Speed and memory of deeplossdive's losses against torch's built-ins and other libraries.

Not a test: it measures. For every case below it times the forward pass and the forward+backward
pass of each implementation with `torch.utils.benchmark` (the median of `blocked_autorange`),
measures the peak extra memory of forward+backward, and reports each as a ratio to the torch
built-in measured on the same tensors in the same run. Ratios are taken round by round (the
reference and every implementation are timed one after the other, `--rounds` times) and the
median ratio is reported, so that a machine shared with other work skews both sides alike.

Peak extra memory, on the CPU, comes from the profiler's allocator events
(`torch.profiler.profile(profile_memory=True)`): every allocation and free of a tensor on the
CPU carries the running total of allocated bytes; the peak of that total during one
forward+backward, minus its value before the call, is the memory the call needed on top of its
inputs, the gradients it leaves behind included. On CUDA it is
`torch.cuda.max_memory_allocated()` minus the memory allocated before the call.

Usage (from the repository root):

    python benchmarks/run.py            # the full run: writes docs/performance/results-cpu.json
    python benchmarks/run.py --quick    # a smoke run: short timings, no torch.compile, no files

The full run takes about 5 minutes on 2 CPU cores; `torch.compile` warms up once per case.
The Performance page shows the JSON file of each device (its tables and chart are drawn from it
when the site is built: docs/hooks/performance.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils import benchmark

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import deeplossdive  # noqa: E402
from deeplossdive import functional as D  # noqa: E402

Inputs = tuple[Tensor, ...]
LossFn = Callable[..., Tensor]


# ---------------------------------------------------------------------------------------------
# Reference formulas that no installable package provides here
# ---------------------------------------------------------------------------------------------


def torchvision_sigmoid_focal_loss(
    inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2
) -> Tensor:
    """Line for line `torchvision/ops/focal_loss.py::sigmoid_focal_loss`, reduction="mean".

    https://github.com/pytorch/vision/blob/main/torchvision/ops/focal_loss.py (BSD-3-Clause);
    torchvision cannot be installed beside this torch, so its formula is reproduced literally.
    """
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss.mean()


def nt_xent_as_cross_entropy(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent as SimCLR implementations write it: cross-entropy over the similarity matrix."""
    n = z1.shape[0]
    units = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = units @ units.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z1.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z1.device)
    return F.cross_entropy(logits, positives)


def supcon_as_log_softmax(embeddings: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """SupCon (L_out) as its authors' code writes it: a masked log-softmax, mean over positives."""
    units = F.normalize(embeddings, dim=1)
    self_mask = torch.eye(units.shape[0], dtype=torch.bool, device=units.device)
    logits = (units @ units.T / temperature).masked_fill(self_mask, float("-inf"))
    log_probs = torch.log_softmax(logits, dim=1).masked_fill(self_mask, 0.0)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    count = positives.sum(1)
    per_anchor = -(log_probs * positives).sum(1) / count.clamp(min=1)
    return per_anchor.sum() / (count > 0).sum()


def distillation_torch_recipe(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """The distillation loss as the PyTorch tutorials write it, with F.kl_div."""
    return (
        F.kl_div(
            F.log_softmax(student / temperature, dim=1),
            F.softmax(teacher / temperature, dim=1),
            reduction="batchmean",
        )
        * temperature**2
    )


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Impl:
    name: str
    fn: LossFn
    kind: str = "library"  # "torch" (the reference), "ours", "compiled", "library"
    compile: bool = False


@dataclass
class Case:
    key: str
    title: str
    make: Callable[[torch.Generator], Inputs]
    # indices of the inputs that require a gradient
    differentiable: tuple[int, ...]
    reference: Impl
    impls: list[Impl]
    target: float | None = None
    target_text: str = ""
    notes: list[str] = field(default_factory=list)


def _classes(n: int, c: int) -> Callable[[torch.Generator], Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        return 2 * torch.randn(n, c, generator=gen), torch.randint(c, (n,), generator=gen)

    return make


def _multilabel(gen: torch.Generator) -> Inputs:
    logits = 2 * torch.randn(65536, 80, generator=gen)
    return logits, (torch.rand(65536, 80, generator=gen) < 0.05).float()


def _segmentation(gen: torch.Generator) -> Inputs:
    return torch.randn(8, 4, 256, 256, generator=gen), torch.randint(
        4, (8, 256, 256), generator=gen
    )


def _pairs(n: int) -> Callable[[torch.Generator], Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        return torch.randn(n, 128, generator=gen), torch.randn(n, 128, generator=gen)

    return make


def _labelled(gen: torch.Generator) -> Inputs:
    return torch.randn(1024, 128, generator=gen), torch.randint(32, (1024,), generator=gen)


def _distillation(gen: torch.Generator) -> Inputs:
    student = 2 * torch.randn(4096, 1000, generator=gen)
    teacher = 2 * torch.randn(4096, 1000, generator=gen)
    labels = torch.randint(1000, (4096,), generator=gen)
    return student, teacher, labels


def build_cases() -> list[Case]:
    import kornia.losses as kl
    import pytorch_metric_learning.losses as pml
    from monai.losses.dice import DiceLoss as MonaiDiceLoss
    from monai.losses.focal_loss import FocalLoss as MonaiFocalLoss

    def ours(name: str, fn: LossFn) -> list[Impl]:
        return [Impl(name, fn, "ours"), Impl(f"{name}, compiled", fn, "compiled", compile=True)]

    def against_cross_entropy(
        name: str, title: str, impls: list[Impl], target: float, target_text: str
    ) -> list[Case]:
        """One case per size of class logits, each timed against F.cross_entropy."""
        return [
            Case(
                key=f"{name}-{n}x{c}",
                title=f"{title}, logits ({n}, {c})",
                make=_classes(n, c),
                differentiable=(0,),
                reference=Impl("F.cross_entropy", lambda x, y: F.cross_entropy(x, y), "torch"),
                impls=impls,
                target=target,
                target_text=target_text,
            )
            for n, c in ((4096, 1000), (65536, 10))
        ]

    # torch's kernel plus named errors: "as fast as F.cross_entropy", within noise.
    cases = against_cross_entropy(
        "cross-entropy",
        "cross-entropy",
        ours("cross_entropy", lambda x, y: D.cross_entropy(x, y)),
        1.1,
        "within 1.1× of F.cross_entropy",
    )
    monai_softmax_focal = MonaiFocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0)
    cases += against_cross_entropy(
        "focal",
        "softmax focal",
        [
            *ours("focal_loss", lambda x, y: D.focal_loss(x, y, gamma=2.0)),
            Impl(
                "kornia focal_loss",
                lambda x, y: kl.focal_loss(x, y, None, gamma=2.0, reduction="mean"),
            ),
            Impl("MONAI FocalLoss(use_softmax)", lambda x, y: monai_softmax_focal(x, y[:, None])),
        ],
        1.2,
        "≤ 1.2× F.cross_entropy",
    )
    monai_sigmoid_focal = MonaiFocalLoss(gamma=2.0, alpha=0.25)
    cases.append(
        Case(
            key="sigmoid-focal-65536x80",
            title="sigmoid focal, multi-label (65536, 80)",
            make=_multilabel,
            differentiable=(0,),
            reference=Impl(
                "F.binary_cross_entropy_with_logits",
                lambda x, t: F.binary_cross_entropy_with_logits(x, t),
                "torch",
            ),
            impls=[
                *ours("sigmoid_focal_loss", lambda x, t: D.sigmoid_focal_loss(x, t)),
                Impl("torchvision formula", torchvision_sigmoid_focal_loss),
                Impl(
                    "torchvision formula, compiled",
                    torchvision_sigmoid_focal_loss,
                    "library",
                    compile=True,
                ),
                Impl(
                    "kornia binary_focal_loss_with_logits",
                    lambda x, t: kl.binary_focal_loss_with_logits(
                        x, t, alpha=0.25, gamma=2.0, reduction="mean"
                    ),
                ),
                Impl("MONAI FocalLoss", lambda x, t: monai_sigmoid_focal(x, t)),
            ],
            target=1.5,
            target_text="≤ 1.5× F.binary_cross_entropy_with_logits; memory ≤ ½ torchvision's",
        )
    )
    if hasattr(D, "dice_loss"):
        monai_dice = MonaiDiceLoss(softmax=True, to_onehot_y=True)
        cases.append(
            Case(
                key="dice-8x4x256x256",
                title="soft Dice, segmentation (8, 4, 256, 256)",
                make=_segmentation,
                differentiable=(0,),
                reference=Impl("F.cross_entropy", lambda x, y: F.cross_entropy(x, y), "torch"),
                impls=[
                    *ours("dice_loss", lambda x, y: D.dice_loss(x, y)),
                    Impl("MONAI DiceLoss(softmax)", lambda x, y: monai_dice(x, y[:, None])),
                    Impl("kornia dice_loss", lambda x, y: kl.dice_loss(x, y)),
                ],
                target=1.2,
                target_text="≤ 1.2× F.cross_entropy on the same logits",
            )
        )
    if hasattr(D, "nt_xent_loss"):
        pml_nt_xent = pml.NTXentLoss(temperature=0.5)

        def pml_pairs(z1: Tensor, z2: Tensor) -> Tensor:
            labels = torch.arange(z1.shape[0]).repeat(2)
            loss: Tensor = pml_nt_xent(torch.cat([z1, z2]), labels)
            return loss

        # pytorch-metric-learning's cost grows as N^3 (10 s per call at 2 x 256 here): it only
        # joins the small case.
        for n, with_pml in ((512, False), (128, True)):
            impls = [*ours("nt_xent_loss", lambda z1, z2: D.nt_xent_loss(z1, z2, temperature=0.5))]
            if with_pml:
                impls.append(Impl("pytorch-metric-learning NTXentLoss", pml_pairs))
            cases.append(
                Case(
                    key=f"nt-xent-2x{n}x128",
                    title=f"NT-Xent, embeddings 2 × ({n}, 128)",
                    make=_pairs(n),
                    differentiable=(0, 1),
                    reference=Impl(
                        "cross-entropy formulation",
                        lambda z1, z2: nt_xent_as_cross_entropy(z1, z2, 0.5),
                        "torch",
                    ),
                    impls=impls,
                    target=1.1,
                    target_text="within 1.1× of its cross-entropy formulation",
                )
            )
    if hasattr(D, "supervised_contrastive_loss"):
        pml_supcon = pml.SupConLoss(temperature=0.1)
        cases.append(
            Case(
                key="supcon-1024x128",
                title="SupCon, embeddings (1024, 128), 32 classes",
                make=_labelled,
                differentiable=(0,),
                reference=Impl(
                    "masked log-softmax formulation",
                    lambda e, y: supcon_as_log_softmax(e, y, 0.1),
                    "torch",
                ),
                impls=[
                    *ours(
                        "supervised_contrastive_loss",
                        lambda e, y: D.supervised_contrastive_loss(e, y, temperature=0.1),
                    ),
                    Impl("pytorch-metric-learning SupConLoss", lambda e, y: pml_supcon(e, y)),
                ],
            )
        )
    cases.append(
        Case(
            key="distillation-4096x1000",
            title="distillation, logits (4096, 1000), T = 4",
            make=_distillation,
            differentiable=(0,),
            reference=Impl(
                "F.cross_entropy (student)", lambda s, t, y: F.cross_entropy(s, y), "torch"
            ),
            impls=[
                *ours(
                    "distillation_loss",
                    lambda s, t, y: D.distillation_loss(s, t, temperature=4.0),
                ),
                Impl(
                    "F.kl_div recipe",
                    lambda s, t, y: distillation_torch_recipe(s, t, 4.0),
                    "library",
                ),
            ],
            target=2.5,
            target_text="≤ 2.5× F.cross_entropy on the student logits",
        )
    )
    return cases


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def _prepare(case: Case, device: torch.device) -> Inputs:
    inputs = case.make(torch.Generator().manual_seed(0))
    return tuple(
        t.to(device).requires_grad_(i in case.differentiable) for i, t in enumerate(inputs)
    )


def _callables(fn: LossFn, inputs: Inputs, leaves: Sequence[Tensor]) -> tuple[Any, Any]:
    def forward() -> Tensor:
        return fn(*inputs)

    def forward_backward() -> None:
        for leaf in leaves:
            leaf.grad = None
        torch.autograd.backward(fn(*inputs))

    return forward, forward_backward


def _median_time(stmt: Callable[[], object], min_run_time: float, device: torch.device) -> float:
    def run() -> None:
        stmt()
        if device.type == "cuda":
            torch.cuda.synchronize()

    timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def _profiler_peak(stmt: Callable[[], object]) -> float:
    """Peak of the CPU allocator's running total during `stmt`, minus its value before (bytes)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        stmt()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as handle:
            events = json.load(handle)["traceEvents"]
    memory = sorted(
        (
            e
            for e in events
            if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type", 0) == 0
        ),
        key=lambda e: (e["ts"], e.get("args", {}).get("Total Allocated", 0)),
    )
    if not memory:
        return 0.0
    start = memory[0]["args"]["Total Allocated"] - memory[0]["args"]["Bytes"]
    return float(max(e["args"]["Total Allocated"] for e in memory) - start)


def _peak_memory(stmt: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        stmt()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - before)
    return _profiler_peak(stmt)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@dataclass
class Row:
    case: str
    impl: str
    kind: str
    forward_ms: float | None = None
    forward_backward_ms: float | None = None
    forward_ratio: float | None = None
    forward_backward_ratio: float | None = None
    memory_mib: float | None = None
    memory_ratio: float | None = None
    error: str | None = None


def measure_case(
    case: Case, device: torch.device, rounds: int, min_run_time: float, use_compile: bool
) -> list[Row]:
    inputs = _prepare(case, device)
    leaves = [inputs[i] for i in case.differentiable]
    impls = [case.reference] + [i for i in case.impls if use_compile or not i.compile]
    runnable: list[tuple[Impl, Any, Any]] = []
    rows: dict[str, Row] = {}
    for impl in impls:
        row = rows[impl.name] = Row(case.key, impl.name, impl.kind)
        fn = impl.fn
        if impl.compile:
            torch._dynamo.reset()
            fn = torch.compile(impl.fn, fullgraph=impl.kind == "compiled")
        forward, forward_backward = _callables(fn, inputs, leaves)
        try:
            with _quiet():
                for _ in range(2):  # warm-up (and compilation)
                    forward_backward()
                    forward()
        except Exception as error:  # a library that fails is reported, not fatal
            row.error = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
            continue
        runnable.append((impl, forward, forward_backward))

    times: dict[str, dict[str, list[float]]] = {
        impl.name: {"f": [], "fb": []} for impl, _, _ in runnable
    }
    with _quiet():
        for _ in range(rounds):
            for impl, forward, forward_backward in runnable:
                times[impl.name]["f"].append(_median_time(forward, min_run_time, device))
                times[impl.name]["fb"].append(_median_time(forward_backward, min_run_time, device))
        for impl, _, forward_backward in runnable:
            forward_backward()  # leave no stale gradient behind the measurement
            for leaf in leaves:
                leaf.grad = None
            rows[impl.name].memory_mib = _peak_memory(forward_backward, device) / 2**20

    reference = times.get(case.reference.name)
    reference_memory = rows[case.reference.name].memory_mib
    for impl, _, _ in runnable:
        row, mine = rows[impl.name], times[impl.name]
        row.forward_ms = 1e3 * statistics.median(mine["f"])
        row.forward_backward_ms = 1e3 * statistics.median(mine["fb"])
        if reference is not None:
            row.forward_ratio = statistics.median(
                a / b for a, b in zip(mine["f"], reference["f"], strict=True)
            )
            row.forward_backward_ratio = statistics.median(
                a / b for a, b in zip(mine["fb"], reference["fb"], strict=True)
            )
        if reference_memory and row.memory_mib is not None:
            row.memory_ratio = row.memory_mib / reference_memory
    return list(rows.values())


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def environment(device: torch.device) -> dict[str, str]:
    import kornia
    import monai
    import pytorch_metric_learning

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "threads": str(torch.get_num_threads()),
        "cores visible": str(os.cpu_count()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "deeplossdive": deeplossdive.__version__,
        "kornia": kornia.__version__,
        "monai": monai.__version__,
        "pytorch-metric-learning": pytorch_metric_learning.__version__,
        "os": platform.platform(),
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d"),
    }


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None or math.isnan(value) else f"{value:{spec}}{suffix}"


def markdown(cases: list[Case], rows: list[Row], info: dict[str, str]) -> str:
    lines = [
        "| case | implementation | forward (ms) | forward + backward (ms) | ratio, forward "
        "| ratio, forward + backward | peak extra memory (MiB) | memory ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in cases:
        for row in (r for r in rows if r.case == case.key):
            name = f"**{row.impl}**" if row.kind in ("ours", "compiled") else row.impl
            if row.error:
                lines.append(f"| {case.title} | {name} | failed: {row.error} | | | | | |")
                continue
            lines.append(
                f"| {case.title} | {name} | {_fmt(row.forward_ms, '.2f')} "
                f"| {_fmt(row.forward_backward_ms, '.2f')} | {_fmt(row.forward_ratio, '.2f', '×')} "
                f"| {_fmt(row.forward_backward_ratio, '.2f', '×')} | {_fmt(row.memory_mib, '.1f')} "
                f"| {_fmt(row.memory_ratio, '.2f', '×')} |"
            )
    lines.append("")
    lines.append(
        "Ratios are to the first row of each case (the torch built-in or formulation) on the same "
        "tensors in the same run: the median over rounds of the per-round ratio."
    )
    lines.append("")
    lines.append("| target (forward + backward) | measured | met |")
    lines.append("| --- | ---: | :---: |")
    for case in cases:
        if case.target is None:
            continue
        mine = next((r for r in rows if r.case == case.key and r.kind == "ours"), None)
        if mine is None or mine.forward_backward_ratio is None:
            continue
        met = mine.forward_backward_ratio <= case.target
        text = f"{_fmt(mine.forward_backward_ratio, '.2f', '×')}"
        if case.key.startswith("sigmoid-focal"):
            tv = next(
                (r for r in rows if r.case == case.key and r.impl == "torchvision formula"), None
            )
            if tv is not None and tv.memory_mib and mine.memory_mib is not None:
                share = mine.memory_mib / tv.memory_mib
                text += f"; memory {share:.2f}× torchvision's"
                met = met and share <= 0.5
        lines.append(f"| {case.title}: {case.target_text} | {text} | {'yes' if met else 'no'} |")
    lines.append("")
    lines.append("| machine and versions | |")
    lines.append("| --- | --- |")
    for key, value in info.items():
        lines.append(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def case_info(cases: list[Case]) -> list[dict[str, object]]:
    """What the page says about each case besides its rows: title, reference, targets (the
    forward + backward ratio of ours, and for the sigmoid focal loss its memory against
    torchvision's formula, as `markdown` checks them)."""
    return [
        {
            "key": case.key,
            "title": case.title,
            "reference": case.reference.name,
            "target": case.target,
            "target_text": case.target_text,
            "memory_target": (
                {"impl": "torchvision formula", "ratio": 0.5}
                if case.key.startswith("sigmoid-focal")
                else None
            ),
        }
        for case in cases
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings, no compile, no files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated case keys (prefixes)")
    parser.add_argument("--no-write", action="store_true", help="print, write no files")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds = args.rounds or (1 if args.quick else 3)
    min_run_time = 0.05 if args.quick else 0.3
    cases = build_cases()
    if args.only:
        prefixes = args.only.split(",")
        cases = [c for c in cases if any(c.key.startswith(p) for p in prefixes)]
    info = environment(device)
    started = time.perf_counter()
    rows: list[Row] = []
    for case in cases:
        t0 = time.perf_counter()
        case_rows = measure_case(case, device, rounds, min_run_time, not args.quick)
        rows.extend(case_rows)
        for row in case_rows:
            print(
                f"{case.key:26s} {row.impl:38s} "
                f"f {_fmt(row.forward_ms, '8.2f')} ms  "
                f"fb {_fmt(row.forward_backward_ms, '8.2f')} ms  "
                f"{_fmt(row.forward_backward_ratio, '6.2f', 'x')}  "
                f"mem {_fmt(row.memory_mib, '7.1f')} MiB {row.error or ''}",
                flush=True,
            )
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    info["load average at end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    info["benchmark wall time"] = f"{time.perf_counter() - started:.0f} s"
    table = markdown(cases, rows, info)
    print(table)
    if args.quick or args.no_write:
        return
    out = ROOT / "docs" / "performance"
    out.mkdir(parents=True, exist_ok=True)
    tag = "cpu" if device.type == "cpu" else "cuda"
    results = {"environment": info, "cases": case_info(cases), "rows": [r.__dict__ for r in rows]}
    (out / f"results-{tag}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
