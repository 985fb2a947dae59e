"""The public surface and its types. mypy --strict checks the `assert_type` lines statically."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import assert_type

import torch
from torch import Tensor

import deeplossdive
from deeplossdive import functional, losses, nn
from deeplossdive._about import ABOUT, losses_of
from deeplossdive.functional import focal_loss
from deeplossdive.nn import FocalLoss, Loss
from tests.specs import loss_specs

ROOT = Path(__file__).resolve().parent.parent


def test_call_of_a_loss_module_is_typed_tensor() -> None:
    criterion = FocalLoss()
    loss = criterion(torch.randn(2, 3), torch.tensor([0, 2]))
    assert_type(loss, Tensor)
    assert_type(focal_loss(torch.randn(2, 3), torch.tensor([0, 2])), Tensor)
    assert isinstance(loss, Tensor)


def test_every_function_has_exactly_one_module() -> None:
    """Each module names its function (`class FocalLoss(Loss[Reduction], function=focal_loss)`),
    and its docstring links to it: "Module form of [`f`][deeplossdive.functional.f]"."""
    pattern = re.compile(r"Module form of\s+\[`(\w+)`\]\[deeplossdive\.functional\.(\w+)\]")
    twins: dict[str, str] = {}
    for name in nn.__all__:
        if name == "Loss":
            continue
        module = getattr(nn, name)
        assert issubclass(module, Loss), name
        function = module.function.__name__
        assert getattr(functional, function, None) is module.function, (
            f"{name}.function is {function}, not a function of deeplossdive.functional"
        )
        match = pattern.match(module.__doc__ or "")
        assert match is not None, f"{name}: docstring must start with its function's reference"
        assert match[1] == match[2] == function, f"{name}: its docstring links to {match[1]}"
        assert function not in twins, f"{name} and {twins.get(function)} wrap the same function"
        twins[function] = name
    missing = sorted(set(losses_of(functional.__all__)) - set(twins))
    assert not missing, f"public functions without a module in deeplossdive.nn: {missing}"


def test_every_module_takes_its_functions_options() -> None:
    """A module's keyword arguments are its function's, with the same defaults: what the base
    passes to the function in `forward` (less the tensors its `forward` takes at the call, as
    `LinearCrossEntropyLoss` takes the layer's bias). The modules that hold a parameter
    (ArcFace's class weights) take its shape first."""
    for name in nn.__all__:
        if name == "Loss":
            continue
        module = getattr(nn, name)
        function = inspect.signature(module.function).parameters.values()
        at_the_call = set(inspect.signature(module.forward).parameters)
        expected = {
            p.name: p.default
            for p in function
            if p.kind is p.KEYWORD_ONLY and p.name not in at_the_call
        }
        init = inspect.signature(module).parameters.values()
        shape = [p.name for p in init if p.kind is not p.KEYWORD_ONLY]
        assert shape == (["num_classes", "embedding_dim"] if shape else []), name
        assert {p.name: p.default for p in init if p.name not in shape} == expected, name


def test_every_loss_file_is_exported() -> None:
    """The functions that loss files describe and the modules they define are public."""
    problems = []
    for info in pkgutil.iter_modules(losses.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"deeplossdive.losses.{info.name}")
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported, not defined here
            if name in ABOUT and name not in functional.__all__:
                problems.append(f"deeplossdive/functional.py: from {module.__name__} import {name}")
            # A private base shared by a file's modules is not public.
            is_module = isinstance(value, type) and issubclass(value, Loss) and name[0] != "_"
            if is_module and name not in nn.__all__:
                problems.append(f"deeplossdive/nn.py: from {module.__name__} import {name}")
    assert not problems, "public losses not exported (add them to __all__ too):\n" + "\n".join(
        problems
    )


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


def test_every_function_has_a_spec_an_oracle_a_page_and_its_facts() -> None:
    """Adding a loss touches four files: the loss file (function, module, `describe(...)`), its
    oracle in tests/oracles/, its `LossSpec` in tests/test_<loss>.py and its page in
    docs/losses/. Each public function is the `spec.function` of a `LossContract` class
    (oracle, gradcheck, stability, compile, ...) whose oracle comes from tests/oracles/ and whose
    module is the function's twin; it is rendered on a page and declares its facts and plot."""
    found = loss_specs()
    specs = {name: {spec.module.__name__ for spec in group} for name, group in found.items()}
    oracles = {name: group[0].oracle.__module__ for name, group in found.items()}
    missing = sorted(set(losses_of(functional.__all__)) - set(specs))
    assert not missing, f"public functions without a LossSpec: {missing}"
    for name, modules in specs.items():
        assert modules <= set(nn.__all__), (name, modules)
        assert oracles[name].startswith("tests.oracles."), f"{name}: its oracle is {oracles[name]}"
    pages = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "losses").glob("*.md"))
    rendered = set(re.findall(r"^:::\s+deeplossdive\.functional\.(\w+)\s*$", pages, re.M))
    missing = sorted(set(functional.__all__) - rendered)
    assert not missing, f"public functions on no page of docs/losses/ (`::: ...`): {missing}"
    missing = sorted(set(losses_of(functional.__all__)) - ABOUT.keys())
    assert not missing, f"public functions without `describe(...)` in their loss file: {missing}"
