"""Speed, memory and ATen operations of deeplossdive's losses against torch and other libraries.

Not a test: it measures. For every case below it times the forward pass and the forward+backward
pass of each implementation, measures the peak extra memory of forward+backward, counts the ATen
operations one forward+backward dispatches, and reports each as a ratio to the torch built-in
measured on the same tensors in the same run. Ratios are taken round by round (the reference and
every implementation are timed one after the other, `--rounds` times) and the median ratio is
reported, so that a machine shared with other work skews both sides alike.

Time: on the CPU the median of `torch.utils.benchmark`'s `blocked_autorange`; on CUDA, CUDA events
around a batch of calls after warm-up (the median over batches of the time per call), which counts
the host's launch overhead where it is not hidden, as in a training step.

Peak extra memory, on the CPU, comes from the profiler's allocator events
(`torch.profiler.profile(profile_memory=True)`): every allocation and free of a tensor on the
CPU carries the running total of allocated bytes; the peak of that total during one
forward+backward, minus its value before the call, is the memory the call needed on top of its
inputs, the gradients it leaves behind included. On CUDA it is
`torch.cuda.max_memory_allocated()` minus the memory allocated before the call.

ATen operations: a `TorchDispatchMode` counts every operation one forward+backward dispatches
(each is at least one kernel launch on a GPU), and flags contended atomic adds: a `scatter_add`,
`index_add` or accumulating `index_put_` into an output at least 8 times smaller than its source
(on a GPU every element of a class then adds into the same address). Besides the column in each
case, a census runs every public loss once on small CPU tensors, with the value checks as CUDA
tensors get them (off), next to torch's version of the same loss.

Usage (from the repository root):

    python benchmarks/run.py                # the full CPU run: writes results-cpu.json
    python benchmarks/run.py --device cuda  # the GPU cases: writes results-cuda.json
    python benchmarks/run.py --quick        # a smoke run: short timings, no torch.compile, no files
    python benchmarks/run.py --quick --suite cuda --scale 0.01  # the GPU cases, shrunk, on a CPU
    python benchmarks/run.py --census-only  # only the ATen operations of every loss: printed, and
                                            # written into the results-cpu.json that exists

The full CPU run takes about 5 minutes on 2 CPU cores (`torch.compile` warms up once per case);
the GPU run about 2 minutes on an H200. Libraries that are not installed (kornia, MONAI,
pytorch-metric-learning, torchvision) are left out, and the output says so. The Performance
page shows the JSON file of each device (its tables, chart and census are drawn from it when the
site is built: docs/hooks/performance.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
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
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils import benchmark
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import deeplossdive  # noqa: E402
from deeplossdive import functional as D  # noqa: E402
from deeplossdive._about import losses_of  # noqa: E402
from deeplossdive._validation import _as_on_an_accelerator  # noqa: E402

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
    used where torchvision cannot be installed beside this torch (the benchmark takes
    `torchvision.ops.sigmoid_focal_loss` itself when it imports).
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


def distillation_kl_div_recipe(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """T^2 KL(teacher || student) with F.kl_div in log space (log_target=True), per sample."""
    return (
        F.kl_div(
            F.log_softmax(student / temperature, dim=1),
            F.log_softmax(teacher / temperature, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        * temperature**2
    )


def hinge_as_torch(scores: Tensor, target: Tensor) -> Tensor:
    """The binary hinge as written with torch: max(0, 1 - t s), averaged."""
    return torch.clamp_min(1 - target * scores, 0).mean()


def contrastive_as_torch(x1: Tensor, x2: Tensor, target: Tensor) -> Tensor:
    """Hadsell et al.'s contrastive loss as written with torch's pairwise distance."""
    d = F.pairwise_distance(x1, x2)
    return (0.5 * (target * d**2 + (1 - target) * torch.clamp_min(1 - d, 0) ** 2)).mean()


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
    # forward + backward memory target, as a ratio to the reference's
    memory_target: float | None = None


class Libraries:
    """The reference libraries that import here; the others are left out, and said so."""

    NAMES: tuple[tuple[str, str], ...] = (
        ("kornia", "kornia.losses"),
        ("monai", "monai.losses"),
        ("pytorch-metric-learning", "pytorch_metric_learning.losses"),
        ("torchvision", "torchvision.ops"),
    )

    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}
        self.missing: dict[str, str] = {}
        for name, module in self.NAMES:
            try:
                with _quiet():
                    self.modules[name] = importlib.import_module(module)
            except Exception as error:  # not installed, or installed against another torch
                self.missing[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"

    def get(self, name: str) -> Any:
        return self.modules.get(name)

    def version(self, name: str) -> str:
        if name not in self.modules:
            return "not installed"
        top = importlib.import_module(self.modules[name].__name__.split(".")[0])
        return str(getattr(top, "__version__", "?"))


def _scaled(n: int, scale: float) -> int:
    return max(2, round(n * scale))


def _classes(n: int, c: int, dtype: torch.dtype = torch.float32) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        logits = 2 * torch.randn(n, c, generator=gen, device=gen.device)
        return logits.to(dtype), torch.randint(c, (n,), generator=gen, device=gen.device)

    return make


def _multilabel(n: int, c: int = 80) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        logits = 2 * torch.randn(n, c, generator=gen, device=gen.device)
        return logits, (torch.rand(n, c, generator=gen, device=gen.device) < 0.05).float()

    return make


def _segmentation(*shape: int) -> Callable[..., Inputs]:
    """Logits (N, C, *spatial) and class indices (N, *spatial)."""

    def make(gen: torch.Generator) -> Inputs:
        logits = torch.randn(shape, generator=gen, device=gen.device)
        target = torch.randint(shape[1], (shape[0], *shape[2:]), generator=gen, device=gen.device)
        return logits, target

    return make


def _sigmoid_segmentation(*shape: int) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        logits = torch.randn(shape, generator=gen, device=gen.device)
        return logits, (torch.rand(shape, generator=gen, device=gen.device) < 0.3).float()

    return make


def _pairs(n: int, d: int = 128) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        return tuple(torch.randn(n, d, generator=gen, device=gen.device) for _ in range(2))

    return make


def _triplets(n: int, d: int = 128) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        return tuple(torch.randn(n, d, generator=gen, device=gen.device) for _ in range(3))

    return make


def _labelled(n: int, classes: int = 32) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        embeddings = torch.randn(n, 128, generator=gen, device=gen.device)
        return embeddings, torch.randint(classes, (n,), generator=gen, device=gen.device)

    return make


def _distillation(n: int, c: int = 1000) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        student = 2 * torch.randn(n, c, generator=gen, device=gen.device)
        teacher = 2 * torch.randn(n, c, generator=gen, device=gen.device)
        labels = torch.randint(c, (n,), generator=gen, device=gen.device)
        return student, teacher, labels

    return make


def _regression(n: int) -> Callable[..., Inputs]:
    def make(gen: torch.Generator) -> Inputs:
        return tuple(torch.randn(n, generator=gen, device=gen.device) for _ in range(2))

    return make


def _ours(name: str, fn: LossFn, with_compile: bool = True) -> list[Impl]:
    impls = [Impl(name, fn, "ours")]
    if with_compile:
        impls.append(Impl(f"{name}, compiled", fn, "compiled", compile=True))
    return impls


def _torch(name: str, fn: LossFn) -> Impl:
    return Impl(name, fn, "torch")


def build_cpu_cases(libs: Libraries) -> list[Case]:
    kl, pml, tv = libs.get("kornia"), libs.get("pytorch-metric-learning"), libs.get("torchvision")
    monai = libs.get("monai")
    ours = _ours

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
                reference=_torch("F.cross_entropy", lambda x, y: F.cross_entropy(x, y)),
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
    focal_impls = ours("focal_loss", lambda x, y: D.focal_loss(x, y, gamma=2.0))
    if kl is not None:
        focal_impls.append(
            Impl(
                "kornia focal_loss",
                lambda x, y: kl.focal_loss(x, y, None, gamma=2.0, reduction="mean"),
            )
        )
    if monai is not None:
        monai_softmax_focal = monai.FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0)
        focal_impls.append(
            Impl("MONAI FocalLoss(use_softmax)", lambda x, y: monai_softmax_focal(x, y[:, None]))
        )
    cases += against_cross_entropy(
        "focal", "softmax focal", focal_impls, 1.2, "≤ 1.2× F.cross_entropy"
    )
    sigmoid_impls = [
        *ours("sigmoid_focal_loss", lambda x, t: D.sigmoid_focal_loss(x, t)),
        *_torchvision_focal(tv, with_compile=True),
    ]
    if kl is not None:
        sigmoid_impls.append(
            Impl(
                "kornia binary_focal_loss_with_logits",
                lambda x, t: kl.binary_focal_loss_with_logits(
                    x, t, alpha=0.25, gamma=2.0, reduction="mean"
                ),
            )
        )
    if monai is not None:
        monai_sigmoid_focal = monai.FocalLoss(gamma=2.0, alpha=0.25)
        sigmoid_impls.append(Impl("MONAI FocalLoss", lambda x, t: monai_sigmoid_focal(x, t)))
    cases.append(
        Case(
            key="sigmoid-focal-65536x80",
            title="sigmoid focal, multi-label (65536, 80)",
            make=_multilabel(65536),
            differentiable=(0,),
            reference=_torch(
                "F.binary_cross_entropy_with_logits",
                lambda x, t: F.binary_cross_entropy_with_logits(x, t),
            ),
            impls=sigmoid_impls,
            target=1.5,
            target_text="≤ 1.5× F.binary_cross_entropy_with_logits; memory ≤ ½ torchvision's",
        )
    )
    dice_impls = ours("dice_loss", lambda x, y: D.dice_loss(x, y))
    if monai is not None:
        monai_dice = monai.DiceLoss(softmax=True, to_onehot_y=True)
        dice_impls.append(Impl("MONAI DiceLoss(softmax)", lambda x, y: monai_dice(x, y[:, None])))
    if kl is not None:
        dice_impls.append(Impl("kornia dice_loss", lambda x, y: kl.dice_loss(x, y)))
    cases.append(
        Case(
            key="dice-8x4x256x256",
            title="soft Dice, segmentation (8, 4, 256, 256)",
            make=_segmentation(8, 4, 256, 256),
            differentiable=(0,),
            reference=_torch("F.cross_entropy", lambda x, y: F.cross_entropy(x, y)),
            impls=dice_impls,
            target=1.2,
            target_text="≤ 1.2× F.cross_entropy on the same logits",
        )
    )

    def pml_pairs(z1: Tensor, z2: Tensor) -> Tensor:
        labels = torch.arange(z1.shape[0], device=z1.device).repeat(2)
        loss: Tensor = pml_nt_xent(torch.cat([z1, z2]), labels)
        return loss

    if pml is not None:
        pml_nt_xent = pml.NTXentLoss(temperature=0.5)
    # pytorch-metric-learning's cost grows as N^3 (10 s per call at 2 x 256 here): it only
    # joins the small case.
    for n, with_pml in ((512, False), (128, True)):
        impls = [*ours("nt_xent_loss", lambda z1, z2: D.nt_xent_loss(z1, z2, temperature=0.5))]
        if with_pml and pml is not None:
            impls.append(Impl("pytorch-metric-learning NTXentLoss", pml_pairs))
        cases.append(
            Case(
                key=f"nt-xent-2x{n}x128",
                title=f"NT-Xent, embeddings 2 × ({n}, 128)",
                make=_pairs(n),
                differentiable=(0, 1),
                reference=_torch(
                    "cross-entropy formulation",
                    lambda z1, z2: nt_xent_as_cross_entropy(z1, z2, 0.5),
                ),
                impls=impls,
                target=1.1,
                target_text="within 1.1× of its cross-entropy formulation",
            )
        )
    supcon_impls = ours(
        "supervised_contrastive_loss",
        lambda e, y: D.supervised_contrastive_loss(e, y, temperature=0.1),
    )
    if pml is not None:
        pml_supcon = pml.SupConLoss(temperature=0.1)
        supcon_impls.append(
            Impl("pytorch-metric-learning SupConLoss", lambda e, y: pml_supcon(e, y))
        )
    cases.append(
        Case(
            key="supcon-1024x128",
            title="SupCon, embeddings (1024, 128), 32 classes",
            make=_labelled(1024),
            differentiable=(0,),
            reference=_torch(
                "masked log-softmax formulation",
                lambda e, y: supcon_as_log_softmax(e, y, 0.1),
            ),
            impls=supcon_impls,
        )
    )
    cases.append(
        Case(
            key="distillation-4096x1000",
            title="distillation, logits (4096, 1000), T = 4",
            make=_distillation(4096),
            differentiable=(0,),
            reference=_torch("F.cross_entropy (student)", lambda s, t, y: F.cross_entropy(s, y)),
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
    cases.append(_linear_cross_entropy_case(8192, 32_000, 256))
    cases += _newer_cpu_cases(monai, pml)
    return cases


def _newer_cpu_cases(monai: Any, pml: Any) -> list[Case]:
    """Generalized Dice, Lovász, the asymmetric loss, ArcFace and CLIP: each against torch's
    loss on the same tensors (or the formula in torch operations), and the library that has it."""
    gdice = _ours("generalized_dice_loss", lambda x, y: D.generalized_dice_loss(x, y))
    if monai is not None:
        monai_gdice = monai.GeneralizedDiceLoss(softmax=True, to_onehot_y=True)
        gdice.append(
            Impl("MONAI GeneralizedDiceLoss(softmax)", lambda x, y: monai_gdice(x, y[:, None]))
        )
    ce = _torch("F.cross_entropy", lambda x, y: F.cross_entropy(x, y))
    cases = [
        Case(
            key="generalized-dice-8x4x256x256",
            title="generalized Dice, segmentation (8, 4, 256, 256)",
            make=_segmentation(8, 4, 256, 256),
            differentiable=(0,),
            reference=ce,
            impls=gdice,
        ),
        Case(
            key="lovasz-softmax-4x21x128x128",
            title="Lovász-softmax, segmentation (4, 21, 128, 128)",
            make=_segmentation(4, 21, 128, 128),
            differentiable=(0,),
            reference=ce,
            impls=_ours("lovasz_softmax_loss", lambda x, y: D.lovasz_softmax_loss(x, y)),
        ),
        Case(
            key="asymmetric-65536x80",
            title="asymmetric loss, multi-label (65536, 80)",
            make=_multilabel(65536),
            differentiable=(0,),
            reference=_torch(
                "F.binary_cross_entropy_with_logits",
                lambda x, t: F.binary_cross_entropy_with_logits(x, t),
            ),
            impls=_ours("asymmetric_loss", lambda x, t: D.asymmetric_loss(x, t)),
        ),
    ]

    def class_weights(gen: torch.Generator) -> Inputs:
        embeddings = torch.randn(4096, 512, generator=gen, device=gen.device)
        weight = torch.randn(1000, 512, generator=gen, device=gen.device)
        return embeddings, weight, torch.randint(1000, (4096,), generator=gen, device=gen.device)

    arcface = _ours("arcface_loss", lambda e, w, y: D.arcface_loss(e, w, y))
    if pml is not None:
        # Its class weights are its own parameter (the same work: their gradient too).
        pml_arcface = pml.ArcFaceLoss(1000, 512, margin=math.degrees(0.5), scale=64.0)
        arcface.append(
            Impl("pytorch-metric-learning ArcFaceLoss", lambda e, w, y: pml_arcface(e, y))
        )
    cases.append(
        Case(
            key="arcface-4096x512x1000",
            title="ArcFace, embeddings (4096, 512), 1000 classes",
            make=class_weights,
            differentiable=(0, 1),
            reference=_torch(
                "normalized softmax: F.linear + F.cross_entropy",
                lambda e, w, y: F.cross_entropy(
                    64.0 * F.linear(F.normalize(e, dim=1), F.normalize(w, dim=1)), y
                ),
            ),
            impls=arcface,
        )
    )

    def clip_as_cross_entropy(images: Tensor, texts: Tensor) -> Tensor:
        logits = F.normalize(images, dim=1) @ F.normalize(texts, dim=1).T / 0.07
        labels = torch.arange(images.shape[0], device=images.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    cases.append(
        Case(
            key="clip-1024x512",
            title="CLIP, embeddings 2 × (1024, 512)",
            make=_pairs(1024, 512),
            differentiable=(0, 1),
            reference=_torch("cross-entropy formulation", clip_as_cross_entropy),
            impls=_ours("clip_loss", lambda a, b: D.clip_loss(a, b, logit_scale=1 / 0.07)),
        )
    )
    return cases


def _linear_cross_entropy_case(n: int, v: int, h: int) -> Case:
    """Chunked linear cross-entropy against F.linear then F.cross_entropy (and torch's own
    F.linear_cross_entropy with its chunking, where this torch has it): hidden (n, h), weight
    (v, h), both differentiable."""

    def make(gen: torch.Generator) -> Inputs:
        hidden = torch.randn(n, h, generator=gen, device=gen.device)
        weight = torch.randn(v, h, generator=gen, device=gen.device) / math.sqrt(h)
        return hidden, weight, torch.randint(v, (n,), generator=gen, device=gen.device)

    impls = _ours("linear_cross_entropy", lambda x, w, y: D.linear_cross_entropy(x, w, y), False)
    if hasattr(F, "linear_cross_entropy"):
        options = torch.nn.LinearCrossEntropyOptions()
        impls.append(
            Impl(
                "F.linear_cross_entropy, chunked",
                lambda x, w, y: F.linear_cross_entropy(x, w, y, options=options),
            )
        )
    return Case(
        key=f"linear-cross-entropy-{n}x{v}x{h}",
        title=f"Linear cross-entropy, hidden ({n}, {h}), vocabulary {v}",
        make=make,
        differentiable=(0, 1),
        reference=_torch("F.linear + F.cross_entropy", lambda x, w, y: F.cross_entropy(x @ w.T, y)),
        impls=impls,
        target=1.3,
        target_text="≤ 1.3× F.linear + F.cross_entropy, memory ≤ 1/8",
        memory_target=1 / 8,
    )


def _torchvision_focal(tv: Any, *, with_compile: bool) -> list[Impl]:
    """torchvision's `sigmoid_focal_loss` when it imports, its literal transcription otherwise."""
    if tv is not None:
        impls = [
            Impl(
                "torchvision sigmoid_focal_loss",
                lambda x, t: tv.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2, reduction="mean"),
            )
        ]
    else:
        impls = [Impl("torchvision formula", torchvision_sigmoid_focal_loss)]
    if with_compile:
        impls.append(Impl(f"{impls[0].name}, compiled", impls[0].fn, "library", compile=True))
    return impls


