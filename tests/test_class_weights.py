"""class_balanced_weights: the authors' formula, its limits, its errors, its use as a weight."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from deeplossdive.functional import (
    class_balanced_weights,
    cross_entropy,
    focal_loss,
    multilabel_soft_margin_loss,
)
from tests.oracles.class_weights import class_balanced

COUNTS = [5000, 2000, 500, 120, 30, 7, 1]


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999])
def test_matches_the_authors_formula(beta: float) -> None:
    ours = class_balanced_weights(torch.tensor(COUNTS, dtype=torch.float64), beta=beta)
    torch.testing.assert_close(ours, class_balanced(COUNTS, beta=beta))
    assert ours.sum().item() == pytest.approx(len(COUNTS))


def test_beta_zero_is_uniform_and_beta_to_one_is_inverse_frequency() -> None:
    assert class_balanced_weights(COUNTS, beta=0.0).tolist() == [1.0] * len(COUNTS)
    inverse = torch.tensor([1 / n for n in COUNTS], dtype=torch.float64)
    inverse = inverse * len(COUNTS) / inverse.sum()
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    # The limit is approached at rate (1 - beta) n: exact digits where the oracle's 1 - beta^n
    # would already lose them (expm1 keeps them).
    for beta, tol in ((1 - 1e-6, 1e-2), (1 - 1e-9, 1e-5), (1 - 1e-12, 1e-8)):
        torch.testing.assert_close(
            class_balanced_weights(counts, beta=beta), inverse, rtol=tol, atol=0
        )
    # Small beta: every E_n is close to 1, the weights close to uniform.
    near_uniform = class_balanced_weights(counts, beta=1e-6)
    torch.testing.assert_close(near_uniform, torch.ones(7, dtype=torch.float64), rtol=2e-6, atol=0)


def test_rarer_classes_weigh_more_and_equal_counts_weigh_the_same() -> None:
    weights = class_balanced_weights(COUNTS, beta=0.999)
    assert (weights[1:] > weights[:-1]).all()
    assert class_balanced_weights([40, 40, 40]).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_dtype_and_device() -> None:
    assert class_balanced_weights([3, 1]).dtype == torch.get_default_dtype()
    assert class_balanced_weights(torch.tensor([3, 1])).dtype == torch.get_default_dtype()
    assert class_balanced_weights(torch.tensor([3.0, 1.0], dtype=torch.float64)).dtype == (
        torch.float64
    )
    half = class_balanced_weights(torch.tensor([3.0, 1.0], dtype=torch.float16))
    assert half.dtype == torch.float16


def test_docstring_example_by_hand() -> None:
    effective = [(1 - 0.99**n) / 0.01 for n in (1000, 100, 10)]
    assert [round(e, 2) for e in effective] == [100.0, 63.4, 9.56]
    assert [round(1 / e, 4) for e in effective] == [0.0100, 0.0158, 0.1046]
    assert round(sum(1 / e for e in effective), 4) == 0.1304


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_usable_as_the_weight_of_cross_entropy_and_the_alpha_of_focal(reduction: Any) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 7, generator=generator)
    target = torch.randint(0, 7, (32,), generator=generator)
    weights = class_balanced_weights(COUNTS)
    ours = cross_entropy(logits, target, weight=weights, reduction=reduction)
    torch.testing.assert_close(
        ours, F.cross_entropy(logits, target, weight=weights, reduction=reduction)
    )
    # The focal loss with gamma = 0 and alpha = the weights is that weighted cross-entropy.
    focal = focal_loss(logits, target, gamma=0.0, alpha=weights, reduction=reduction)
    torch.testing.assert_close(focal, ours)
    multi_hot = (torch.rand(32, 7, generator=generator) < 0.3).float()
    multilabel_soft_margin_loss(logits, multi_hot, weight=weights, reduction=reduction)


ERRORS = [
    (
        lambda: class_balanced_weights([3, 0, 2]),
        ValueError,
        "class_balanced_weights: samples_per_class must hold finite counts > 0, "
        "got 0.0 for class 1",
    ),
    (
        lambda: class_balanced_weights(torch.tensor([3, -2])),
        ValueError,
        "class_balanced_weights: samples_per_class must hold finite counts > 0, "
        "got -2.0 for class 1",
    ),
    (
        lambda: class_balanced_weights([3.0, math.inf]),
        ValueError,
        "class_balanced_weights: samples_per_class must hold finite counts > 0, "
        "got inf for class 1",
    ),
    (
        lambda: class_balanced_weights([3.0, math.nan]),
        ValueError,
        "class_balanced_weights: samples_per_class must hold finite counts > 0, "
        "got nan for class 1",
    ),
    (
        lambda: class_balanced_weights([3, 2], beta=1.0),
        ValueError,
        "class_balanced_weights: beta must be in [0, 1), got 1.0",
    ),
    (
        lambda: class_balanced_weights([3, 2], beta=-0.1),
        ValueError,
        "class_balanced_weights: beta must be in [0, 1), got -0.1",
    ),
    (
        lambda: class_balanced_weights([3, 2], beta="0.9"),  # type: ignore[arg-type]
        TypeError,
        "class_balanced_weights: beta must be a real number, got str",
    ),
    (
        lambda: class_balanced_weights(torch.ones(2, 3)),
        ValueError,
        "class_balanced_weights: samples_per_class must be a 1-D tensor with one count per class, "
        "got shape (2, 3)",
    ),
    (
        lambda: class_balanced_weights([]),
        ValueError,
        "class_balanced_weights: samples_per_class must be a 1-D tensor with one count per class, "
        "got shape (0,)",
    ),
    (
        lambda: class_balanced_weights(torch.tensor([True, False])),
        TypeError,
        "class_balanced_weights: samples_per_class must be an integer or floating-point tensor, "
        "got dtype torch.bool",
    ),
    (
        lambda: class_balanced_weights(["3", "2"]),  # type: ignore[list-item]
        TypeError,
        "class_balanced_weights: samples_per_class must be a 1-D tensor or a sequence of numbers, "
        "got list of ['str']",
    ),
    (
        lambda: class_balanced_weights(3),  # type: ignore[arg-type]
        TypeError,
        "class_balanced_weights: samples_per_class must be a 1-D tensor or a sequence of numbers, "
        "got int",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), ERRORS)
def test_errors(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()


def test_cross_entropy_page_claims() -> None:
    """docs/losses/cross_entropy.md, "Class-balanced weights": E_n saturates at 1 / (1 - beta),
    10 for beta = 0.9, which is why beta = 0.9 changes little for counts of 10 and more."""
    for n in (10, 100, 1000):
        effective = (1 - 0.9**n) / (1 - 0.9)
        assert effective <= 10 + 1e-9
        assert effective > 6.5
    weights = class_balanced_weights([1000, 100, 10], beta=0.9)
    assert weights.max() / weights.min() < 1.6
