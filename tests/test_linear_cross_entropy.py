"""Chunked linear cross-entropy: the shared contract, equality with the materialized version in
value and in the gradients of hidden, weight and bias, parity with torch, memory, the page."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from deeplossdive import Reduction, value_checks
from deeplossdive.functional import cross_entropy, linear_cross_entropy
from deeplossdive.losses.linear_cross_entropy import default_chunk_size
from deeplossdive.nn import LinearCrossEntropyLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import linear_cross_entropy as oracles
from tests.syncs import NoSync

CLASSES = 4
SHAPES = ((6, 5), (2, 3, 7))  # hidden (N, H) and (B, T, H), H >= CLASSES (see `_perfect`)


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """hidden of `shape` (..., H), weight (V, H) with logits of spread about 2, labels (...)."""
    hidden = torch.randn(shape, generator=gen, dtype=torch.float64)
    weight = 2 * torch.randn(CLASSES, shape[-1], generator=gen, dtype=torch.float64)
    weight = weight / math.sqrt(shape[-1])
    target = torch.randint(CLASSES, shape[:-1], generator=gen)
    return hidden.to(dtype), weight.to(dtype), target


def _saturate(inputs: Inputs) -> Inputs:
    """Logits exactly ±100: hidden ±100 on its first feature, weight ±1 there and 0 elsewhere."""
    hidden, weight, target = inputs
    sign = torch.where(hidden[..., :1] > 0, 100.0, -100.0)
    sign.view(-1, 1)[0] = 100.0
    saturated = torch.cat([sign, torch.zeros_like(hidden[..., 1:])], dim=-1).to(hidden.dtype)
    column = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)[:, None]
    pattern = torch.cat([column, torch.zeros(CLASSES, weight.shape[1] - 1)], dim=1)
    return saturated, pattern.to(weight.dtype), target


def _perfect(inputs: Inputs) -> Inputs:
    """hidden = one-hot of the label, weight 200·[I | 0] - 100: logits +100 at the label, -100
    elsewhere."""
    hidden, weight, target = inputs
    features = hidden.shape[-1]
    one_hot = F.one_hot(target, features).to(hidden.dtype)
    block = torch.cat(
        [200 * torch.eye(CLASSES) - 100, torch.zeros(CLASSES, features - CLASSES)], dim=1
    )
    return one_hot, block.to(weight.dtype), target


def _ignore(inputs: Inputs, keep: Tensor) -> tuple[Inputs, Inputs]:
    hidden, weight, target = inputs
    ignored = target.clone()
    ignored[~keep] = -100
    return (hidden, weight, ignored), (hidden[keep], weight, target[keep])


def _errors() -> tuple[ErrorCase, ...]:
    hidden, weight, target = torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 4, 1])
    fn = linear_cross_entropy
    return (
        ErrorCase(
            "int-hidden",
            lambda: fn(target.view(3, 1).repeat(1, 4), weight, target),
            TypeError,
            "linear_cross_entropy: hidden must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "hidden-1d",
            lambda: fn(hidden[0], weight, target[0]),
            ValueError,
            "linear_cross_entropy: hidden must have at least 2 dimensions (N, H) or (..., H), "
            "got shape (4,)",
        ),
        ErrorCase(
            "weight-dtype",
            lambda: fn(hidden, weight.double(), target),
            TypeError,
            "linear_cross_entropy: weight must have the dtype of hidden (torch.float32), got "
            "dtype torch.float64",
        ),
        ErrorCase(
            "weight-features",
            lambda: fn(hidden, weight[:, :3], target),
            ValueError,
            "linear_cross_entropy: weight must have shape (V, 4) (one row of hidden's 4 features "
            "per class), got (5, 3)",
        ),
        ErrorCase(
            "weight-1d",
            lambda: fn(hidden, weight[0], target),
            ValueError,
            "linear_cross_entropy: weight must have 2 dimensions (V, H), got shape (4,)",
        ),
        ErrorCase(
            "one-class",
            lambda: fn(hidden, weight[:1], torch.zeros(3, dtype=torch.long)),
            ValueError,
            "linear_cross_entropy: weight must have at least 2 rows (classes), got 1",
        ),
        ErrorCase(
            "float-target",
            lambda: fn(hidden, weight, target.float()),
            TypeError,
            "linear_cross_entropy: target must be an integer tensor",
        ),
        ErrorCase(
            "target-shape",
            lambda: fn(hidden, weight, target[:2]),
            ValueError,
            "linear_cross_entropy: target must have shape (3,) (hidden's shape without H), got "
            "(2,)",
        ),
        ErrorCase(
            "bias-shape",
            lambda: fn(hidden, weight, target, bias=torch.zeros(4)),
            ValueError,
            "linear_cross_entropy: bias must have shape (5,) (one entry per row of weight), got "
            "(4,)",
        ),
        ErrorCase(
            "bias-dtype",
            lambda: fn(hidden, weight, target, bias=torch.zeros(5, dtype=torch.float64)),
            TypeError,
            "linear_cross_entropy: bias must have the dtype of hidden (torch.float32), got dtype "
            "torch.float64",
        ),
        ErrorCase(
            "z-loss-negative",
            lambda: fn(hidden, weight, target, z_loss=-1e-4),
            ValueError,
            "linear_cross_entropy: z_loss must be a finite number >= 0, got -0.0001",
        ),
        ErrorCase(
            "chunk-size-zero",
            lambda: fn(hidden, weight, target, chunk_size=0),
            ValueError,
            "linear_cross_entropy: chunk_size must be a positive integer or None, got 0",
        ),
        ErrorCase(
            "chunk-size-float",
            lambda: fn(hidden, weight, target, chunk_size=2.0),  # type: ignore[arg-type]
            TypeError,
            "linear_cross_entropy: chunk_size must be a positive integer or None, got float",
        ),
        ErrorCase(
            "label-range",
            lambda: fn(hidden, weight, torch.tensor([0, 5, 1])),
            ValueError,
            "linear_cross_entropy: target must hold class indices in [0, 5) or equal to "
            "ignore_index=-100, got 5",
        ),
        ErrorCase(
            "module-chunk-size",
            lambda: LinearCrossEntropyLoss(chunk_size=-2),
            ValueError,
            "LinearCrossEntropyLoss: chunk_size must be a positive integer or None, got -2",
        ),
        ErrorCase(
            "module-z-loss",
            lambda: LinearCrossEntropyLoss(z_loss=math.nan),
            ValueError,
            "LinearCrossEntropyLoss: z_loss must be a finite number >= 0, got nan",
        ),
    )


# Float16/bfloat16 hidden and weight: the matrix product rounds the logits to the input dtype
# before float32 takes over (on the CPU), as F.linear does, so the error is that of the logits
# (2^-8 relative in bfloat16) on top of the rounding of the result and of the gradient.
LOW_PRECISION_TOL = {torch.float16: (4e-3, 1e-3), torch.bfloat16: (3e-2, 1e-2)}

LINEAR_CE = LossSpec(
    function=linear_cross_entropy,
    module=LinearCrossEntropyLoss,
    oracle=oracles.linear_cross_entropy,
    make_inputs=_inputs,
    shapes=SHAPES,
    options=({}, {"z_loss": 1e-2}, {"chunk_size": 1}, {"chunk_size": 4, "z_loss": 0.5}),
    ids=("default", "z_loss=0.01", "chunk_size=1", "chunk_size=4,z_loss=0.5"),
    saturate=_saturate,
    perfect=None,
    ignore=_ignore,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)

# Minimal at the perfect prediction: without the z-loss only (with it, z = 100 there costs).
LINEAR_CE_PERFECT = replace(
    LINEAR_CE, options=({"chunk_size": 2},), ids=("chunk_size=2",), perfect=_perfect, errors=()
)


class TestLinearCrossEntropy(LossContract):
    spec = LINEAR_CE


class TestLinearCrossEntropyPerfect(LossContract):
    spec = LINEAR_CE_PERFECT


# ---------------------------------------------------------------- equals the materialized version


def _problem(
    n: int, dtype: torch.dtype, *, bias: bool, seed: int = 0, classes: int = 11, features: int = 6
) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, features, generator=gen, dtype=torch.float64)
    weight = torch.randn(classes, features, generator=gen, dtype=torch.float64)
    b = torch.randn(classes, generator=gen, dtype=torch.float64) if bias else None
    target = torch.randint(classes, (n,), generator=gen)
    target[::4] = -100
    return (
        hidden.to(dtype).requires_grad_(),
        weight.to(dtype).requires_grad_(),
        None if b is None else b.to(dtype).requires_grad_(),
        target,
    )


def _value_and_grads(
    loss: Tensor, leaves: tuple[Tensor | None, ...], seed: int = 5
) -> tuple[Tensor, ...]:
    """The value and the gradients of (loss · a random weight per entry) for `"none"`."""
    gen = torch.Generator().manual_seed(seed)
    scale = torch.rand(loss.shape, generator=gen, dtype=torch.float64).to(loss.dtype) + 0.5
    present = [leaf for leaf in leaves if leaf is not None]
    grads = torch.autograd.grad((loss * scale).sum(), present)
    return (loss.detach(), *grads)


def _materialized(
    hidden: Tensor, weight: Tensor, bias: Tensor | None, target: Tensor, **options: Any
) -> Tensor:
    return cross_entropy(F.linear(hidden, weight, bias), target, **options)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
@pytest.mark.parametrize("chunk_size", [None, 1, 4, 7, 100])
def test_equals_materialized_cross_entropy(
    dtype: torch.dtype, reduction: Reduction, bias: bool, z_loss: float, chunk_size: int | None
) -> None:
    """Value and the gradients of hidden, weight and bias; 18 tokens (not a multiple of 4 or 7),
    every fourth ignored."""
    hidden, weight, b, target = _problem(18, dtype, bias=bias)
    options: dict[str, Any] = {"z_loss": z_loss, "reduction": reduction}
    ours = linear_cross_entropy(hidden, weight, target, bias=b, chunk_size=chunk_size, **options)
    expected = _materialized(hidden, weight, b, target, **options)
    assert ours.dtype == dtype
    for actual, wanted in zip(
        _value_and_grads(ours, (hidden, weight, b)),
        _value_and_grads(expected, (hidden, weight, b)),
        strict=True,
    ):
        torch.testing.assert_close(actual, wanted)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_gradcheck_hidden_weight_bias(reduction: Reduction, bias: bool) -> None:
    hidden, weight, b, target = _problem(7, torch.float64, bias=bias, classes=5, features=3)
    leaves = tuple(t for t in (hidden, weight, b) if t is not None)

    def loss(*tensors: Tensor) -> Tensor:
        h, w, *rest = tensors
        return linear_cross_entropy(
            h,
            w,
            target,
            bias=rest[0] if rest else None,
            z_loss=0.1,
            chunk_size=3,
            reduction=reduction,
        )

    assert torch.autograd.gradcheck(loss, leaves)


def test_batched_hidden_and_the_shift_by_one() -> None:
    """(B, T, H) hidden states: `"none"` has the target's shape; next-token prediction pairs
    hidden[:, :-1] with labels[:, 1:], as with the materialized logits."""
    gen = torch.Generator().manual_seed(2)
    hidden = torch.randn(2, 5, 4, generator=gen)
    weight = torch.randn(9, 4, generator=gen)
    labels = torch.randint(9, (2, 5), generator=gen)
    unreduced = linear_cross_entropy(hidden[:, :-1], weight, labels[:, 1:], reduction="none")
    assert unreduced.shape == (2, 4)
    logits = F.linear(hidden, weight)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 9), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(
        linear_cross_entropy(hidden[:, :-1], weight, labels[:, 1:]), expected
    )


def test_all_ignored_mean_is_zero_with_zero_gradients() -> None:
    """As `cross_entropy`: 0 and zero gradients, where torch's mean is 0 / 0 = NaN."""
    hidden, weight, b, _ = _problem(5, torch.float32, bias=True)
    target = torch.full((5,), -100)
    loss = linear_cross_entropy(hidden, weight, target, bias=b)
    assert loss.item() == 0.0
    for grad in torch.autograd.grad(loss, (hidden, weight, b)):  # type: ignore[arg-type]
        assert grad.abs().max() == 0
    assert torch.isnan(F.linear_cross_entropy(hidden, weight, target, linear_bias=b))