def build_cuda_cases(libs: Libraries, scale: float = 1.0) -> list[Case]:
    """The workloads of issue #13's table, each against the reference the table names."""
    kl, pml, tv = libs.get("kornia"), libs.get("pytorch-metric-learning"), libs.get("torchvision")
    monai = libs.get("monai")

    def n(size: int) -> int:
        return _scaled(size, scale)

    ce = _torch("F.cross_entropy", lambda x, y: F.cross_entropy(x, y))
    bce = _torch(
        "F.binary_cross_entropy_with_logits",
        lambda x, t: F.binary_cross_entropy_with_logits(x, t),
    )
    mse = _torch("F.mse_loss", lambda x, y: F.mse_loss(x, y))
    rows, classes = n(8192), 1000
    cases = [
        Case(
            key=f"cross-entropy-{rows}x{classes}",
            title=f"cross-entropy, logits ({rows}, {classes})",
            make=_classes(rows, classes),
            differentiable=(0,),
            reference=ce,
            impls=_ours("cross_entropy", lambda x, y: D.cross_entropy(x, y), False),
            target=1.15,
            target_text="≤ 1.15× F.cross_entropy",
        )
    ]
    focal_impls = _ours("focal_loss", lambda x, y: D.focal_loss(x, y, gamma=2.0), False)
    if monai is not None:
        monai_softmax_focal = monai.FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0)
        focal_impls.append(
            Impl("MONAI FocalLoss(use_softmax)", lambda x, y: monai_softmax_focal(x, y[:, None]))
        )
    if kl is not None:
        focal_impls.append(
            Impl(
                "kornia focal_loss",
                lambda x, y: kl.focal_loss(x, y, None, gamma=2.0, reduction="mean"),
            )
        )
    cases += [
        Case(
            key=f"focal-{rows}x{classes}",
            title=f"softmax focal, logits ({rows}, {classes})",
            make=_classes(rows, classes),
            differentiable=(0,),
            reference=ce,
            impls=focal_impls,
            target=1.5,
            target_text="≤ 1.5× F.cross_entropy",
        ),
        Case(
            key=f"poly1-{rows}x{classes}",
            title=f"poly-1 cross-entropy, logits ({rows}, {classes})",
            make=_classes(rows, classes),
            differentiable=(0,),
            reference=ce,
            impls=_ours("poly1_cross_entropy", lambda x, y: D.poly1_cross_entropy(x, y), False),
            target=1.5,
            target_text="≤ 1.5× F.cross_entropy",
        ),
        Case(
            key=f"multiclass-hinge-{rows}x{classes}",
            title=f"multi-class hinge, scores ({rows}, {classes})",
            make=_classes(rows, classes),
            differentiable=(0,),
            reference=_torch("F.multi_margin_loss", lambda x, y: F.multi_margin_loss(x, y)),
            impls=_ours("multiclass_hinge_loss", lambda x, y: D.multiclass_hinge_loss(x, y), False),
            target=1.15,
            target_text="≤ 1.15× F.multi_margin_loss",
        ),
        Case(
            key=f"cross-entropy-bf16-{rows}x32000",
            title=f"cross-entropy, bfloat16 logits ({rows}, 32000)",
            make=_classes(rows, 32000, torch.bfloat16),
            differentiable=(0,),
            reference=ce,
            impls=_ours("cross_entropy", lambda x, y: D.cross_entropy(x, y), False),
            target=1.2,
            target_text="≤ 1.2× F.cross_entropy, memory ≤ 1.0×",
            memory_target=1.0,
        ),
    ]
    dense = n(262144)
    sigmoid_impls = [
        *_ours("sigmoid_focal_loss", lambda x, t: D.sigmoid_focal_loss(x, t), False),
        *_torchvision_focal(tv, with_compile=False),
    ]
    if monai is not None:
        monai_sigmoid_focal = monai.FocalLoss(gamma=2.0, alpha=0.25)
        sigmoid_impls.append(Impl("MONAI FocalLoss", lambda x, t: monai_sigmoid_focal(x, t)))
    if kl is not None:
        sigmoid_impls.append(
            Impl(
                "kornia binary_focal_loss_with_logits",
                lambda x, t: kl.binary_focal_loss_with_logits(
                    x, t, alpha=0.25, gamma=2.0, reduction="mean"
                ),
            )
        )
    cases += [
        Case(
            key=f"sigmoid-focal-{dense}x80",
            title=f"sigmoid focal, multi-label ({dense}, 80)",
            make=_multilabel(dense),
            differentiable=(0,),
            reference=bce,
            impls=sigmoid_impls,
            target=1.5,
            target_text="≤ 1.5× F.binary_cross_entropy_with_logits",
        ),
        Case(
            key=f"bce-with-logits-{dense}x80",
            title=f"BCE with logits, multi-label ({dense}, 80)",
            make=_multilabel(dense),
            differentiable=(0,),
            reference=bce,
            impls=_ours(
                "binary_cross_entropy_with_logits",
                lambda x, t: D.binary_cross_entropy_with_logits(x, t),
                False,
            ),
            target=1.15,
            target_text="≤ 1.15× F.binary_cross_entropy_with_logits",
        ),
    ]
    for shape in ((n(16), 4, 512, 512), (n(2), 4, 128, 128, 128)):
        impls = [
            *_ours("dice_loss", lambda x, y: D.dice_loss(x, y), False),
            *_ours("jaccard_loss", lambda x, y: D.jaccard_loss(x, y), False),
            *_ours("tversky_loss", lambda x, y: D.tversky_loss(x, y), False),
        ]
        if monai is not None:
            monai_dice = monai.DiceLoss(softmax=True, to_onehot_y=True)
            impls.append(
                Impl(
                    "MONAI DiceLoss(softmax)",
                    lambda x, y, dice=monai_dice: dice(x, y[:, None]),
                )
            )
        if kl is not None and len(shape) == 4:
            impls.append(Impl("kornia dice_loss", lambda x, y: kl.dice_loss(x, y)))
        size = "x".join(map(str, shape))
        cases.append(
            Case(
                key=f"overlap-{size}",
                title=f"soft Dice, Jaccard, Tversky, segmentation {shape}",
                make=_segmentation(*shape),
                differentiable=(0,),
                reference=ce,
                impls=impls,
                target=1.5,
                target_text="≤ 1.5× F.cross_entropy on the same logits",
            )
        )
    sigmoid_shape = (n(16), 3, 512, 512)
    sigmoid_dice_impls = _ours("sigmoid_dice_loss", lambda x, t: D.sigmoid_dice_loss(x, t), False)
    if monai is not None:
        monai_sigmoid_dice = monai.DiceLoss(sigmoid=True)
        sigmoid_dice_impls.append(
            Impl("MONAI DiceLoss(sigmoid)", lambda x, t: monai_sigmoid_dice(x, t))
        )
    cases.append(
        Case(
            key="sigmoid-dice-" + "x".join(map(str, sigmoid_shape)),
            title=f"sigmoid Dice, segmentation {sigmoid_shape}",
            make=_sigmoid_segmentation(*sigmoid_shape),
            differentiable=(0,),
            reference=bce,
            impls=sigmoid_dice_impls,
            target=1.5,
            target_text="≤ 1.5× F.binary_cross_entropy_with_logits",
        )
    )
    cases.append(
        Case(
            key=f"distillation-{rows}x{classes}",
            title=f"distillation, logits ({rows}, {classes}), T = 4",
            make=_distillation(rows, classes),
            differentiable=(0,),
            reference=_torch(
                "F.kl_div recipe", lambda s, t, y: distillation_kl_div_recipe(s, t, 4.0)
            ),
            impls=_ours(
                "distillation_loss",
                lambda s, t, y: D.distillation_loss(s, t, temperature=4.0),
                False,
            ),
            target=1.0,
            target_text="≤ 1.0× the F.kl_div recipe",
        )
    )
    flat = n(16_777_216)
    regression = [
        ("mse", "mse_loss", mse, D.mse_loss, 1.15, "≤ 1.15× F.mse_loss"),
        (
            "huber",
            "huber_loss",
            _torch("F.huber_loss", lambda x, y: F.huber_loss(x, y)),
            D.huber_loss,
            1.15,
            "≤ 1.15× F.huber_loss",
        ),
        ("log-cosh", "log_cosh_loss", mse, D.log_cosh_loss, 1.5, "≤ 1.5× F.mse_loss"),
        ("quantile", "quantile_loss", mse, D.quantile_loss, 1.5, "≤ 1.5× F.mse_loss"),
    ]
    for key, name, reference, function, target, text in regression:
        cases.append(
            Case(
                key=f"{key}-{flat}",
                title=f"{name.replace('_loss', '').replace('_', '-')}, ({flat},)",
                make=_regression(flat),
                differentiable=(0,),
                reference=reference,
                impls=_ours(name, function, False),
                target=target,
                target_text=text,
            )
        )
    pairs, anchors, triplets = n(4096), n(8192), n(65536)
    nt_xent_impls = _ours(
        "nt_xent_loss", lambda z1, z2: D.nt_xent_loss(z1, z2, temperature=0.5), False
    )
    supcon_impls = _ours(
        "supervised_contrastive_loss",
        lambda e, y: D.supervised_contrastive_loss(e, y, temperature=0.1),
        False,
    )
    if pml is not None:
        pml_supcon = pml.SupConLoss(temperature=0.1)
        supcon_impls.append(
            Impl("pytorch-metric-learning SupConLoss", lambda e, y: pml_supcon(e, y))
        )
    cases += [
        Case(
            key=f"nt-xent-2x{pairs}x128",
            title=f"NT-Xent, embeddings 2 × ({pairs}, 128)",
            make=_pairs(pairs),
            differentiable=(0, 1),
            reference=_torch(
                "cross-entropy formulation", lambda z1, z2: nt_xent_as_cross_entropy(z1, z2, 0.5)
            ),
            impls=nt_xent_impls,
            target=1.1,
            target_text="≤ 1.1× its cross-entropy formulation",
        ),
        Case(
            key=f"supcon-{anchors}x128",
            title=f"SupCon, embeddings ({anchors}, 128), 32 classes",
            make=_labelled(anchors),
            differentiable=(0,),
            reference=_torch(
                "masked log-softmax formulation", lambda e, y: supcon_as_log_softmax(e, y, 0.1)
            ),
            impls=supcon_impls,
            target=1.1,
            target_text="≤ 1.1× its masked log-softmax formulation",
        ),
        Case(
            key=f"triplet-{triplets}x128",
            title=f"triplet margin, embeddings 3 × ({triplets}, 128)",
            make=_triplets(triplets),
            differentiable=(0, 1, 2),
            reference=_torch(
                "F.triplet_margin_loss", lambda a, p, q: F.triplet_margin_loss(a, p, q)
            ),
            impls=_ours(
                "triplet_margin_loss", lambda a, p, q: D.triplet_margin_loss(a, p, q), False
            ),
            target=1.15,
            target_text="≤ 1.15× F.triplet_margin_loss",
        ),
    ]
    return cases


