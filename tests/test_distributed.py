"""`distributed=True`: two gloo processes on the CPU give the loss of the concatenated batch.

One spawn of 2 processes runs every check (a spawn costs seconds; a check, milliseconds). Each
rank builds the same global batch from a fixed seed, computes the single-process loss over all
of it, then the distributed loss over its own slice, and records the largest absolute
differences:

- value: the distributed loss on the rank against the single-process loss;
- gradient, the DDP way: DDP averages gradients over the W ranks, so a rank's gradient with
  respect to its own inputs, divided by W, must equal the single-process gradient with respect
  to those rows (then the averaged parameter gradient is the single-process one by the chain
  rule);
- real DDP: a tiny model wrapped in `DistributedDataParallel`, whose averaged parameter
  gradients must equal those of an identical model trained on the whole batch in one process.

The "local" checks run the ordinary loss per rank, the bug this option fixes, and must differ.
The parent process collects both ranks' results; each check is its own test.
"""

from __future__ import annotations

import copy
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.multiprocessing.spawn import start_processes
from torch.nn.parallel import DistributedDataParallel

from deeplossdive.functional import (
    clip_loss,
    dice_loss,
    jaccard_loss,
    nt_xent_loss,
    siglip_loss,
    sigmoid_dice_loss,
    sigmoid_jaccard_loss,
    sigmoid_tversky_loss,
    supervised_contrastive_loss,
    tversky_loss,
)
from deeplossdive.nn import (
    ClipLoss,
    DiceLoss,
    JaccardLoss,
    NTXentLoss,
    SigLipLoss,
    SigmoidDiceLoss,
    SigmoidJaccardLoss,
    SigmoidTverskyLoss,
    SupervisedContrastiveLoss,
    TverskyLoss,
)
from tests.oracles import clip as clip_oracles

WORLD_SIZE = 2
SPAWN_TIMEOUT_S = 120.0
# float64 throughout: the sums over ranks only reorder additions (about 1e-16 each).
TOL = 1e-12
# The ordinary (per-rank) loss must miss the global one by more than this.
BUG_MIN = 1e-3

LossFn = Callable[..., Tensor]

SOFTMAX: dict[str, LossFn] = {
    "dice": dice_loss,
    "jaccard": jaccard_loss,
    "tversky": lambda *a, **k: tversky_loss(*a, alpha=0.3, beta=0.7, gamma=0.75, **k),
}
SIGMOID: dict[str, LossFn] = {
    "sigmoid_dice": sigmoid_dice_loss,
    "sigmoid_jaccard": sigmoid_jaccard_loss,
    "sigmoid_tversky": lambda *a, **k: sigmoid_tversky_loss(*a, alpha=0.7, beta=0.3, **k),
}
OVERLAP_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("batch-mean", {"aggregation": "batch"}),
    ("batch-sum-ignore", {"aggregation": "batch", "reduction": "sum", "empty": "ignore"}),
    ("per_image-mean", {"aggregation": "per_image"}),
    ("per_image-mean-ignore", {"aggregation": "per_image", "empty": "ignore"}),
    ("per_image-mean-ignore_absent", {"aggregation": "per_image", "empty": "ignore_absent"}),
    ("per_image-sum", {"aggregation": "per_image", "reduction": "sum"}),
)
# Rows of the global batch on each rank: unequal on purpose (a custom sampler's last batch).
OVERLAP_SPLIT = (0, 2, 5)
CONTRASTIVE_SPLIT = (0, 3, 8)


# --- the global batches (the same on every rank) -------------------------------------------------


def _softmax_batch() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    logits = 2 * torch.randn(5, 3, 4, 4, generator=gen, dtype=torch.float64)
    target = torch.randint(3, (5, 4, 4), generator=gen)
    target[:2][target[:2] == 2] = 1  # class 2 is absent from rank 0's images
    target[1] = -100  # an image without a valid pixel (left out of every mean)
    target[3, :2] = -100
    return logits, target


