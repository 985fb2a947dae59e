"""No loss makes the host wait for the device on its default path for CUDA inputs.

On a GPU, reading a tensor's value on the host (`.item()`, `bool(t)`, `nonzero`, `x[mask]`,
`torch.unique`, ...) blocks the host until the device has computed it: the training step's
pipeline stalls at every call. By default CUDA tensors get no value checks (they read data), and
nothing else in a loss may read data either.

Without a GPU, this is proved on CPU tensors: `_as_on_an_accelerator()` makes the default
("auto") value-check setting treat them as it treats CUDA tensors, and `NoSync`, a
`TorchDispatchMode`, fails on every ATen operation that needs data on the host. Every public loss
runs forward and backward under it, for every option set, reduction, weighting and ignored-label
setting of its `LossSpec`. With CUDA, the same runs on CUDA tensors under
`torch.cuda.set_sync_debug_mode("error")`, and their values and gradients are compared with the
CPU's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import Tensor

import deeplossdive
from deeplossdive import functional
from deeplossdive._about import losses_of
from deeplossdive._validation import _as_on_an_accelerator
from tests.harness import LossSpec
from tests.specs import loss_specs
from tests.syncs import NoSync, SyncError, cuda_sync_errors

aten = torch.ops.aten

# ---------------------------------------------------------------------------------------------
# The calls: every option set x reduction x weighting x ignored labels of every spec
# ---------------------------------------------------------------------------------------------

SPECS = loss_specs()
CASES = [
    pytest.param(spec, options, id=f"{name}-{index}-{option_id}")
    for name in losses_of(functional.__all__)
    for index, spec in enumerate(SPECS[name])
    for options, option_id in zip(spec.options, spec.option_ids(), strict=True)
]


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, Tensor) else value


def _cast(value: Any, dtype: torch.dtype) -> Any:
    return value.to(dtype) if isinstance(value, Tensor) and value.is_floating_point() else value


def calls(
    spec: LossSpec, options: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> Iterator[tuple[tuple[Tensor, ...], dict[str, Any]]]:
    """Inputs (the first one requiring a gradient) and keyword arguments, on `device`."""
    for shape, reduction, weighted, ignored in itertools.product(
        spec.shapes,
        spec.reductions,
        [False, True] if spec.weights is not None else [False],
        [False, True] if spec.ignore is not None else [False],
    ):
        inputs = spec.make_inputs(shape, torch.float64, torch.Generator().manual_seed(0))
        if ignored:
            assert spec.ignore is not None
            keep = torch.ones(shape[0], dtype=torch.bool)
            keep[shape[0] // 2] = False
            inputs, _ = spec.ignore(inputs, keep)
        kwargs = dict(options, reduction=reduction)
        if weighted:
            assert spec.weights is not None
            kwargs.update(spec.weights(inputs, torch.Generator().manual_seed(1)))
        inputs = tuple(t.to(dtype) if t.is_floating_point() else t for t in inputs)
        kwargs = {key: _cast(value, dtype) for key, value in kwargs.items()}
        first = inputs[0].to(device).requires_grad_(True)
        yield (
            (first, *(_to(t, device) for t in inputs[1:])),
            {key: _to(value, device) for key, value in kwargs.items()},
        )


def forward_backward(
    function: Callable[..., Tensor], inputs: tuple[Tensor, ...], kwargs: dict[str, Any]
) -> tuple[Tensor, Tensor]:
    value = function(*inputs, **kwargs)
    (grad,) = torch.autograd.grad(value.sum(), inputs[0])
    return value, grad


# ---------------------------------------------------------------------------------------------
# The contract
# ---------------------------------------------------------------------------------------------


def test_every_public_loss_is_covered() -> None:
    assert sorted(SPECS) == sorted(losses_of(functional.__all__))


@pytest.mark.parametrize(("spec", "options"), CASES)
def test_no_sync_on_the_accelerator_path(spec: LossSpec, options: dict[str, Any]) -> None:
    """Forward and backward on CPU tensors as CUDA tensors run them: nothing synchronises."""
    cpu = torch.device("cpu")
    for inputs, kwargs in calls(spec, options, cpu, torch.float32):
        with _as_on_an_accelerator(), NoSync():
            forward_backward(spec.function, inputs, kwargs)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize(("spec", "options"), CASES)
def test_no_sync_on_cuda(spec: LossSpec, options: dict[str, Any]) -> None:
    """The same on CUDA tensors, where the driver itself reports any synchronisation."""
    cuda = torch.device("cuda")
    for inputs, kwargs in calls(spec, options, cuda, torch.float32):
        with cuda_sync_errors(), NoSync():
            forward_backward(spec.function, inputs, kwargs)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("spec", "options"), CASES)
def test_cuda_matches_cpu(spec: LossSpec, options: dict[str, Any], dtype: torch.dtype) -> None:
    """Values and gradients on CUDA equal float64 CPU ones computed from the same rounded inputs."""
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    rtol, atol = (1e-4, 1e-5) if dtype == torch.float32 else spec.low_precision_tol[dtype]
    pairs = zip(calls(spec, options, cuda, dtype), calls(spec, options, cpu, dtype), strict=True)
    for (inputs, kwargs), (cpu_inputs, cpu_kwargs) in pairs:
        value, grad = forward_backward(spec.function, inputs, kwargs)
        wide = tuple(
            t.detach().double().requires_grad_(i == 0) if t.is_floating_point() else t
            for i, t in enumerate(cpu_inputs)
        )
        wide_kwargs = {key: _cast(value, torch.float64) for key, value in cpu_kwargs.items()}
        expected, expected_grad = forward_backward(spec.function, wide, wide_kwargs)
        assert value.dtype == dtype
        assert grad.dtype == dtype
        torch.testing.assert_close(value.double().cpu(), expected.detach(), rtol=rtol, atol=atol)
        torch.testing.assert_close(grad.double().cpu(), expected_grad, rtol=rtol, atol=atol)


@needs_cuda
def test_value_checks_true_checks_cuda_tensors() -> None:
    """Off by default on CUDA; `value_checks(True)` turns them on there (and syncs)."""
    scores = torch.zeros(2, device="cuda")
    target = torch.tensor([1, 5], device="cuda")
    with NoSync():
        functional.hinge_loss(scores, target)  # "auto": no check, no sync
    with deeplossdive.value_checks(True), pytest.raises(ValueError, match="got 5"):
        functional.hinge_loss(scores, target)


# ---------------------------------------------------------------------------------------------
# The detector can fail
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutant",
    [
        lambda x: x * x.sum().item(),
        lambda x: x * float(x.amax()),
        lambda x: x if bool((x > 0).any()) else -x,
        lambda x: x * max(x[0], x[1]),
        lambda x: x[x > 0].sum(),
        lambda x: torch.nonzero(x > 0).sum() * x,
        lambda x: torch.unique(x.detach()).sum() * x,
        lambda x: x.masked_select(x > 0),
        lambda x: x * torch.equal(x, x),
    ],
    ids=[
        "item",
        "float",
        "bool",
        "python-max",
        "mask-index",
        "nonzero",
        "unique",
        "masked_select",
        "equal",
    ],
)
def test_detector_catches_a_sync(mutant: Callable[[Tensor], Tensor]) -> None:
    x = torch.randn(4, requires_grad=True)
    with pytest.raises(SyncError, match="synchronises"), NoSync():
        forward_backward(mutant, (x,), {})


def test_detector_catches_a_syncing_loss() -> None:
    """A loss that calls `.item()` fails the contract test; the unmodified loss passes it."""
    (spec,) = SPECS["mse_loss"]

    def mutant(input: Tensor, target: Tensor, **kwargs: Any) -> Tensor:
        loss = spec.function(input, target, **kwargs)
        return loss * (1.0 if loss.sum().item() >= 0 else 0.0)

    inputs, kwargs = next(calls(spec, spec.options[0], torch.device("cpu"), torch.float32))
    with pytest.raises(SyncError, match="_local_scalar_dense"), NoSync():
        forward_backward(mutant, inputs, kwargs)
    test_no_sync_on_the_accelerator_path(spec, spec.options[0])


def test_value_checks_sync_and_are_off_in_accelerator_mode() -> None:
    """The CPU default checks values (a sync the detector sees); the accelerator mode does not,
    and `value_checks(True)` checks everywhere."""
    logits = torch.zeros(2, 3, requires_grad=True)
    bad = torch.tensor([0, 5])
    with pytest.raises(ValueError, match="got 5"):
        functional.cross_entropy(logits, bad)
    with pytest.raises(SyncError), NoSync():
        functional.cross_entropy(logits, torch.tensor([0, 1]))
    with _as_on_an_accelerator():
        with NoSync():
            functional.cross_entropy(logits, torch.tensor([0, 1]))
        with deeplossdive.value_checks(True), pytest.raises(ValueError, match="got 5"):
            functional.cross_entropy(logits, bad)
    # Off everywhere: torch's own kernel refuses the label on the CPU.
    with deeplossdive.value_checks(False), pytest.raises((IndexError, RuntimeError)):
        functional.cross_entropy(logits, bad)


def test_set_value_checks_accepts_auto_and_rejects_other_strings() -> None:
    deeplossdive.set_value_checks(True)
    deeplossdive.set_value_checks("auto")
    with pytest.raises(ValueError, match="enabled must be True, False or 'auto', got 'on'"):
        deeplossdive.set_value_checks("on")  # type: ignore[arg-type]
    with deeplossdive.value_checks(False):
        pass
    with pytest.raises(ValueError, match="got 3"):
        functional.nll_loss(torch.zeros(1, 2), torch.tensor([3]))