# ---------------------------------------------------------------------------------------------
# Counting ATen operations
# ---------------------------------------------------------------------------------------------

ATOMIC_ADDS = frozenset(
    {"scatter_add", "scatter_add_", "index_add", "index_add_", "embedding_dense_backward"}
)
ACCUMULATING = frozenset({"index_put", "index_put_", "_index_put_impl_"})
CONTENDED_RATIO = 8
"""An atomic add is contended when its source has at least this many times its output's elements."""


class OpCounter(TorchDispatchMode):
    """Counts the ATen operations dispatched inside it, and the contended atomic adds."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.contended: list[str] = []

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        self.ops.append(name)
        source: Any = None
        if name in ATOMIC_ADDS and len(args) > 3:
            source = args[3] if name != "embedding_dense_backward" else args[0]
        elif name in ACCUMULATING and (args[3] if len(args) > 3 else kwargs.get("accumulate")):
            source = args[2]
        result = func(*args, **kwargs)
        if (
            isinstance(source, Tensor)
            and isinstance(result, Tensor)
            and source.numel() >= CONTENDED_RATIO * max(result.numel(), 1)
        ):
            self.contended.append(f"{name} {tuple(source.shape)} -> {tuple(result.shape)}")
        return result


def count_ops(fn: LossFn, inputs: Inputs, leaves: Sequence[Tensor]) -> OpCounter:
    """The operations of one forward+backward (gradients of the leaves, not accumulated)."""
    with _quiet(), OpCounter() as counter:
        loss = fn(*inputs)
        torch.autograd.grad(loss, list(leaves))
    return counter


@dataclass
class CensusEntry:
    """One public loss on small inputs, and torch's version of the same loss (or None)."""

    name: str
    make: Callable[[torch.Generator], Inputs]
    ours: LossFn
    torch_fn: LossFn | None
    torch_name: str
    # The overlap losses are compared with torch's cross-entropy, not a version of themselves.
    overlap: bool = False


