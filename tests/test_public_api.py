"""The public surface and its types. mypy --strict checks the `assert_type` lines statically."""

from __future__ import annotations

import re
from typing import assert_type

import torch
from torch import Tensor

import deeplossdive
from deeplossdive import functional, nn
from deeplossdive.functional import focal_loss
from deeplossdive.nn import FocalLoss, Loss
from tests.specs import loss_specs


def test_call_of_a_loss_module_is_typed_tensor() -> None:
    criterion = FocalLoss()
    loss = criterion(torch.randn(2, 3), torch.tensor([0, 2]))
    assert_type(loss, Tensor)
    assert_type(focal_loss(torch.randn(2, 3), torch.tensor([0, 2])), Tensor)
    assert isinstance(loss, Tensor)


def test_every_function_has_exactly_one_module() -> None:
    """Each module's docstring opens with "Module form of [`f`][deeplossdive.functional.f]"."""
    pattern = re.compile(r"Module form of\s+\[`(\w+)`\]\[deeplossdive\.functional\.(\w+)\]")
    twins: dict[str, str] = {}
    for name in nn.__all__:
        if name == "Loss":
            continue
        module = getattr(nn, name)
        assert issubclass(module, Loss), name
        match = pattern.match(module.__doc__ or "")
        assert match is not None, f"{name}: docstring must start with its function's reference"
        assert match[1] == match[2]
        assert match[1] not in twins, f"{name} and {twins.get(match[1])} wrap the same function"
        twins[match[1]] = name
    assert sorted(twins) == sorted(functional.__all__)


def test_public_namespaces() -> None:
    assert set(deeplossdive.__all__) == {
        "Reduction",
        "__version__",
        "functional",
        "nn",
        "set_value_checks",
        "value_checks",
    }
    for namespace in (functional, nn):
        assert sorted(namespace.__all__) == namespace.__all__
        assert all(hasattr(namespace, name) for name in namespace.__all__)


def test_py_typed_is_shipped() -> None:
    from importlib.resources import files

    assert files("deeplossdive").joinpath("py.typed").is_file()


def test_every_function_has_a_spec_in_the_shared_tester() -> None:
    """Adding a loss means adding a `LossSpec`: each public function is the `spec.function` of a
    `LossContract` class in tests/test_<loss>.py (oracle, gradcheck, stability, compile, ...),
    and that spec's module is the function's twin."""
    specs = {name: {spec.module.__name__ for spec in found} for name, found in loss_specs().items()}
    missing = sorted(set(functional.__all__) - set(specs))
    assert not missing, f"public functions without a LossSpec: {missing}"
    for name, modules in specs.items():
        assert modules <= set(nn.__all__), (name, modules)