def _sigmoid_batch() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(2)
    logits = 2 * torch.randn(5, 2, 4, 4, generator=gen, dtype=torch.float64)
    target = (torch.rand(5, 2, 4, 4, generator=gen, dtype=torch.float64) < 0.3).double()
    target[0, 1] = 0.0  # an empty mask on rank 0 ...
    logits[0, 1] = -50.0  # ... predicted empty: an "empty" entry
    return logits, target


def _views() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    z1 = base + 0.5 * torch.randn(8, 5, generator=gen, dtype=torch.float64)
    z2 = base + 0.5 * torch.randn(8, 5, generator=gen, dtype=torch.float64)
    return z1, z2


def _image_text() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(6)
    base = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    images = 3 * base + torch.randn(8, 5, generator=gen, dtype=torch.float64)
    texts = base + 0.5 * torch.randn(8, 5, generator=gen, dtype=torch.float64)
    return images, texts


# CLIP and SigLIP with their scale (and bias) as tensors that require grad, as when learned.
IMAGE_TEXT: dict[str, tuple[LossFn, dict[str, Any]]] = {
    "clip": (clip_loss, {"logit_scale": 1 / 0.07}),
    "siglip": (siglip_loss, {"logit_scale": 10.0, "logit_bias": -10.0}),
}


def _labelled() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(4)
    embeddings = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    # Rank 0 holds rows 0-2, rank 1 rows 3-7. Label 7's positives sit only on the other rank,
    # label 5 is alone in the global batch (no positive anywhere), label 3 has both.
    labels = torch.tensor([7, 3, 5, 3, 7, 3, 9, 9])
    return embeddings, labels


# --- the checks, run on every rank ---------------------------------------------------------------


def _grad(leaf: Tensor) -> Tensor:
    assert leaf.grad is not None
    return leaf.grad


def _max_abs(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def _compare(
    rank: int,
    fn: LossFn,
    inputs: tuple[Tensor, ...],
    split: tuple[int, ...],
    *,
    num_differentiable: int,
    distributed: bool = True,
    **options: Any,
) -> tuple[float, float]:
    """(|value - single-process value|, max |gradient / W - single-process gradient|)."""
    full = [t.clone().requires_grad_(i < num_differentiable) for i, t in enumerate(inputs)]
    reference = fn(*full, **options)
    torch.autograd.backward(reference)
    lo, hi = split[rank], split[rank + 1]
    local = [t[lo:hi].clone().requires_grad_(i < num_differentiable) for i, t in enumerate(inputs)]
    loss = fn(*local, distributed=distributed, **options)
    torch.autograd.backward(loss)
    value = abs(loss.item() - reference.item())
    grads = [
        _max_abs(_grad(part) / WORLD_SIZE, _grad(whole)[lo:hi])
        for part, whole in zip(local[:num_differentiable], full[:num_differentiable], strict=True)
    ]
    return value, max(grads)


def _learned(values: dict[str, Any]) -> dict[str, Tensor]:
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}


def _compare_learned(
    rank: int,
    fn: LossFn,
    inputs: tuple[Tensor, ...],
    split: tuple[int, ...],
    learned: dict[str, Any],
    **options: Any,
) -> tuple[float, float]:
    """`_compare` with tensor hyperparameters that require grad (a learned scale and bias),
    replicated on every rank as DDP keeps a parameter: their gradients summed over the ranks
    and divided by W (DDP's average) must be the single-process ones."""
    full, whole_scalars = [t.clone().requires_grad_() for t in inputs], _learned(learned)
    reference = fn(*full, **whole_scalars, **options)
    torch.autograd.backward(reference)
    lo, hi = split[rank], split[rank + 1]
    local, scalars = [t[lo:hi].clone().requires_grad_() for t in inputs], _learned(learned)
    loss = fn(*local, distributed=True, **scalars, **options)
    torch.autograd.backward(loss)
    grads = [
        _max_abs(_grad(part) / WORLD_SIZE, _grad(whole)[lo:hi])
        for part, whole in zip(local, full, strict=True)
    ]
    for name, scalar in scalars.items():
        averaged = _grad(scalar).clone()
        dist.all_reduce(averaged)
        grads.append(_max_abs(averaged / WORLD_SIZE, _grad(whole_scalars[name])))
    return abs(loss.item() - reference.item()), max(grads)