def _census_entries() -> list[CensusEntry]:
    def classes(gen: torch.Generator) -> Inputs:
        return torch.randn(16, 10, generator=gen), torch.randint(10, (16,), generator=gen)

    def log_probs(gen: torch.Generator) -> Inputs:
        x, y = classes(gen)
        return torch.log_softmax(x, 1), y

    def probs(gen: torch.Generator) -> Inputs:
        return torch.sigmoid(torch.randn(16, 10, generator=gen)), torch.rand(16, 10, generator=gen)

    def multilabel(gen: torch.Generator) -> Inputs:
        return torch.randn(16, 10, generator=gen), (torch.rand(16, 10, generator=gen) < 0.3).float()

    def signed(gen: torch.Generator) -> Inputs:
        target = torch.randint(2, (16,), generator=gen) * 2 - 1
        return torch.randn(16, generator=gen), target.float()

    def distributions(gen: torch.Generator) -> Inputs:
        log_q = torch.log_softmax(torch.randn(16, 10, generator=gen), 1)
        return log_q, torch.softmax(torch.randn(16, 10, generator=gen), 1)

    def two(gen: torch.Generator) -> Inputs:
        return torch.randn(16, 10, generator=gen), torch.randn(16, 10, generator=gen)

    def regression(gen: torch.Generator) -> Inputs:
        return torch.randn(64, generator=gen), torch.randn(64, generator=gen)

    def pairs(gen: torch.Generator) -> Inputs:
        x1, x2 = torch.randn(16, 8, generator=gen), torch.randn(16, 8, generator=gen)
        return x1, x2, torch.randint(2, (16,), generator=gen).float()

    def signed_pairs(gen: torch.Generator) -> Inputs:
        x1, x2, t = pairs(gen)
        return x1, x2, 2 * t - 1

    def triplets(gen: torch.Generator) -> Inputs:
        return tuple(torch.randn(16, 8, generator=gen) for _ in range(3))

    def views(gen: torch.Generator) -> Inputs:
        return torch.randn(16, 8, generator=gen), torch.randn(16, 8, generator=gen)

    def labelled(gen: torch.Generator) -> Inputs:
        return torch.randn(16, 8, generator=gen), torch.randint(4, (16,), generator=gen)

    def segmentation(gen: torch.Generator) -> Inputs:
        x = torch.randn(2, 4, 8, 8, generator=gen)
        return x, torch.randint(4, (2, 8, 8), generator=gen)

    def sigmoid_segmentation(gen: torch.Generator) -> Inputs:
        x = torch.randn(2, 3, 8, 8, generator=gen)
        return x, (torch.rand(2, 3, 8, 8, generator=gen) < 0.3).float()

    def alignments(gen: torch.Generator) -> Inputs:
        log_probs = torch.log_softmax(torch.randn(12, 4, 6, generator=gen), 2)
        targets = torch.randint(1, 6, (4, 5), generator=gen)
        input_lengths = torch.full((4,), 12, dtype=torch.long)
        return log_probs, targets, input_lengths, torch.randint(1, 6, (4,), generator=gen)

    ce, bce_logits, mse = F.cross_entropy, F.binary_cross_entropy_with_logits, F.mse_loss
    entries = [
        CensusEntry("cross_entropy", classes, D.cross_entropy, ce, "F.cross_entropy"),
        CensusEntry("nll_loss", log_probs, D.nll_loss, F.nll_loss, "F.nll_loss"),
        CensusEntry("focal_loss", classes, D.focal_loss, ce, "F.cross_entropy"),
        CensusEntry("poly1_cross_entropy", classes, D.poly1_cross_entropy, ce, "F.cross_entropy"),
        CensusEntry(
            "multiclass_hinge_loss",
            classes,
            D.multiclass_hinge_loss,
            F.multi_margin_loss,
            "F.multi_margin_loss",
        ),
        CensusEntry(
            "binary_cross_entropy",
            probs,
            D.binary_cross_entropy,
            F.binary_cross_entropy,
            "F.binary_cross_entropy",
        ),
        CensusEntry(
            "binary_cross_entropy_with_logits",
            multilabel,
            D.binary_cross_entropy_with_logits,
            bce_logits,
            "F.binary_cross_entropy_with_logits",
        ),
        CensusEntry(
            "sigmoid_focal_loss",
            multilabel,
            D.sigmoid_focal_loss,
            bce_logits,
            "F.binary_cross_entropy_with_logits",
        ),
        CensusEntry(
            "asymmetric_loss",
            multilabel,
            D.asymmetric_loss,
            bce_logits,
            "F.binary_cross_entropy_with_logits",
        ),
        CensusEntry("hinge_loss", signed, D.hinge_loss, hinge_as_torch, "clamp_min(1 - t s, 0)"),
        CensusEntry(
            "kl_div",
            distributions,
            D.kl_div,
            lambda q, p: F.kl_div(q, p, reduction="batchmean"),
            "F.kl_div",
        ),
        CensusEntry(
            "distillation_loss",
            two,
            lambda s, t: D.distillation_loss(s, t, temperature=4.0),
            lambda s, t: distillation_kl_div_recipe(s, t, 4.0),
            "F.kl_div recipe",
        ),
        CensusEntry("mse_loss", regression, D.mse_loss, mse, "F.mse_loss"),
        CensusEntry("l1_loss", regression, D.l1_loss, F.l1_loss, "F.l1_loss"),
        CensusEntry("huber_loss", regression, D.huber_loss, F.huber_loss, "F.huber_loss"),
        CensusEntry(
            "smooth_l1_loss", regression, D.smooth_l1_loss, F.smooth_l1_loss, "F.smooth_l1_loss"
        ),
        CensusEntry("log_cosh_loss", regression, D.log_cosh_loss, mse, "F.mse_loss"),
        CensusEntry("quantile_loss", regression, D.quantile_loss, mse, "F.mse_loss"),
        CensusEntry(
            "cosine_embedding_loss",
            signed_pairs,
            D.cosine_embedding_loss,
            F.cosine_embedding_loss,
            "F.cosine_embedding_loss",
        ),
        CensusEntry(
            "contrastive_loss",
            pairs,
            D.contrastive_loss,
            contrastive_as_torch,
            "pairwise_distance formula",
        ),
        CensusEntry(
            "triplet_margin_loss",
            triplets,
            D.triplet_margin_loss,
            F.triplet_margin_loss,
            "F.triplet_margin_loss",
        ),
        CensusEntry(
            "nt_xent_loss",
            views,
            D.nt_xent_loss,
            lambda z1, z2: nt_xent_as_cross_entropy(z1, z2, 0.5),
            "cross-entropy formulation",
        ),
        CensusEntry(
            "supervised_contrastive_loss",
            labelled,
            D.supervised_contrastive_loss,
            lambda e, y: supcon_as_log_softmax(e, y, 0.1),
            "masked log-softmax formulation",
        ),
    ]

    def rank_pairs(gen: torch.Generator) -> Inputs:
        target = torch.randint(2, (16,), generator=gen).float() * 2 - 1
        return torch.randn(16, generator=gen), torch.randn(16, generator=gen), target

    def distances(gen: torch.Generator) -> Inputs:
        target = torch.randint(2, (16,), generator=gen).float() * 2 - 1
        return torch.rand(16, generator=gen) * 2, target

    def label_lists(gen: torch.Generator) -> Inputs:
        # Each row's labels first, then -1 (torch's padded format).
        target = torch.randperm(10, generator=gen)[:3].repeat(16, 1)
        return torch.randn(16, 10, generator=gen), torch.cat(
            [target, torch.full((16, 7), -1)], dim=1
        )

    def counts(gen: torch.Generator) -> Inputs:
        return torch.randn(64, generator=gen), torch.poisson(torch.rand(64, generator=gen) * 4)

    def gaussian(gen: torch.Generator) -> Inputs:
        x, y = regression(gen)
        return x, y, torch.rand(64, generator=gen) + 0.1

    def boxes(gen: torch.Generator) -> Inputs:
        def one() -> Tensor:
            xy = torch.rand(16, 2, generator=gen) * 10
            return torch.cat([xy, xy + torch.rand(16, 2, generator=gen) * 5 + 0.5], dim=1)

        return one(), one()

    entries += [
        CensusEntry(
            "margin_ranking_loss",
            rank_pairs,
            D.margin_ranking_loss,
            F.margin_ranking_loss,
            "F.margin_ranking_loss",
        ),
        CensusEntry(
            "soft_margin_loss", signed, D.soft_margin_loss, F.soft_margin_loss, "F.soft_margin_loss"
        ),
        CensusEntry(
            "hinge_embedding_loss",
            distances,
            D.hinge_embedding_loss,
            F.hinge_embedding_loss,
            "F.hinge_embedding_loss",
        ),
        CensusEntry(
            "multilabel_soft_margin_loss",
            multilabel,
            D.multilabel_soft_margin_loss,
            F.multilabel_soft_margin_loss,
            "F.multilabel_soft_margin_loss",
        ),
        CensusEntry(
            "multilabel_margin_loss",
            label_lists,
            D.multilabel_margin_loss,
            F.multilabel_margin_loss,
            "F.multilabel_margin_loss",
        ),
        CensusEntry(
            "poisson_nll_loss", counts, D.poisson_nll_loss, F.poisson_nll_loss, "F.poisson_nll_loss"
        ),
        CensusEntry(
            "gaussian_nll_loss",
            gaussian,
            D.gaussian_nll_loss,
            F.gaussian_nll_loss,
            "F.gaussian_nll_loss",
        ),
        CensusEntry("ctc_loss", alignments, D.ctc_loss, F.ctc_loss, "F.ctc_loss"),
    ]
    try:
        import torchvision.ops as tv_ops
    except ImportError:
        tv_ops = None
    for name in ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"):
        theirs = getattr(tv_ops, name) if tv_ops is not None else None
        entries.append(
            CensusEntry(
                name,
                boxes,
                functools.partial(getattr(D, name), reduction="mean"),
                None if theirs is None else functools.partial(theirs, reduction="mean"),
                f"torchvision.ops.{name}" if theirs else "— (torchvision not installed)",
            )
        )
    for name in (
        "dice_loss",
        "jaccard_loss",
        "tversky_loss",
        "generalized_dice_loss",
        "lovasz_softmax_loss",
    ):
        entries.append(
            CensusEntry(name, segmentation, getattr(D, name), ce, "F.cross_entropy", overlap=True)
        )
    for name in (
        "sigmoid_dice_loss",
        "sigmoid_jaccard_loss",
        "sigmoid_tversky_loss",
        "sigmoid_generalized_dice_loss",
        "lovasz_hinge_loss",
    ):
        entries.append(
            CensusEntry(
                name,
                sigmoid_segmentation,
                getattr(D, name),
                bce_logits,
                "F.binary_cross_entropy_with_logits",
                overlap=True,
            )
        )
    entries.append(
        CensusEntry(
            "linear_cross_entropy",
            lambda gen: (
                torch.randn(16, 8, generator=gen),
                torch.randn(10, 8, generator=gen),
                torch.randint(10, (16,), generator=gen),
            ),
            D.linear_cross_entropy,
            lambda x, w, y: F.cross_entropy(F.linear(x, w), y),
            "F.linear + F.cross_entropy",
        )
    )

    def class_weights(gen: torch.Generator) -> Inputs:
        embeddings, labels = labelled(gen)
        return embeddings, torch.randn(4, 8, generator=gen), labels

    def log_prob_pairs(gen: torch.Generator) -> Inputs:
        return tuple(-torch.rand(16, generator=gen) * 20 for _ in range(4))

    # None of these has a version in torch: the census counts ours alone.
    entries += [
        CensusEntry("arcface_loss", class_weights, D.arcface_loss, None, "—"),
        CensusEntry("cosface_loss", class_weights, D.cosface_loss, None, "—"),
        CensusEntry("clip_loss", views, D.clip_loss, None, "—"),
        CensusEntry("siglip_loss", views, D.siglip_loss, None, "—"),
        CensusEntry("dpo_loss", log_prob_pairs, D.dpo_loss, None, "—"),
        CensusEntry("simpo_loss", lambda gen: log_prob_pairs(gen)[:2], D.simpo_loss, None, "—"),
    ]
    missing = sorted(set(losses_of(D.__all__)) - {e.name for e in entries})
    if missing:
        raise SystemExit(f"the census has no entry for {missing}")
    return entries


