"""CLIP and SigLIP: the shared contract, parity with OpenCLIP's `ClipLoss` and `SigLipLoss`
(transcribed in tests/oracles/clip.py), the learned scale and bias, and the claims of
docs/losses/clip.md. The distributed forms are checked in tests/test_distributed.py."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._validation import _as_on_an_accelerator
from deeplossdive.functional import clip_loss, siglip_loss
from deeplossdive.nn import ClipLoss, SigLipLoss
from tests.harness import ErrorCase, Inputs, LossContract, LossSpec, Options
from tests.oracles import clip as oracles
from tests.syncs import NoSync

# float16/bfloat16 embeddings are computed in float32 and rounded once at the end: the error is
# the rounding of the result and of the gradient (float16: 2^-11 relative, bfloat16: 2^-8).
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-3), torch.bfloat16: (1.6e-2, 1e-2)}
SIGLIP_INIT: dict[str, Any] = {"logit_scale": 10.0, "logit_bias": -10.0}


def _pairs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Images and captions, noisy copies of the same N points: the match is usually the closest."""
    base = torch.randn(shape, generator=gen, dtype=torch.float64)
    images = 3 * base + torch.randn(shape, generator=gen, dtype=torch.float64)
    texts = base + 0.5 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return images.to(dtype), texts.to(dtype)


def _saturate(inputs: Inputs) -> Inputs:
    return tuple(torch.where(t > 0, 100.0, -100.0).to(t.dtype) for t in inputs)


def _errors(fn: Any, module: Any, **options: float) -> tuple[ErrorCase, ...]:
    """The error cases both losses share, for `fn` (called with `options`) and its `module`."""
    name, module_name = fn.__name__, module.__name__
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    shape = "must have the shape of image_embeddings (4, 3)"

    def call(image: Any = x, text: Any = y, **changes: Any) -> object:
        return fn(image, text, **{**options, **changes})

    def case(id: str, error: type[Exception], message: str, **changes: Any) -> ErrorCase:
        return ErrorCase(id, lambda: call(**changes), error, f"{name}: {message}")

    scale = "logit_scale must be a finite number > 0, got"
    return (
        case(
            "int-image",
            TypeError,
            "image_embeddings must be a floating-point tensor, got dtype torch.int64",
            image=x.long(),
        ),
        case(
            "int-text",
            TypeError,
            "text_embeddings must be a floating-point tensor, got dtype torch.int32",
            text=y.int(),
        ),
        case(
            "not-a-tensor",
            TypeError,
            "image_embeddings must be a torch.Tensor, got list",
            image=x.tolist(),
        ),
        case(
            "1d",
            ValueError,
            "image_embeddings must have 2 dimensions (N, D), got shape (3,)",
            image=x[0],
            text=y[0],
        ),
        case(
            "3d",
            ValueError,
            "image_embeddings must have 2 dimensions (N, D), got shape (4, 3, 1)",
            image=x[..., None],
            text=y[..., None],
        ),
        case("batch-sizes-differ", ValueError, f"text_embeddings {shape}, got (3, 3)", text=y[:3]),
        case("dims-differ", ValueError, f"text_embeddings {shape}, got (4, 2)", text=y[:, :2]),
        case(
            "dtypes-differ",
            TypeError,
            "text_embeddings must have the dtype of "
            "image_embeddings (torch.float32), got dtype torch.float64",
            text=y.double(),
        ),
        case("scale-zero", ValueError, f"{scale} 0.0", logit_scale=0.0),
        case("scale-negative", ValueError, f"{scale} -1.0", logit_scale=-1.0),
        case("scale-inf", ValueError, f"{scale} inf", logit_scale=math.inf),
        case("scale-nan", ValueError, f"{scale} nan", logit_scale=math.nan),
        case("scale-tensor-zero", ValueError, f"{scale} 0.0", logit_scale=torch.tensor(0.0)),
        case(
            "scale-tensor-1d",
            ValueError,
            "logit_scale must be a 0-d tensor, got shape (1,)",
            logit_scale=torch.ones(1),
        ),
        case(
            "scale-int-tensor",
            TypeError,
            "logit_scale must be a floating-point tensor, got dtype torch.int64",
            logit_scale=torch.tensor(10),
        ),
        case(
            "scale-str", TypeError, "logit_scale must be a real number, got str", logit_scale="10"
        ),
        case(
            "distributed-none",
            ValueError,
            "reduction must be 'mean' or 'sum' with distributed=True, got 'none'",
            reduction="none",
            distributed=True,
        ),
        ErrorCase(
            "module-scale",
            lambda: module(logit_scale=0.0),
            ValueError,
            f"{module_name}: {scale} 0.0",
        ),
    )