def test_empty_batch() -> None:
    hidden = torch.zeros(0, 4, requires_grad=True)
    weight = torch.randn(3, 4, requires_grad=True)
    for reduction in ("mean", "sum"):
        loss = linear_cross_entropy(
            hidden, weight, torch.zeros(0, dtype=torch.long), reduction=reduction
        )
        assert loss.item() == 0.0


def test_double_backward_is_not_supported() -> None:
    """The gradients are computed (mean, sum) or recomputed (none) outside autograd: a second
    derivative raises instead of being silently wrong."""
    hidden, weight, _, target = _problem(6, torch.float64, bias=False)
    for reduction in ("mean", "none"):
        loss = linear_cross_entropy(hidden, weight, target, reduction=reduction).sum()
        (grad,) = torch.autograd.grad(loss, hidden, create_graph=True)
        with pytest.raises(RuntimeError):
            torch.autograd.grad(grad.sum(), weight)


def test_retain_graph_backward_twice() -> None:
    hidden, weight, _, target = _problem(6, torch.float32, bias=False)
    loss = linear_cross_entropy(hidden, weight, target)
    first = torch.autograd.grad(loss, hidden, retain_graph=True)[0]
    second = torch.autograd.grad(2 * loss, hidden)[0]
    torch.testing.assert_close(second, 2 * first)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