@dataclass
class CensusRow:
    name: str
    ours: int
    torch: int
    torch_name: str
    overlap: bool
    contended: list[str]


def census() -> list[CensusRow]:
    """Every public loss's ATen operations per forward+backward, as CUDA tensors run it (value
    checks off), on small CPU tensors: the counts do not depend on the sizes or the machine."""
    rows = []
    for entry in _census_entries():
        inputs = entry.make(torch.Generator().manual_seed(0))
        first = inputs[0].requires_grad_(True)
        with _as_on_an_accelerator():
            mine = count_ops(entry.ours, inputs, [first])
        theirs = count_ops(entry.torch_fn, inputs, [first]) if entry.torch_fn else None
        rows.append(
            CensusRow(
                entry.name,
                len(mine.ops),
                len(theirs.ops) if theirs else 0,
                entry.torch_name,
                entry.overlap,
                mine.contended,
            )
        )
    return rows


def census_summary(rows: list[CensusRow]) -> list[str]:
    """The summary lines: the operation ratio and the losses with contended atomic adds."""
    lines = []
    compared = [r for r in rows if r.torch]  # a loss without a version here compares with nothing
    for overlap, what in ((False, "the losses torch also has"), (True, "the overlap losses")):
        chosen = [r for r in compared if r.overlap == overlap]
        ours, theirs = sum(r.ours for r in chosen), sum(r.torch for r in chosen)
        reference = "torch" if not overlap else "torch's cross-entropy / BCE with logits"
        lines.append(
            f"ATen ops per forward+backward, summed over {what} ({len(chosen)}): "
            f"ours {ours}, {reference} {theirs} ({ours / max(theirs, 1):.2f}×)"
        )
    ours, theirs = sum(r.ours for r in compared), sum(r.torch for r in compared)
    lines.append(
        f"ATen ops per forward+backward, summed over all {len(compared)} losses with a version "
        f"here: ours {ours}, torch's versions {theirs} ({ours / max(theirs, 1):.2f}×)"
    )
    contended = [f"{r.name} ({'; '.join(sorted(set(r.contended)))})" for r in rows if r.contended]
    lines.append(
        "Losses with contended atomic adds: " + (", ".join(contended) if contended else "none")
    )
    return lines


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def _prepare(case: Case, device: torch.device) -> Inputs:
    inputs = case.make(torch.Generator(device=device).manual_seed(0))
    return tuple(t.requires_grad_(i in case.differentiable) for i, t in enumerate(inputs))