def _siglip_errors() -> tuple[ErrorCase, ...]:
    x = torch.randn(4, 3)
    bias = "siglip_loss: logit_bias must be a finite number, got"
    return (
        *_errors(siglip_loss, SigLipLoss, **SIGLIP_INIT),
        ErrorCase(
            "bias-inf", lambda: siglip_loss(x, x, logit_bias=-math.inf), ValueError, f"{bias} -inf"
        ),
        ErrorCase(
            "bias-nan", lambda: siglip_loss(x, x, logit_bias=math.nan), ValueError, f"{bias} nan"
        ),
        ErrorCase(
            "bias-tensor-nan",
            lambda: siglip_loss(x, x, logit_bias=torch.tensor(math.nan)),
            ValueError,
            f"{bias} nan",
        ),
        ErrorCase(
            "bias-tensor-2d",
            lambda: siglip_loss(x, x, logit_bias=torch.zeros(1, 1)),
            ValueError,
            "siglip_loss: logit_bias must be a 0-d tensor, got shape (1, 1)",
        ),
        ErrorCase(
            "module-bias",
            lambda: SigLipLoss(logit_bias=math.inf),
            ValueError,
            "SigLipLoss: logit_bias must be a finite number, got inf",
        ),
    )


CLIP = LossSpec(
    function=clip_loss,
    module=ClipLoss,
    oracle=oracles.clip,
    make_inputs=_pairs,
    shapes=((6, 4), (16, 32)),
    options=({"logit_scale": 1 / 0.07}, {"logit_scale": 1.0}, {"logit_scale": 100.0}),
    saturate=_saturate,
    # Above 0 for every input: aligned pairs on a simplex are the minimum (tested below).
    perfect=None,
    errors=_errors(clip_loss, ClipLoss),
    low_precision_tol=LOW_PRECISION_TOL,
)
SIGLIP = LossSpec(
    function=siglip_loss,
    module=SigLipLoss,
    oracle=oracles.siglip,
    make_inputs=_pairs,
    shapes=((6, 4), (16, 32)),
    options=(
        SIGLIP_INIT,
        {"logit_scale": 1.0, "logit_bias": 0.0},
        {"logit_scale": 100.0, "logit_bias": -10.0},
    ),
    saturate=_saturate,
    perfect=None,
    errors=_siglip_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
)


class _LearnedScale(LossContract):
    def test_module_equals_function(
        self, options: Options, reduction: str, weighted: bool, device: str
    ) -> None:
        """The module calls the function with its parameters: exactly, given $e^t$ (the float
        `logit_scale` it was built with comes back from $\\exp(\\log s)$ within one rounding)."""
        spec = self.spec
        inputs = tuple(
            t.to(device)
            for t in spec.make_inputs(
                spec.shapes[0], torch.float32, torch.Generator().manual_seed(0)
            )
        )
        module = spec.module(**options, reduction=reduction).to(device)
        learned = dict(module.named_parameters())
        kwargs: dict[str, Any] = {"reduction": reduction}
        kwargs["logit_scale"] = learned["log_logit_scale"].exp()
        if "logit_bias" in learned:
            kwargs["logit_bias"] = learned["logit_bias"]
        value = module(*inputs)
        torch.testing.assert_close(value, spec.function(*inputs, **kwargs), rtol=0, atol=0)
        torch.testing.assert_close(value, spec.function(*inputs, **options, reduction=reduction))


class TestClipLoss(_LearnedScale):
    spec = CLIP


class TestSigLipLoss(_LearnedScale):
    spec = SIGLIP


# --- the learned scale and bias ------------------------------------------------------------------