def test_low_precision_all_gradients(dtype: torch.dtype, z_loss: float) -> None:
    """float16/bfloat16 hidden and weight: the value and the three gradients in the input dtype,
    within the tolerance of `LOW_PRECISION_TOL` of the float64 result on the same values."""
    hidden, weight, b, target = _problem(37, dtype, bias=True, classes=50, features=16)
    wide = tuple(t.detach().double().requires_grad_() for t in (hidden, weight, b) if t is not None)
    ours = _value_and_grads(
        linear_cross_entropy(hidden, weight, target, bias=b, z_loss=z_loss, chunk_size=8),
        (hidden, weight, b),
    )
    expected = _value_and_grads(
        _materialized(wide[0], wide[1], wide[2], target, z_loss=z_loss), wide
    )
    rtol, atol = LOW_PRECISION_TOL[dtype]
    for actual, wanted in zip(ours, expected, strict=True):
        assert actual.dtype == dtype
        torch.testing.assert_close(actual.double(), wanted, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- torch's F.linear_cross_entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("chunked", [False, True], ids=["reference", "chunked"])
def test_equals_torch_linear_cross_entropy(reduction: Reduction, bias: bool, chunked: bool) -> None:
    """torch 2.13's `F.linear_cross_entropy(input, linear_weight, target, linear_bias=...)`, its
    reference path (`options=None`) and its chunked one (`LinearCrossEntropyOptions()`)."""
    if not hasattr(F, "linear_cross_entropy"):
        pytest.skip("this torch has no F.linear_cross_entropy")
    hidden, weight, b, target = _problem(18, torch.float64, bias=bias)
    options = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=4) if chunked else None
    theirs = F.linear_cross_entropy(
        hidden,
        weight,
        target,
        linear_bias=b,
        reduction=reduction,
        ignore_index=-100,
        options=options,
    )
    ours = linear_cross_entropy(hidden, weight, target, bias=b, chunk_size=4, reduction=reduction)
    for actual, wanted in zip(
        _value_and_grads(ours, (hidden, weight, b)),
        _value_and_grads(theirs, (hidden, weight, b)),
        strict=True,
    ):
        torch.testing.assert_close(actual, wanted)