def _callables(fn: LossFn, inputs: Inputs, leaves: Sequence[Tensor]) -> tuple[Any, Any]:
    def forward() -> Tensor:
        return fn(*inputs)

    def forward_backward() -> None:
        for leaf in leaves:
            leaf.grad = None
        torch.autograd.backward(fn(*inputs))

    return forward, forward_backward


def _median_time(stmt: Callable[[], object], min_run_time: float, device: torch.device) -> float:
    if device.type == "cuda":
        return _cuda_time(stmt, min_run_time)
    timer = benchmark.Timer(
        stmt="run()", globals={"run": stmt}, num_threads=torch.get_num_threads()
    )
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def _cuda_time(stmt: Callable[[], object], min_run_time: float, batches: int = 5) -> float:
    """Seconds per call: CUDA events around batches of calls, the median over the batches.

    One call, synchronised, sizes the batches so that all of them take about `min_run_time`.
    """
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    stmt()
    end.record()
    end.synchronize()
    once = max(start.elapsed_time(end) / 1e3, 1e-6)
    calls = max(1, min(200, round(min_run_time / batches / once)))
    per_call = []
    for _ in range(batches):
        start.record()
        for _ in range(calls):
            stmt()
        end.record()
        end.synchronize()
        per_call.append(start.elapsed_time(end) / 1e3 / calls)
    return statistics.median(per_call)


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
    aten_ops: int | None = None
    contended: list[str] = field(default_factory=list)
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
        if not impl.compile:
            try:
                counted = count_ops(fn, inputs, leaves)
                row.aten_ops, row.contended = len(counted.ops), counted.contended
            except Exception as error:  # counting is a bonus: never fatal
                print(f"  could not count {impl.name}'s operations: {error!r:.120}", flush=True)

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


