"""The shared loss tester: a loss joins the suite by declaring a `LossSpec`.

A test module declares `class TestSomeLoss(LossContract): spec = SOME_SPEC` and inherits every
check below; `tests/conftest.py` parametrizes them from the spec (shapes, options, error cases)
and over the devices: every check that computes runs on the CPU, and on CUDA when a GPU is there
(skipped otherwise). The spec's hooks build and transform inputs on the CPU; the harness moves
them to the device under test, and the oracles (CPU, formula-literal) get the CPU inputs, their
answer compared with the device's moved back.
"""

from __future__ import annotations

import io
import itertools
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

REDUCTIONS = ("none", "mean", "sum")
DEVICES = ("cpu", "cuda")
Inputs = tuple[Tensor, ...]
Options = dict[str, Any]


@dataclass(frozen=True)
class ErrorCase:
    """A call that must raise `error` with a message matching `message` (a literal, not a regex)."""

    id: str
    call: Callable[[], object]
    error: type[Exception]
    message: str


@dataclass(frozen=True)
class LossSpec:
    """What the harness needs to know about one loss function and its module.

    The first input is the differentiable one (logits, scores, …); the others are targets.
    """

    function: Callable[..., Tensor]
    module: Callable[..., nn.Module]
    oracle: Callable[..., Tensor]
    # (shape, dtype, generator) -> inputs; shape is the first input's shape.
    make_inputs: Callable[[tuple[int, ...], torch.dtype, torch.Generator], Inputs]
    shapes: tuple[tuple[int, ...], ...]
    # Hyperparameter settings, each checked against the oracle (first one is the default case).
    options: tuple[Options, ...]
    # Same targets, first input pushed to ±100 (saturation).
    saturate: Callable[[Inputs], Inputs]
    errors: tuple[ErrorCase, ...]
    # dtype -> (rtol, atol) against float64 on the same rounded inputs.
    low_precision_tol: Mapping[torch.dtype, tuple[float, float]]
    # Same targets, a perfect prediction; None where the loss has no minimum there.
    perfect: Callable[[Inputs], Inputs] | None = None
    # Random inputs -> inputs with a soft (non-binary) target and the prediction equal to it, for
    # the losses that take probability targets and must be smallest there; None otherwise.
    soft_perfect: Callable[[Inputs], Inputs] | None = None
    # (inputs, options) -> how many entries the mean counts (Σ w); None: every entry of "none".
    counted: Callable[..., Tensor] | None = None
    # inputs -> keyword arguments adding per-element/per-class weights; None if none offered.
    weights: Callable[[Inputs, torch.Generator], Options] | None = None
    # (inputs, keep mask over dim 0) -> (inputs with ~keep ignored, inputs with ~keep removed).
    ignore: Callable[[Inputs, Tensor], tuple[Inputs, Inputs]] | None = None
    # Whether the unreduced loss is >= 0 element by element.
    non_negative: bool = True
    # The reductions the function accepts (a loss may add one, as kl_div adds "batchmean").
    reductions: tuple[str, ...] = REDUCTIONS
    ids: tuple[str, ...] = field(default=())

    def option_ids(self) -> list[str]:
        return list(self.ids) or [",".join(f"{k}={v}" for k, v in o.items()) for o in self.options]


def _inputs(spec: LossSpec, shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> Inputs:
    return spec.make_inputs(shape, dtype, torch.Generator().manual_seed(seed))


def _on(device: str, inputs: Inputs) -> Inputs:
    return tuple(t.to(device) for t in inputs)


def _options_on(device: str, options: Options) -> Options:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in options.items()}


def _with_grad(inputs: Inputs) -> Inputs:
    return (inputs[0].detach().clone().requires_grad_(True), *inputs[1:])


def _weights(spec: LossSpec, inputs: Inputs, weighted: bool) -> Options:
    if not weighted:
        return {}
    assert spec.weights is not None
    return spec.weights(inputs, torch.Generator().manual_seed(1))