def _image_text_compare(
    rank: int, name: str, split: tuple[int, ...] = CONTRASTIVE_SPLIT, **options: Any
) -> tuple[float, float]:
    """`_compare` of CLIP or SigLIP on the image-text batch, scale and bias as floats."""
    fn, learned = IMAGE_TEXT[name]
    return _compare(rank, fn, _image_text(), split, num_differentiable=2, **learned, **options)


def _open_clip_difference(
    rank: int, name: str, split: tuple[int, ...], **open_clip_options: Any
) -> tuple[float, float]:
    """Ours against OpenCLIP's distributed loss (features normalised first, as its model does):
    the mean over the ranks of OpenCLIP's per-rank values is our value; the gradients of each
    rank's embeddings are equal rank by rank (both are those of the sum of the ranks' losses),
    and those of the scale and bias once summed over the ranks, as DDP does (with
    `local_loss=False` OpenCLIP's every rank computes the whole batch's logits, so its per-rank
    scale gradients split the total differently)."""
    fn, learned = IMAGE_TEXT[name]
    lo, hi = split[rank], split[rank + 1]
    results = []
    for ours in (True, False):
        local = [t[lo:hi].clone().requires_grad_() for t in _image_text()]
        scalars = _learned(learned)
        if ours:
            loss = fn(*local, distributed=True, **scalars)
        else:
            theirs = (
                clip_oracles.open_clip_clip_loss
                if name == "clip"
                else clip_oracles.open_clip_siglip_loss
            )
            unit = [F.normalize(t, dim=1) for t in local]
            loss = theirs(
                *unit, *scalars.values(), rank=rank, world_size=WORLD_SIZE, **open_clip_options
            )
        torch.autograd.backward(loss)
        summed = [_grad(t).clone() for t in scalars.values()]
        for grad in summed:
            dist.all_reduce(grad)
        results.append((loss.detach().clone(), [*(_grad(t) for t in local), *summed]))
    (ours_value, ours_grads), (their_value, their_grads) = results
    dist.all_reduce(their_value)
    grads = [_max_abs(a, b) for a, b in zip(ours_grads, their_grads, strict=True)]
    return abs(ours_value.item() - their_value.item() / WORLD_SIZE), max(grads)


def _as_function(plain: nn.Module, distributed: nn.Module) -> LossFn:
    """The two modules as one loss function with a `distributed` keyword."""

    def call(*inputs: Tensor, distributed_: bool = False) -> Tensor:
        result: Tensor = (distributed if distributed_ else plain)(*inputs)
        return result

    return lambda *inputs, distributed=False: call(*inputs, distributed_=distributed)


def _ddp_grad_difference(
    model: nn.Module,
    forward: Callable[[nn.Module, slice, bool], Tensor],
    rank: int,
    split: tuple[int, ...],
    *,
    distributed: bool = True,
) -> tuple[float, float]:
    """Parameter gradients of DDP over the two ranks against one process over the whole batch."""
    reference = copy.deepcopy(model)
    whole = forward(reference, slice(None), False)
    torch.autograd.backward(whole)
    # DDP keeps its process group alive after destroy_process_group (its gloo threads outlive
    # it): on a group of its own, the last collectives of this process (on the default group,
    # which is destroyed) never run on a group whose threads are still alive at exit.
    ddp = DistributedDataParallel(model, process_group=dist.new_group())
    loss = forward(ddp, slice(split[rank], split[rank + 1]), distributed)
    torch.autograd.backward(loss)
    grads = [
        _max_abs(_grad(p), _grad(q))
        for p, q in zip(model.parameters(), reference.parameters(), strict=True)
    ]
    return abs(loss.item() - whole.item()), max(grads)