def _leaves(n: int = 6, d: int = 5, seed: int = 0) -> tuple[Tensor, Tensor]:
    images, texts = _pairs((n, d), torch.float64, torch.Generator().manual_seed(seed))
    return images.requires_grad_(), texts.requires_grad_()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck_embeddings_scale_and_bias(reduction: str) -> None:
    images, texts = _leaves()
    scale = torch.tensor(1 / 0.07, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, s: clip_loss(a, b, logit_scale=s, reduction=reduction),  # type: ignore[arg-type]
        (images, texts, scale),
    )
    assert torch.autograd.gradcheck(
        lambda a, b, s, c: siglip_loss(a, b, logit_scale=s, logit_bias=c, reduction=reduction),  # type: ignore[arg-type]
        (images, texts, scale, bias),
    )


def test_learned_scale_gradients_match_open_clip() -> None:
    """OpenCLIP's model passes `logit_scale.exp()` to the loss, features normalised: the same
    values and the same gradients for the embeddings, $t$ and $b$."""
    for fn, theirs, bias in (
        (clip_loss, oracles.open_clip_clip_loss, None),
        (siglip_loss, oracles.open_clip_siglip_loss, -10.0),
    ):
        images, texts = _leaves(n=7, d=4, seed=3)
        t = torch.tensor(math.log(10.0), dtype=torch.float64, requires_grad=True)
        extra = (
            [] if bias is None else [torch.tensor(bias, dtype=torch.float64, requires_grad=True)]
        )
        kwargs: dict[str, Any] = {} if bias is None else {"logit_bias": extra[0]}
        ours = fn(images, texts, logit_scale=t.exp(), **kwargs)
        ours_grads = torch.autograd.grad(ours, (images, texts, t, *extra))
        reference = theirs(F.normalize(images, dim=1), F.normalize(texts, dim=1), t.exp(), *extra)
        reference_grads = torch.autograd.grad(reference, (images, texts, t, *extra))
        torch.testing.assert_close(ours, reference)
        for a, b in zip(ours_grads, reference_grads, strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("scale", [1.0, 1 / 0.07, 100.0])
def test_matches_open_clip(scale: float) -> None:
    images, texts = _leaves(n=9, d=5, seed=4)
    u, v = F.normalize(images, dim=1), F.normalize(texts, dim=1)
    torch.testing.assert_close(
        clip_loss(images, texts, logit_scale=scale), oracles.open_clip_clip_loss(u, v, scale)
    )
    for bias in (-10.0, 0.0, 2.5):
        torch.testing.assert_close(
            siglip_loss(images, texts, logit_scale=scale, logit_bias=bias),
            oracles.open_clip_siglip_loss(u, v, scale, bias),
        )


def test_module_parameters_and_their_initialisation() -> None:
    """OpenCLIP's initialisation: t = log(1/0.07) for CLIP; log 10 and b = -10 for SigLIP
    (open_clip_train/main.py with --siglip); the module trains them."""
    clip = ClipLoss()
    siglip = SigLipLoss()
    assert [name for name, _ in clip.named_parameters()] == ["log_logit_scale"]
    assert [name for name, _ in siglip.named_parameters()] == ["log_logit_scale", "logit_bias"]
    assert clip.log_logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert siglip.log_logit_scale.item() == pytest.approx(math.log(10.0))
    assert siglip.logit_bias.item() == -10.0
    images, texts = _pairs((8, 4), torch.float32, torch.Generator().manual_seed(5))
    optimizer = torch.optim.SGD([*clip.parameters(), *siglip.parameters()], lr=0.1)
    torch.autograd.backward(clip(images, texts) + siglip(images, texts))
    optimizer.step()
    assert clip.log_logit_scale.item() != pytest.approx(math.log(1 / 0.07))
    assert siglip.logit_bias.item() != -10.0
    assert repr(SigLipLoss(distributed=True)) == "SigLipLoss(reduction='mean', distributed=True)"


# --- the right answer, extremes, identities ------------------------------------------------------


def _simplex(n: int, d: int) -> Tensor:
    """n unit vectors in R^d (d >= n) at cosine -1/(n - 1) to each other."""
    centred = torch.eye(n, dtype=torch.float64) - 1.0 / n
    return torch.cat([F.normalize(centred, dim=1), torch.zeros(n, d - n, dtype=torch.float64)], 1)


CALLS = [
    *((clip_loss, {"logit_scale": s}) for s in (1.0, 1 / 0.07)),
    *((siglip_loss, {"logit_scale": s, "logit_bias": b}) for s, b in ((10.0, -10.0), (1.0, 0.0))),
]


@pytest.mark.parametrize(("fn", "options"), CALLS)
def test_smallest_at_aligned_pairs_on_a_simplex(fn: Any, options: dict[str, float]) -> None:
    """Each caption on its image, the pairs as far apart as N unit vectors can be: a stationary
    point (zero gradient), and every perturbation of it raises the loss. (At s = 100 the loss
    there, about 4e-54, rounds to 0 in float64 next to the logits of 100.)"""
    x = _simplex(5, 7)
    images, texts = x.clone().requires_grad_(), x.clone().requires_grad_()
    best = fn(images, texts, **options)
    for grad in torch.autograd.grad(best, (images, texts)):
        assert grad.abs().max() < 1e-12
    gen = torch.Generator().manual_seed(6)
    for step in (0.01, 0.05, 0.5):
        for _ in range(20):
            noisy = [
                x + step * torch.randn(x.shape, generator=gen, dtype=torch.float64)
                for _ in range(2)
            ]
            assert fn(*noisy, **options) > best


def _softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def test_floor_at_the_simplex() -> None:
    """CLIP: log(1 + (N - 1) e^{-s N / (N - 1)}); SigLIP: softplus(-(s + b)) + (N - 1)
    softplus(-s / (N - 1) + b)."""
    n = 5
    x = _simplex(n, n)
    for s in (1.0, 10.0):
        expected = math.log1p((n - 1) * math.exp(-s * n / (n - 1)))
        assert clip_loss(x, x, logit_scale=s).item() == pytest.approx(expected, rel=1e-12)
        b = -2.0
        expected = _softplus(-(s + b)) + (n - 1) * _softplus(-s / (n - 1) + b)
        assert siglip_loss(x, x, logit_scale=s, logit_bias=b).item() == pytest.approx(expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_finite_at_scale_100_and_cosines_of_plus_minus_one(dtype: torch.dtype) -> None:
    """Logits of ±100 (and 100 ± 10 with SigLIP's bias), a pair at cosine -1 to its own caption:
    finite values and gradients, equal to float64's within the dtype's rounding."""
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    texts = torch.tensor([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [-1.0, 0.0]])
    calls: tuple[tuple[Any, dict[str, Any]], ...] = (
        (clip_loss, {}),
        (siglip_loss, {"logit_bias": -10.0}),
    )
    for fn, options in calls:
        results = []
        for work in (dtype, torch.float64):
            a, b = images.to(work).requires_grad_(), texts.to(work).requires_grad_()
            scale = torch.tensor(100.0, dtype=torch.float64, requires_grad=True)
            value = fn(a, b, logit_scale=scale, **options)
            grads = torch.autograd.grad(value, (a, b, scale))
            assert torch.isfinite(value)
            assert all(torch.isfinite(g).all() for g in grads)
            results.append((value, *grads))
        rtol, atol = LOW_PRECISION_TOL.get(dtype, (1.3e-6, 1e-5))
        for low, high in zip(*results, strict=True):
            torch.testing.assert_close(low.double(), high, rtol=rtol, atol=atol)


def test_clip_is_the_mean_of_two_cross_entropies_over_the_scaled_cosines() -> None:
    images, texts = _leaves()
    logits = 14.0 * F.normalize(images, dim=1) @ F.normalize(texts, dim=1).T
    labels = torch.arange(6)
    expected = 0.5 * (
        F.cross_entropy(logits, labels, reduction="none")
        + F.cross_entropy(logits.T, labels, reduction="none")
    )
    torch.testing.assert_close(
        clip_loss(images, texts, logit_scale=14.0, reduction="none"), expected
    )


def test_siglip_is_binary_cross_entropy_over_all_pairs_divided_by_n() -> None:
    images, texts = _leaves()
    logits = 10.0 * F.normalize(images, dim=1) @ F.normalize(texts, dim=1).T - 10.0
    bce = F.binary_cross_entropy_with_logits(
        logits, torch.eye(6, dtype=torch.float64), reduction="sum"
    )
    torch.testing.assert_close(siglip_loss(images, texts, **SIGLIP_INIT), bce / 6)
    torch.testing.assert_close(siglip_loss(images, texts, **SIGLIP_INIT, reduction="sum"), bce)


def test_swapping_images_and_captions() -> None:
    """CLIP is symmetric; SigLIP's total is too, its rows become columns."""
    images, texts = _leaves()
    torch.testing.assert_close(
        clip_loss(images, texts, logit_scale=5.0, reduction="none"),
        clip_loss(texts, images, logit_scale=5.0, reduction="none"),
    )
    torch.testing.assert_close(
        siglip_loss(images, texts, **SIGLIP_INIT), siglip_loss(texts, images, **SIGLIP_INIT)
    )


def test_invariant_to_the_norm_of_each_embedding() -> None:
    images, texts = _leaves()
    rows = torch.linspace(0.01, 100.0, 6, dtype=torch.float64)[:, None]
    for fn, options in ((clip_loss, {"logit_scale": 20.0}), (siglip_loss, SIGLIP_INIT)):
        torch.testing.assert_close(
            fn(images * rows, texts / rows, **options), fn(images, texts, **options)
        )


def test_empty_batch_and_zero_rows() -> None:
    empty = torch.zeros(0, 3, requires_grad=True)
    for fn in (clip_loss, siglip_loss):
        assert fn(empty, empty).item() == 0.0
        assert fn(empty, empty, reduction="none").shape == (0,)
        zero = torch.zeros(3, 4, requires_grad=True)
        value = fn(zero, torch.randn(3, 4))
        (grad,) = torch.autograd.grad(value, zero)
        assert torch.isfinite(value)
        assert torch.isfinite(grad).all()


def test_no_host_sync_with_a_learned_scale_and_bias() -> None:
    """With tensor scale and bias, value checks off as on a GPU by default: no read of data."""
    images, texts = _leaves(n=6, d=4)
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True)
    with _as_on_an_accelerator(), NoSync():
        for reduction in ("none", "mean", "sum"):
            clip = clip_loss(images, texts, logit_scale=scale.exp(), reduction=reduction)
            siglip = siglip_loss(
                images, texts, logit_scale=scale.exp(), logit_bias=bias, reduction=reduction
            )
            torch.autograd.grad((clip.sum() + siglip.sum()), (images, texts, scale, bias))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_host_sync_on_cuda_with_a_learned_scale_and_bias() -> None:
    images, texts = (
        t.cuda().requires_grad_()
        for t in _pairs((64, 32), torch.float32, torch.Generator().manual_seed(7))
    )
    module = SigLipLoss().cuda()
    clip = ClipLoss().cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        value = module(images, texts) + clip(images, texts)
        torch.autograd.grad(value, (images, texts, *module.parameters(), *clip.parameters()))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(value)


def test_compile_fullgraph_with_a_learned_scale_and_bias() -> None:
    """The value check of a tensor scale reads data: it is skipped while torch.compile traces."""
    images, texts = _leaves(n=6, d=4)
    t = torch.tensor(math.log(10.0), dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-10.0, dtype=torch.float64, requires_grad=True)

    def both(a: Tensor, b: Tensor, t: Tensor, bias: Tensor) -> Tensor:
        scale = t.exp()
        return clip_loss(a, b, logit_scale=scale) + siglip_loss(
            a, b, logit_scale=scale, logit_bias=bias
        )

    torch._dynamo.reset()
    compiled = torch.compile(both, fullgraph=True)
    value = compiled(images, texts, t, bias)
    expected = both(images, texts, t, bias)
    torch.testing.assert_close(value, expected)
    wrt = (images, texts, t, bias)
    for a, b in zip(
        torch.autograd.grad(value, wrt), torch.autograd.grad(expected, wrt), strict=True
    ):
        torch.testing.assert_close(a, b)