def _value_and_grad(
    fn: Callable[..., Tensor], inputs: Inputs, **kwargs: Any
) -> tuple[Tensor, Tensor]:
    inputs = _with_grad(inputs)
    value = fn(*inputs, **kwargs)
    (grad,) = torch.autograd.grad(value.sum(), inputs[0])
    return value.detach(), grad


class LossContract:
    """Every check every loss must pass. Subclasses set `spec`."""

    spec: ClassVar[LossSpec]

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_oracle(
        self,
        shape: tuple[int, ...],
        options: Options,
        reduction: str,
        dtype: torch.dtype,
        weighted: bool,
        ignored: bool,
        device: str,
    ) -> None:
        spec = self.spec
        inputs = _inputs(spec, shape, dtype)
        if ignored:
            assert spec.ignore is not None
            keep = torch.ones(shape[0], dtype=torch.bool)
            keep[1] = False
            inputs, _ = spec.ignore(inputs, keep)
        kwargs = {**options, **_weights(spec, inputs, weighted), "reduction": reduction}
        actual = spec.function(*_on(device, inputs), **_options_on(device, kwargs))
        expected = spec.oracle(*inputs, **kwargs)
        assert actual.dtype == dtype
        assert actual.device.type == device
        torch.testing.assert_close(actual.cpu(), expected.to(dtype))

    def test_module_equals_function(
        self, options: Options, reduction: str, weighted: bool, device: str
    ) -> None:
        """The module built on the CPU and moved with `.to(device)` (its tensors are buffers)."""
        spec = self.spec
        inputs = _inputs(spec, spec.shapes[0], torch.float32)
        kwargs = {**options, **_weights(spec, inputs, weighted), "reduction": reduction}
        module = spec.module(**kwargs).to(device)
        inputs = _on(device, inputs)
        torch.testing.assert_close(
            module(*inputs), spec.function(*inputs, **_options_on(device, kwargs)), rtol=0, atol=0
        )

    def test_module_pickles_and_round_trips_state_dict(self, options: Options, device: str) -> None:
        """A module pickles, and its state (its tensors, as buffers) loads into a fresh one."""
        spec = self.spec
        inputs = _inputs(spec, spec.shapes[0], torch.float32)
        kwargs = {**options, **_weights(spec, inputs, spec.weights is not None)}
        module = spec.module(**kwargs).to(device)
        inputs = _on(device, inputs)
        expected = module(*inputs)
        tensors = {name for name, value in kwargs.items() if isinstance(value, Tensor)}
        assert {name for name, _ in module.named_buffers()} == tensors
        assert all(buffer.device.type == device for buffer in module.buffers())
        buffer = io.BytesIO()
        torch.save(module.state_dict(), buffer)
        buffer.seek(0)
        blank = {name: torch.zeros_like(kwargs[name]) for name in tensors}
        fresh = spec.module(**{**kwargs, **blank}).to(device)
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        torch.testing.assert_close(fresh(*inputs), expected, rtol=0, atol=0)
        unpickled = pickle.loads(pickle.dumps(module))
        assert repr(unpickled) == repr(module)
        torch.testing.assert_close(unpickled(*inputs), expected, rtol=0, atol=0)

    @pytest.mark.parametrize("reduction", ["none", "mean"])
    def test_gradcheck_float64(self, options: Options, reduction: str, device: str) -> None:
        spec = self.spec
        cpu_inputs = _inputs(spec, spec.shapes[0], torch.float64)
        kwargs = _options_on(
            device, {**options, **_weights(spec, cpu_inputs, spec.weights is not None)}
        )
        inputs = _with_grad(_on(device, cpu_inputs))

        def loss_of_first(first: Tensor) -> Tensor:
            return spec.function(first, *inputs[1:], reduction=reduction, **kwargs)

        assert torch.autograd.gradcheck(loss_of_first, (inputs[0],))

    def test_finite_at_saturated_inputs(
        self, shape: tuple[int, ...], options: Options, reduction: str, device: str
    ) -> None:
        spec = self.spec
        inputs = _on(device, spec.saturate(_inputs(spec, shape, torch.float32)))
        assert inputs[0].abs().max() == 100
        value, grad = _value_and_grad(spec.function, inputs, **options, reduction=reduction)
        assert torch.isfinite(value).all(), value
        assert torch.isfinite(grad).all(), grad

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    @pytest.mark.parametrize("saturated", [False, True], ids=["moderate", "saturated"])
    def test_low_precision(
        self, options: Options, dtype: torch.dtype, saturated: bool, device: str
    ) -> None:
        spec = self.spec
        rtol, atol = spec.low_precision_tol[dtype]
        inputs = _inputs(spec, spec.shapes[-1], torch.float64)
        if saturated:
            inputs = spec.saturate(inputs)
        inputs = _on(device, inputs)
        low = tuple(t.to(dtype) if t.is_floating_point() else t for t in inputs)
        same_values = tuple(t.double() if t.is_floating_point() else t for t in low)
        value, grad = _value_and_grad(spec.function, low, **options, reduction="mean")
        expected, expected_grad = _value_and_grad(
            spec.function, same_values, **options, reduction="mean"
        )
        assert value.dtype == dtype
        assert grad.dtype == dtype
        assert torch.isfinite(value).all()
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(value.double(), expected, rtol=rtol, atol=atol)
        torch.testing.assert_close(grad.double(), expected_grad, rtol=rtol, atol=atol)

    def test_compile_fullgraph(self, device: str) -> None:
        spec = self.spec
        cpu_inputs = _inputs(spec, spec.shapes[-1], torch.float32)
        weights = _weights(spec, cpu_inputs, spec.weights is not None)
        kwargs = _options_on(device, {**spec.options[0], **weights})
        inputs = _on(device, cpu_inputs)
        torch._dynamo.reset()
        compiled = torch.compile(spec.function, fullgraph=True)
        value, grad = _value_and_grad(compiled, inputs, **kwargs)
        expected, expected_grad = _value_and_grad(spec.function, inputs, **kwargs)
        torch.testing.assert_close(value, expected)
        torch.testing.assert_close(grad, expected_grad)

    def test_error(self, error_case: ErrorCase) -> None:
        with pytest.raises(error_case.error, match=re.escape(error_case.message)):
            error_case.call()

    def test_unknown_reduction(self) -> None:
        spec = self.spec
        inputs = _inputs(spec, spec.shapes[0], torch.float32)
        name = spec.function.__name__
        choices = ", ".join(repr(r) for r in spec.reductions)
        message = f"{name}: reduction must be one of {choices}, got 'avg'"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            spec.function(*inputs, reduction="avg")
        module_name = spec.module.__name__
        with pytest.raises(ValueError, match=f"^{module_name}: reduction must be one of"):
            spec.module(reduction="avg")

    def test_invariants(self, device: str) -> None:
        """Non-negative; minimal at a perfect prediction; `sum` is `mean` × the counted entries.

        The count is every entry of the unreduced loss, or what `spec.counted` says for a loss
        that leaves entries out of its mean (the overlap losses' empty policies).
        """
        spec = self.spec
        perfect = spec.perfect

        # Hypothesis runs a fresh function per test class (one executor per @given function).
        @given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 8), scale=st.floats(0.01, 30))
        @settings(deadline=None)
        def check(seed: int, n: int, scale: float) -> None:
            shape = (n, *spec.shapes[0][1:])
            inputs = _inputs(spec, shape, torch.float64, seed)
            inputs = (inputs[0] * scale, *inputs[1:])
            best_inputs = None if perfect is None else _on(device, perfect(inputs))
            inputs = _on(device, inputs)
            for options in spec.options:
                unreduced = spec.function(*inputs, **options, reduction="none")
                mean = spec.function(*inputs, **options, reduction="mean")
                total = spec.function(*inputs, **options, reduction="sum")
                counted = (
                    unreduced.numel() if spec.counted is None else spec.counted(*inputs, **options)
                )
                torch.testing.assert_close(total, mean * counted)
                if spec.non_negative:
                    assert (unreduced >= 0).all()
                if best_inputs is not None:
                    best = spec.function(*best_inputs, **options, reduction="none")
                    assert (best <= unreduced + 1e-12).all()
                    assert best.max() < 1e-6

        check()

    def test_smallest_at_a_soft_target(self, device: str) -> None:
        """For a soft target, the loss is smallest where the prediction equals the target.

        Compared, entry by entry of the unreduced loss, with predictions nearby (small and large
        steps in the first input) and with unrelated ones, for every option set.
        """
        spec = self.spec
        soft_perfect = spec.soft_perfect
        if soft_perfect is None:
            pytest.skip("this loss takes no probability target (or has no minimum at it)")

        @given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 4), scale=st.floats(0.01, 3))
        @settings(deadline=None)
        def check(seed: int, n: int, scale: float) -> None:
            shape = (n, *spec.shapes[0][1:])
            best_inputs = _on(device, soft_perfect(_inputs(spec, shape, torch.float64, seed)))
            best_first, others = best_inputs[0], best_inputs[1:]
            target = others[0]
            assert ((target > 0) & (target < 1)).any(), "the soft target is not soft"
            noise = torch.randn(
                best_first.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
            ).to(device)
            unrelated = _inputs(spec, shape, torch.float64, seed + 1)[0].to(device)
            for options in spec.options:
                best = spec.function(best_first, *others, **options, reduction="none")
                for candidate in (best_first + scale * noise, best_first + 1e-3 * noise, unrelated):
                    other = spec.function(candidate, *others, **options, reduction="none")
                    assert (best <= other + 1e-12).all(), (options, best, other)

        check()

    def test_ignore_index_may_be_a_class(self, device: str) -> None:
        """`ignore_index=1`, one of the classes: its labels are ignored, as in the oracle.

        A fast path that skips the masks once every label is known to be in [0, C) must not
        take class 1's labels for labels.
        """
        spec = self.spec
        if spec.ignore is None:
            pytest.skip("this loss offers no ignore_index")
        inputs = _inputs(spec, spec.shapes[-1], torch.float64)
        assert (inputs[-1] == 1).any(), "the inputs hold no label 1 to ignore"
        for options, reduction in itertools.product(spec.options, ("none", "mean")):
            kwargs = {**options, "ignore_index": 1, "reduction": reduction}
            torch.testing.assert_close(
                spec.function(*_on(device, inputs), **kwargs).cpu(), spec.oracle(*inputs, **kwargs)
            )

    def test_ignoring_equals_removing(self, device: str) -> None:
        spec = self.spec
        ignore = spec.ignore
        if ignore is None:
            pytest.skip("this loss offers no ignore_index")

        @given(seed=st.integers(0, 2**31 - 1), keep=st.lists(st.booleans(), min_size=1, max_size=8))
        @settings(deadline=None)
        def check(seed: int, keep: list[bool]) -> None:
            shape = (len(keep), *spec.shapes[-1][1:])
            inputs = _inputs(spec, shape, torch.float64, seed)
            ignored, removed = ignore(inputs, torch.tensor(keep))
            ignored, removed = _on(device, ignored), _on(device, removed)
            weights = _options_on(device, _weights(spec, inputs, spec.weights is not None))
            for options in spec.options:
                for reduction in ("mean", "sum"):
                    kwargs = {**options, **weights, "reduction": reduction}
                    torch.testing.assert_close(
                        spec.function(*ignored, **kwargs), spec.function(*removed, **kwargs)
                    )

        check()