def _checks(rank: int) -> Iterator[tuple[str, tuple[float, float]]]:
    logits, target = _softmax_batch()
    for name, fn in SOFTMAX.items():
        for option_id, options in OVERLAP_OPTIONS:
            yield (
                f"{name}-{option_id}",
                _compare(
                    rank, fn, (logits, target), OVERLAP_SPLIT, num_differentiable=1, **options
                ),
            )
    sigmoid_logits, sigmoid_target = _sigmoid_batch()
    for name, fn in SIGMOID.items():
        for option_id, options in OVERLAP_OPTIONS:
            yield (
                f"{name}-{option_id}",
                _compare(
                    rank,
                    fn,
                    (sigmoid_logits, sigmoid_target),
                    OVERLAP_SPLIT,
                    num_differentiable=1,
                    **options,
                ),
            )
    views = _views()
    labelled = _labelled()
    for reduction in ("mean", "sum"):
        yield (
            f"nt_xent-{reduction}",
            _compare(
                rank,
                nt_xent_loss,
                views,
                CONTRASTIVE_SPLIT,
                num_differentiable=2,
                reduction=reduction,
                temperature=0.5,
            ),
        )
        yield (
            f"supervised_contrastive-{reduction}",
            _compare(
                rank,
                supervised_contrastive_loss,
                labelled,
                CONTRASTIVE_SPLIT,
                num_differentiable=1,
                reduction=reduction,
                temperature=0.5,
            ),
        )
    image_text = _image_text()
    for name, (fn, learned) in IMAGE_TEXT.items():
        for reduction in ("mean", "sum"):
            yield f"{name}-{reduction}", _image_text_compare(rank, name, reduction=reduction)
        yield (
            f"{name}-learned",
            _compare_learned(rank, fn, image_text, CONTRASTIVE_SPLIT, learned),
        )
        yield f"{name}-equal-halves", _image_text_compare(rank, name, (0, 4, 8))
    # OpenCLIP's ClipLoss(local_loss, gather_with_grad=True) and SigLipLoss(dist_impl) over equal
    # halves (it assumes equal per-rank batches).
    for local_loss in (True, False):
        yield (
            f"open_clip-clip-local_loss={local_loss}",
            _open_clip_difference(rank, "clip", (0, 4, 8), local_loss=local_loss),
        )
    for dist_impl in ("shift", "gather"):
        yield (
            f"open_clip-siglip-{dist_impl}",
            _open_clip_difference(rank, "siglip", (0, 4, 8), dist_impl=dist_impl),
        )
    # Equal halves too (the usual DistributedSampler case).
    yield (
        "nt_xent-equal-halves",
        _compare(rank, nt_xent_loss, views, (0, 4, 8), num_differentiable=2),
    )
    yield (
        "supervised_contrastive-equal-halves",
        _compare(rank, supervised_contrastive_loss, labelled, (0, 4, 8), num_differentiable=1),
    )

    # Modules pass the option through.
    modules: dict[str, tuple[Callable[..., nn.Module], tuple[Tensor, ...], tuple[int, ...]]] = {
        "DiceLoss": (DiceLoss, (logits, target), OVERLAP_SPLIT),
        "JaccardLoss": (JaccardLoss, (logits, target), OVERLAP_SPLIT),
        "TverskyLoss": (TverskyLoss, (logits, target), OVERLAP_SPLIT),
        "SigmoidDiceLoss": (SigmoidDiceLoss, (sigmoid_logits, sigmoid_target), OVERLAP_SPLIT),
        "SigmoidJaccardLoss": (SigmoidJaccardLoss, (sigmoid_logits, sigmoid_target), OVERLAP_SPLIT),
        "SigmoidTverskyLoss": (SigmoidTverskyLoss, (sigmoid_logits, sigmoid_target), OVERLAP_SPLIT),
        "NTXentLoss": (NTXentLoss, views, CONTRASTIVE_SPLIT),
        "ClipLoss": (ClipLoss, image_text, CONTRASTIVE_SPLIT),
        "SigLipLoss": (SigLipLoss, image_text, CONTRASTIVE_SPLIT),
        "SupervisedContrastiveLoss": (SupervisedContrastiveLoss, labelled, CONTRASTIVE_SPLIT),
    }
    for name, (module, inputs, split) in modules.items():
        extra = {"aggregation": "batch"} if inputs[0].dim() == 4 else {}
        call = _as_function(module(**extra), module(distributed=True, **extra))
        num_differentiable = 2 if name in ("NTXentLoss", "ClipLoss", "SigLipLoss") else 1
        yield (
            f"module-{name}",
            _compare(rank, call, inputs, split, num_differentiable=num_differentiable),
        )

    # Real DistributedDataParallel: a 1x1 convolution under batch Dice, a linear projection
    # head under NT-Xent and SupCon.
    gen = torch.Generator().manual_seed(5)
    images = torch.randn(5, 4, 4, 4, generator=gen, dtype=torch.float64)
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 3, 1).double()

    def segment(model: nn.Module, rows: slice, distributed: bool) -> Tensor:
        return dice_loss(
            model(images[rows]), target[rows], aggregation="batch", distributed=distributed
        )

    yield "ddp-dice-batch", _ddp_grad_difference(copy.deepcopy(conv), segment, rank, OVERLAP_SPLIT)
    yield (
        "local-ddp-dice-batch",
        _ddp_grad_difference(copy.deepcopy(conv), segment, rank, OVERLAP_SPLIT, distributed=False),
    )
    z1, z2 = views
    head = nn.Linear(5, 4).double()

    def contrast(model: nn.Module, rows: slice, distributed: bool) -> Tensor:
        # One forward of both views: DDP expects one forward per backward.
        n = z1[rows].shape[0]
        both = model(torch.cat([z1[rows], z2[rows]]))
        return nt_xent_loss(both[:n], both[n:], distributed=distributed)

    split = CONTRASTIVE_SPLIT
    yield "ddp-nt_xent", _ddp_grad_difference(copy.deepcopy(head), contrast, rank, split)
    yield (
        "local-ddp-nt_xent",
        _ddp_grad_difference(copy.deepcopy(head), contrast, rank, split, distributed=False),
    )
    embeddings, labels = labelled

    def supcon(model: nn.Module, rows: slice, distributed: bool) -> Tensor:
        return supervised_contrastive_loss(
            model(embeddings[rows]), labels[rows], distributed=distributed
        )

    yield (
        "ddp-supervised_contrastive",
        _ddp_grad_difference(copy.deepcopy(head), supcon, rank, split),
    )

    # The bug, without DDP: the ordinary loss on each rank's slice.
    for name, fn in (("dice", dice_loss), ("sigmoid_dice", sigmoid_dice_loss)):
        inputs = (logits, target) if name == "dice" else (sigmoid_logits, sigmoid_target)
        yield (
            f"local-{name}-batch",
            _compare(
                rank,
                fn,
                inputs,
                OVERLAP_SPLIT,
                num_differentiable=1,
                distributed=False,
                aggregation="batch",
            ),
        )
    yield (
        "local-nt_xent",
        _compare(
            rank, nt_xent_loss, views, CONTRASTIVE_SPLIT, num_differentiable=2, distributed=False
        ),
    )
    yield (
        "local-supervised_contrastive",
        _compare(
            rank,
            supervised_contrastive_loss,
            labelled,
            CONTRASTIVE_SPLIT,
            num_differentiable=1,
            distributed=False,
        ),
    )
    for name in IMAGE_TEXT:
        yield f"local-{name}", _image_text_compare(rank, name, distributed=False)


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    try:
        results = dict(_checks(rank))
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