# ---------------------------------------------------------------- memory, chunks, syncs


class _Largest(TorchDispatchMode):
    """The largest number of entries of any tensor an ATen operation returns, and the number
    of matrix products."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.largest = 0
        self.products = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        self.products += func.overloadpacket.__name__ in ("mm", "addmm", "addmm_", "bmm")
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_never_holds_the_full_logits(reduction: Reduction) -> None:
    """No operation of the forward and backward passes returns more than one chunk of logits or
    the weight's gradient: 64 tokens × 1000 classes, chunks of 8 tokens, H = 16."""
    hidden, weight, b, target = _problem(64, torch.float32, bias=True, classes=1000, features=16)
    largest = _Largest()
    with largest, value_checks(False):
        loss = linear_cross_entropy(
            hidden, weight, target, bias=b, chunk_size=8, reduction=reduction
        )
        torch.autograd.grad(loss.sum(), (hidden, weight, b))  # type: ignore[arg-type]
    assert largest.largest == max(8 * 1000, weight.numel())
    full = _Largest()
    with full, value_checks(False):
        loss = _materialized(hidden, weight, b, target, reduction=reduction)
        torch.autograd.grad(loss.sum(), (hidden, weight, b))  # type: ignore[arg-type]
    assert full.largest == 64 * 1000


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_no_host_sync(reduction: Reduction) -> None:
    """No operation reads tensor data on the host (the count of ignored tokens stays a tensor),
    with the value checks off as on CUDA."""
    hidden, weight, b, target = _problem(20, torch.float32, bias=True)
    with NoSync(), value_checks(False):
        loss = linear_cross_entropy(
            hidden, weight, target, bias=b, chunk_size=6, reduction=reduction
        )
        torch.autograd.grad(loss.sum(), (hidden, weight, b))  # type: ignore[arg-type]


def test_default_chunk_size_rule() -> None:
    """The largest power of two c with c·V ≤ 2^24: float32 logits of at most 64 MiB."""
    assert default_chunk_size(128_256) == 128
    assert default_chunk_size(32_000) == 512
    assert default_chunk_size(50_257) == 256
    assert default_chunk_size(2**24) == 1
    assert default_chunk_size(2**25) == 1
    assert default_chunk_size(2) == 2**23
    assert 128 * 128_256 * 4 <= 64 * 2**20 < 256 * 128_256 * 4


