"""The public surface and its types. mypy --strict checks the `assert_type` lines statically."""

from __future__ import annotations

from typing import assert_type

import torch
from torch import Tensor

import deeplossdive
from deeplossdive import functional, nn
from deeplossdive.functional import focal_loss
from deeplossdive.nn import FocalLoss, Loss


def test_call_of_a_loss_module_is_typed_tensor() -> None:
    criterion = FocalLoss()
    loss = criterion(torch.randn(2, 3), torch.tensor([0, 2]))
    assert_type(loss, Tensor)
    assert_type(focal_loss(torch.randn(2, 3), torch.tensor([0, 2])), Tensor)
    assert isinstance(loss, Tensor)


def test_every_function_has_a_module_and_vice_versa() -> None:
    modules = {name for name in nn.__all__ if name != "Loss"}
    assert all(issubclass(getattr(nn, name), Loss) for name in modules)
    snake = {
        "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") for name in modules
    }
    assert snake == set(functional.__all__)


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