# --- the parent ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _spawn(out_dir: str) -> None:
    # torch.multiprocessing carries no annotations.
    context = start_processes(  # type: ignore[no-untyped-call]
        _worker,
        args=(_free_port(), out_dir),
        nprocs=WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    assert context is not None
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the 2-process run did not finish within {SPAWN_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[float, float]]:
    """{check: (largest value difference, largest gradient difference) over both ranks}."""
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available")
    with tempfile.TemporaryDirectory() as out_dir:
        _spawn(out_dir)
        per_rank = [
            json.loads(Path(out_dir, f"rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)
        ]
    return {
        name: (max(r[name][0] for r in per_rank), max(r[name][1] for r in per_rank))
        for name in per_rank[0]
    }


def _names(local: bool) -> list[str]:
    # The check names, without running anything: the same loops as `_checks`.
    overlap = [f"{n}-{o}" for n in [*SOFTMAX, *SIGMOID] for o, _ in OVERLAP_OPTIONS]
    contrastive = [
        f"{n}-{r}" for r in ("mean", "sum") for n in ("nt_xent", "supervised_contrastive")
    ] + ["nt_xent-equal-halves", "supervised_contrastive-equal-halves"]
    image_text = [
        f"{n}-{c}" for n in IMAGE_TEXT for c in ("mean", "sum", "learned", "equal-halves")
    ] + [
        "open_clip-clip-local_loss=True",
        "open_clip-clip-local_loss=False",
        "open_clip-siglip-shift",
        "open_clip-siglip-gather",
    ]
    modules = [
        f"module-{n}"
        for n in (
            "DiceLoss",
            "JaccardLoss",
            "TverskyLoss",
            "SigmoidDiceLoss",
            "SigmoidJaccardLoss",
            "SigmoidTverskyLoss",
            "NTXentLoss",
            "SupervisedContrastiveLoss",
            "ClipLoss",
            "SigLipLoss",
        )
    ]
    ddp = ["ddp-dice-batch", "ddp-nt_xent", "ddp-supervised_contrastive"]
    bugs = [
        "local-ddp-dice-batch",
        "local-ddp-nt_xent",
        "local-dice-batch",
        "local-sigmoid_dice-batch",
        "local-nt_xent",
        "local-supervised_contrastive",
        "local-clip",
        "local-siglip",
    ]
    return bugs if local else overlap + contrastive + image_text + modules + ddp


def test_every_check_ran(results: dict[str, tuple[float, float]]) -> None:
    assert sorted(results) == sorted(_names(local=False) + _names(local=True))


@pytest.mark.parametrize("name", _names(local=False))
def test_distributed_equals_single_process(
    results: dict[str, tuple[float, float]], name: str
) -> None:
    value, grad = results[name]
    assert value <= TOL, f"{name}: value differs by {value:.3g}"
    assert grad <= TOL, f"{name}: gradient differs by {grad:.3g}"


@pytest.mark.parametrize("name", _names(local=True))
def test_rank_local_loss_differs(results: dict[str, tuple[float, float]], name: str) -> None:
    """The bug the option fixes is visible with these batches: the checks above can fail."""
    _, grad = results[name]
    # DDP returns each rank's own value; its gradient is what matters there.
    assert grad > BUG_MIN, f"{name}: the rank-local loss matches the global one ({grad:.3g})"


def test_report_largest_difference(
    results: dict[str, tuple[float, float]], report: Callable[[str], None]
) -> None:
    exact = [results[name] for name in _names(local=False)]
    value = max(v for v, _ in exact)
    grad = max(g for _, g in exact)
    report(
        f"{len(exact)} distributed checks on {WORLD_SIZE} gloo processes (float64): "
        f"largest |value difference| {value:.3g}, largest |gradient difference| {grad:.3g}"
    )
    assert max(value, grad) <= TOL


# --- without a process group, distributed=True is the ordinary loss ------------------------------


CASES: list[tuple[str, LossFn, Callable[[], tuple[Tensor, ...]], int]] = [
    *((name, fn, _softmax_batch, 1) for name, fn in SOFTMAX.items()),
    *((name, fn, _sigmoid_batch, 1) for name, fn in SIGMOID.items()),
    ("nt_xent", nt_xent_loss, _views, 2),
    ("supervised_contrastive", supervised_contrastive_loss, _labelled, 1),
    ("clip", clip_loss, _image_text, 2),
    ("siglip", siglip_loss, _image_text, 2),
]


@pytest.mark.parametrize(
    ("fn", "make", "num_differentiable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_without_process_group_is_the_ordinary_loss(
    fn: LossFn, make: Callable[[], tuple[Tensor, ...]], num_differentiable: int, reduction: str
) -> None:
    assert not dist.is_initialized()
    inputs = make()
    results = []
    for distributed in (False, True):
        leaves = [t.clone().requires_grad_(i < num_differentiable) for i, t in enumerate(inputs)]
        loss = fn(*leaves, reduction=reduction, distributed=distributed)
        torch.autograd.backward(loss)
        results.append((loss, [leaf.grad for leaf in leaves[:num_differentiable]]))
    (plain, plain_grads), (dist_loss, dist_grads) = results
    assert torch.equal(plain, dist_loss)
    for a, b in zip(plain_grads, dist_grads, strict=True):
        assert a is not None
        assert b is not None
        assert torch.equal(a, b)


def test_world_size_one_is_the_ordinary_loss(tmp_path: Path) -> None:
    """A process group of one process communicates nothing and changes nothing."""
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        for _, fn, make, _ in CASES:
            inputs = make()
            plain = fn(*inputs)
            assert torch.equal(fn(*inputs, distributed=True), plain)
    finally:
        dist.destroy_process_group()


LOSSES_AND_MODULES: list[tuple[str, Callable[..., object]]] = [
    ("dice_loss", lambda: dice_loss(*_softmax_batch(), reduction="none", distributed=True)),
    (
        "sigmoid_tversky_loss",
        lambda: sigmoid_tversky_loss(*_sigmoid_batch(), reduction="none", distributed=True),
    ),
    ("nt_xent_loss", lambda: nt_xent_loss(*_views(), reduction="none", distributed=True)),
    (
        "supervised_contrastive_loss",
        lambda: supervised_contrastive_loss(*_labelled(), reduction="none", distributed=True),
    ),
    ("clip_loss", lambda: clip_loss(*_image_text(), reduction="none", distributed=True)),
    ("siglip_loss", lambda: siglip_loss(*_image_text(), reduction="none", distributed=True)),
    ("DiceLoss", lambda: DiceLoss(reduction="none", distributed=True)),
    ("ClipLoss", lambda: ClipLoss(reduction="none", distributed=True)),
    ("SigmoidJaccardLoss", lambda: SigmoidJaccardLoss(reduction="none", distributed=True)),
    ("NTXentLoss", lambda: NTXentLoss(reduction="none", distributed=True)),
    (
        "SupervisedContrastiveLoss",
        lambda: SupervisedContrastiveLoss(reduction="none", distributed=True),
    ),
]


@pytest.mark.parametrize(
    ("name", "call"), LOSSES_AND_MODULES, ids=[c[0] for c in LOSSES_AND_MODULES]
)
def test_reduction_none_is_refused(name: str, call: Callable[[], object]) -> None:
    expected = f"{name}: reduction must be 'mean' or 'sum' with distributed=True, got 'none'"
    with pytest.raises(ValueError, match=f"^{expected}$"):
        call()


def test_module_repr_shows_distributed() -> None:
    assert repr(NTXentLoss(distributed=True)) == (
        "NTXentLoss(temperature=0.5, reduction='mean', distributed=True)"
    )
    assert repr(DiceLoss()) == (
        "DiceLoss(smooth=1e-05, include_background=True, aggregation='per_image', "
        "ignore_index=-100, empty='one', reduction='mean')"
    )