def test_module_takes_weight_and_bias_at_the_call() -> None:
    hidden, weight, b, target = _problem(9, torch.float32, bias=True)
    assert b is not None
    criterion = LinearCrossEntropyLoss(z_loss=1e-4, chunk_size=4)
    assert list(criterion.parameters()) == []
    assert list(criterion.buffers()) == []
    assert repr(criterion) == (
        "LinearCrossEntropyLoss(ignore_index=-100, z_loss=0.0001, chunk_size=4, reduction='mean')"
    )
    torch.testing.assert_close(
        criterion(hidden, weight, target, b),
        linear_cross_entropy(hidden, weight, target, bias=b, z_loss=1e-4, chunk_size=4),
    )


def test_no_gradient_needed() -> None:
    """Under `torch.no_grad` (evaluation) nothing is kept for a backward pass."""
    hidden, weight, b, target = _problem(9, torch.float32, bias=True)
    with torch.no_grad():
        loss = linear_cross_entropy(hidden, weight, target, bias=b, chunk_size=2)
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, _materialized(hidden, weight, b, target).detach())


# ---------------------------------------------------------------- the page's numbers


def test_page_numbers() -> None:
    """Logits of 8192 tokens over Llama 3's 128 256 classes in float32: 4.2 GB (3.9 GiB); with the
    log-softmax that cross_entropy keeps for its backward pass and the gradient, three such
    tensors: 12.6 GB. One default chunk (128 tokens): 65.7 MB."""
    logits = 8192 * 128_256 * 4
    assert round(logits / 1e9, 1) == 4.2
    assert round(logits / 2**30, 1) == 3.9
    assert round(3 * logits / 1e9, 1) == 12.6
    assert round(128 * 128_256 * 4 / 1e6, 1) == 65.7
    # the hidden states and the weight in bfloat16: 67.1 MB and 1.05 GB.
    assert round(8192 * 4096 * 2 / 1e6, 1) == 67.1
    assert round(128_256 * 4096 * 2 / 1e9, 2) == 1.05
    # the CPU benchmark's size: 8192 × 32 000 float32 logits, 1.05 GB.
    assert round(8192 * 32_000 * 4 / 1e9, 2) == 1.05
    # the float32 sum of the weight's gradient at Llama 3's size: 2.1 GB.
    assert round(4 * 128_256 * 4096 / 1e9, 1) == 2.1


@pytest.mark.parametrize(("reduction", "per_chunk"), [("mean", 3), ("sum", 3), ("none", 4)])
def test_matrix_products_per_chunk(reduction: Reduction, per_chunk: int) -> None:
    """The page's count: three products by W per chunk for "mean"/"sum" (logits, then the
    gradients of h and W in the forward pass), four for "none" (the logits again in backward)."""
    hidden, weight, _, target = _problem(12, torch.float32, bias=False)
    products = _Largest()
    with products, value_checks(False):
        loss = linear_cross_entropy(hidden, weight, target, chunk_size=4, reduction=reduction)
        torch.autograd.grad(loss.sum(), (hidden, weight))
    assert products.products == 3 * per_chunk


# ---------------------------------------------------------------- CUDA (skipped without a GPU)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cuda_equals_materialized_without_sync(dtype: torch.dtype, reduction: Reduction) -> None:
    """On CUDA: the bfloat16 products straight into float32 (`out_dtype`), the float32 sums of
    the weight's gradient (`addmm` with `out_dtype`), no synchronisation with the value checks
    off; the value and the three gradients as the materialized version's within
    `LOW_PRECISION_TOL`."""
    from tests.syncs import cuda_sync_errors

    hidden, weight, b, target = _problem(300, dtype, bias=True, classes=1000, features=64)
    leaves = tuple(t.detach().cuda().requires_grad_() for t in (hidden, weight, b) if t is not None)
    target = target.cuda()
    torch.cuda.synchronize()
    with value_checks(False), cuda_sync_errors():
        loss = linear_cross_entropy(
            leaves[0], leaves[1], target, bias=leaves[2], chunk_size=64, reduction=reduction
        )
        ours = _value_and_grads(loss, leaves)
    wide = tuple(t.detach().double().requires_grad_() for t in leaves)
    expected = _value_and_grads(
        _materialized(wide[0], wide[1], wide[2], target, reduction=reduction), wide
    )
    rtol, atol = LOW_PRECISION_TOL.get(dtype, (1e-5, 1e-6))
    for actual, wanted in zip(ours, expected, strict=True):
        assert actual.dtype == dtype
        torch.testing.assert_close(actual.double(), wanted, rtol=rtol, atol=atol)