def environment(device: torch.device, libs: Libraries) -> dict[str, str]:
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
        **{name: libs.version(name) for name, _ in Libraries.NAMES},
        "CUDA": str(torch.version.cuda) if device.type == "cuda" else "–",
        "os": platform.platform(),
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d"),
    }


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None or math.isnan(value) else f"{value:{spec}}{suffix}"


def markdown(
    cases: list[Case],
    rows: list[Row],
    info: dict[str, str],
    counts: list[CensusRow],
    skipped: dict[str, str],
) -> str:
    lines = [
        "| case | implementation | forward (ms) | forward + backward (ms) | ratio, forward "
        "| ratio, forward + backward | peak extra memory (MiB) | memory ratio "
        "| ATen ops, forward + backward |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in cases:
        for row in (r for r in rows if r.case == case.key):
            name = f"**{row.impl}**" if row.kind in ("ours", "compiled") else row.impl
            if row.error:
                lines.append(f"| {case.title} | {name} | failed: {row.error} | | | | | | |")
                continue
            lines.append(
                f"| {case.title} | {name} | {_fmt(row.forward_ms, '.2f')} "
                f"| {_fmt(row.forward_backward_ms, '.2f')} | {_fmt(row.forward_ratio, '.2f', '×')} "
                f"| {_fmt(row.forward_backward_ratio, '.2f', '×')} | {_fmt(row.memory_mib, '.1f')} "
                f"| {_fmt(row.memory_ratio, '.2f', '×')} | {row.aten_ops or '–'} |"
            )
    lines.append("")
    lines.append(
        "Ratios are to the first row of each case (the torch built-in or formulation) on the same "
        "tensors in the same run: the median over rounds of the per-round ratio. ATen ops: the "
        "operations one forward + backward dispatches on this device with the default settings."
    )
    if skipped:
        lines.append("")
        lines.append(
            "Not measured here (not importable): "
            + "; ".join(f"{name} ({why})" for name, why in skipped.items())
            + "."
        )
    lines.append("")
    lines.append("| target (forward + backward) | measured | met |")
    lines.append("| --- | ---: | :---: |")
    for case in cases:
        if case.target is None:
            continue
        for mine in (r for r in rows if r.case == case.key and r.kind == "ours"):
            if mine.forward_backward_ratio is None:
                continue
            met = mine.forward_backward_ratio <= case.target
            text = f"{_fmt(mine.forward_backward_ratio, '.2f', '×')}"
            if case.memory_target is not None and mine.memory_ratio is not None:
                text += f"; memory {mine.memory_ratio:.2f}×"
                met = met and mine.memory_ratio <= case.memory_target
            if "torchvision's" in case.target_text:
                tv = next(
                    (r for r in rows if r.case == case.key and r.impl.startswith("torchvision")),
                    None,
                )
                if tv is not None and tv.memory_mib and mine.memory_mib is not None:
                    share = mine.memory_mib / tv.memory_mib
                    text += f"; memory {share:.2f}× torchvision's"
                    met = met and share <= 0.5
            title = (
                case.title
                if len([i for i in case.impls if i.kind == "ours"]) == 1
                else (f"{case.title}, `{mine.impl}`")
            )
            lines.append(f"| {title}: {case.target_text} | {text} | {'yes' if met else 'no'} |")
    lines.append("")
    lines += census_markdown(counts)
    lines.append("")
    lines.append("| machine and versions | |")
    lines.append("| --- | --- |")
    for key, value in info.items():
        lines.append(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def census_markdown(counts: list[CensusRow]) -> list[str]:
    """The census table: every public loss's ATen operations next to torch's version's."""
    lines = [
        "ATen operations per forward + backward, as CUDA tensors run them (value checks off), "
        "counted on small CPU tensors: each is at least one kernel launch on a GPU.",
        "",
        "| loss | ours | torch's version | torch | ratio | contended atomic adds |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for row in counts:
        contended = "; ".join(sorted(set(row.contended))) or "none"
        lines.append(
            f"| `{row.name}` | {row.ours} | {row.torch_name} | {row.torch or '–'} "
            f"| {f'{row.ours / row.torch:.2f}×' if row.torch else '–'} | {contended} |"
        )
    lines.append("")
    lines += [f"{line}." for line in census_summary(counts)]
    return lines


def case_info(cases: list[Case]) -> list[dict[str, object]]:
    """What the page says about each case besides its rows: title, reference, targets (the
    forward + backward ratio of ours; a memory target against the reference, or for the sigmoid
    focal loss against torchvision's formula, as `markdown` checks them)."""
    return [
        {
            "key": case.key,
            "title": case.title,
            "reference": case.reference.name,
            "target": case.target,
            "target_text": case.target_text,
            "memory_target": (
                {"impl": case.reference.name, "ratio": case.memory_target}
                if case.memory_target is not None
                else {"impl": "torchvision formula", "ratio": 0.5}
                if "torchvision's" in case.target_text
                else None
            ),
        }
        for case in cases
    ]


def census_json(counts: list[CensusRow]) -> dict[str, object]:
    """The census's part of a results file: one entry per loss, and the summary lines."""
    return {"aten_ops": [c.__dict__ for c in counts], "summary": census_summary(counts)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings, no compile, no files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--suite", choices=("cpu", "cuda"), default=None, help="the case list (default: device's)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="scale the GPU cases' sizes")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--only", default="", help="comma-separated case keys (prefixes); prints, writes no files"
    )
    parser.add_argument("--no-write", action="store_true", help="print, write no files")
    parser.add_argument("--census-only", action="store_true", help="only count ATen operations")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    suite = args.suite or ("cuda" if device.type == "cuda" else "cpu")
    started = time.perf_counter()
    counts = census()
    for line in census_summary(counts):
        print(line, flush=True)
    if args.census_only:
        print("\n".join(census_markdown(counts)))
        existing = ROOT / "docs" / "performance" / "results-cpu.json"
        if not args.no_write and existing.is_file():
            # The counts do not depend on the machine: refresh them without re-timing.
            results = json.loads(existing.read_text())
            results.update(census_json(counts))
            existing.write_text(json.dumps(results, indent=2) + "\n")
            print(f"census written to {existing.relative_to(ROOT)}", flush=True)
        return
    rounds = args.rounds or (1 if args.quick else 3)
    min_run_time = 0.05 if args.quick else (0.3 if device.type == "cpu" else 0.1)
    libs = Libraries()
    for name, why in libs.missing.items():
        print(f"left out: {name} ({why})", flush=True)
    cases = build_cpu_cases(libs) if suite == "cpu" else build_cuda_cases(libs, args.scale)
    if args.only:
        prefixes = args.only.split(",")
        cases = [c for c in cases if any(c.key.startswith(p) for p in prefixes)]
    info = environment(device, libs)
    rows: list[Row] = []
    use_compile = not args.quick and device.type == "cpu"
    out = ROOT / "docs" / "performance"
    tag = "cpu" if device.type == "cpu" else "cuda"

    def write(measured: list[Case]) -> None:
        """The JSON of the cases measured so far: a run cut short still leaves its figures."""
        # A subset (--only) prints its figures and writes nothing: the JSON holds one whole run.
        if args.quick or args.no_write or args.only:
            return
        out.mkdir(parents=True, exist_ok=True)
        results = {
            "environment": info,
            "cases": case_info(measured),
            "rows": [r.__dict__ for r in rows],
            **census_json(counts),
            "left_out": libs.missing,
        }
        (out / f"results-{tag}.json").write_text(json.dumps(results, indent=2) + "\n")

    for index, case in enumerate(cases):
        t0 = time.perf_counter()
        case_rows = measure_case(case, device, rounds, min_run_time, use_compile)
        rows.extend(case_rows)
        for row in case_rows:
            print(
                f"{case.key:30s} {row.impl:38s} "
                f"f {_fmt(row.forward_ms, '8.3f')} ms  "
                f"fb {_fmt(row.forward_backward_ms, '8.3f')} ms  "
                f"{_fmt(row.forward_backward_ratio, '6.2f', 'x')}  "
                f"mem {_fmt(row.memory_mib, '8.1f')} MiB  ops {row.aten_ops or '-':>4} "
                f"{row.error or ''}",
                flush=True,
            )
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        write(cases[: index + 1])
    info["load average at end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    info["benchmark wall time"] = f"{time.perf_counter() - started:.0f} s"
    table = markdown(cases, rows, info, counts, libs.missing)
    print(table)
    write(cases)


if __name__ == "__main__":
    main()
