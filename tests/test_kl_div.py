"""KL divergence: the shared contract (probability and log-probability targets), identities with
torch, and the claims of docs/losses/kl_div.md."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.distributions import Categorical, kl_divergence

from deeplossdive import value_checks
from deeplossdive.functional import kl_div
from deeplossdive.nn import KLDivLoss
from tests.harness import ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import kl_div as oracles

KL_REDUCTIONS = ("none", "batchmean", "sum", "mean")
# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _distributions(shape: tuple[int, ...], gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """(log q, p) along dimension 1; p has exact zeros (never at its largest entry)."""
    log_q = torch.log_softmax(2 * torch.randn(shape, generator=gen, dtype=torch.float64), dim=1)
    p = torch.softmax(torch.randn(shape, generator=gen, dtype=torch.float64), dim=1)
    zero = (torch.rand(shape, generator=gen, dtype=torch.float64) < 0.2) & (
        p < p.amax(dim=1, keepdim=True)
    )
    p = p.masked_fill(zero, 0.0)
    return log_q, p / p.sum(dim=1, keepdim=True)


def _prob_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    log_q, p = _distributions(shape, gen)
    return log_q.to(dtype), p.to(dtype)


def _log_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    log_q, p = _distributions(shape, gen)
    return log_q.to(dtype), p.log().to(dtype)  # -inf where p = 0


def _saturate(inputs: Inputs) -> Inputs:
    """log q in {0, -100}: one class certain, the others at e^-100."""
    log_q, target = inputs
    top = log_q == log_q.amax(dim=1, keepdim=True)
    return torch.where(top, 0.0, -100.0).to(log_q.dtype), target


def _errors(log_target: bool) -> tuple[ErrorCase, ...]:
    log_q, p = _prob_inputs((3, 4), torch.float32, torch.Generator().manual_seed(0))
    common = (
        ErrorCase(
            "int-log-probs",
            lambda: kl_div(log_q.long(), p),
            TypeError,
            "kl_div: log_probs must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "int-target",
            lambda: kl_div(log_q, p.long()),
            TypeError,
            "kl_div: target must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: kl_div(log_q, p.tolist()),  # type: ignore[arg-type]
            TypeError,
            "kl_div: target must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "no-broadcast",
            lambda: kl_div(log_q, p[:1]),
            ValueError,
            "kl_div: target must have the shape of log_probs (3, 4), got (1, 4)",
        ),
        ErrorCase(
            "batchmean-1d",
            lambda: kl_div(log_q[0], p[0]),
            ValueError,
            "kl_div: log_probs must have at least 2 dimensions (N, C, ...) for "
            "reduction='batchmean' (sum / N), got shape (4,)",
        ),
        ErrorCase(
            "module-reduction",
            lambda: KLDivLoss(reduction="elementwise_mean"),  # type: ignore[arg-type]
            ValueError,
            "KLDivLoss: reduction must be one of 'none', 'batchmean', 'sum', 'mean', "
            "got 'elementwise_mean'",
        ),
    )
    if log_target:
        log_p = p.log()

        def bad_log_target(value: float) -> Callable[[], object]:
            return lambda: kl_div(
                log_q, log_p.index_fill(1, torch.tensor([2]), value), log_target=True
            )

        return common + tuple(
            ErrorCase(
                f"log-target-{case}",
                bad_log_target(value),
                ValueError,
                "kl_div: target must hold log-probabilities (values below inf, -inf allowed), "
                f"got {shown}",
            )
            for case, value, shown in (("plus-inf", math.inf, "inf"), ("nan", math.nan, "nan"))
        )

    def bad_target(value: float) -> Callable[[], object]:
        return lambda: kl_div(log_q, p.index_fill(1, torch.tensor([2]), value))

    bad = (("negative", -0.5, "-0.5"), ("plus-inf", math.inf, "inf"), ("nan", math.nan, "nan"))
    return common + tuple(
        ErrorCase(
            f"target-{case}",
            bad_target(value),
            ValueError,
            f"kl_div: target must hold finite values >= 0, got {shown}",
        )
        for case, value, shown in bad
    )


KL_DIV = LossSpec(
    function=kl_div,
    module=KLDivLoss,
    oracle=oracles.kl_div,
    make_inputs=_prob_inputs,
    shapes=((6, 5), (2, 3, 4, 5)),
    options=({"log_target": False},),
    saturate=_saturate,
    errors=_errors(log_target=False),
    low_precision_tol=LOW_PRECISION_TOL,
    # A term p (log p - log q) is negative wherever q > p; only the per-sample sums are >= 0,
    # and a perfect prediction is not minimal term by term: both are tested below instead.
    non_negative=False,
    perfect=None,
    reductions=KL_REDUCTIONS,
)

KL_DIV_LOG_TARGET = LossSpec(
    function=kl_div,
    module=KLDivLoss,
    oracle=oracles.kl_div,
    make_inputs=_log_inputs,
    shapes=((6, 5), (2, 3, 4, 5)),
    options=({"log_target": True},),
    saturate=_saturate,
    errors=_errors(log_target=True),
    low_precision_tol=LOW_PRECISION_TOL,
    non_negative=False,
    perfect=None,
    reductions=KL_REDUCTIONS,
)


class TestKLDiv(LossContract):
    spec = KL_DIV


class TestKLDivLogTarget(LossContract):
    spec = KL_DIV_LOG_TARGET


def _torch_kl_div(log_q: Tensor, target: Tensor, reduction: str, log_target: bool) -> Tensor:
    with warnings.catch_warnings():
        # torch warns that its "mean" is not the KL divergence; that is the point of the test.
        warnings.filterwarnings("ignore", "reduction: 'mean' divides", UserWarning)
        return F.kl_div(log_q, target, reduction=reduction, log_target=log_target)


@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(8, 5), (2, 3, 4, 4)])
def test_equals_torch_values_and_gradients(
    reduction: str, log_target: bool, shape: tuple[int, ...]
) -> None:
    log_q, p = _distributions(shape, torch.Generator().manual_seed(3))
    p = (p + 0.01) / (p + 0.01).sum(dim=1, keepdim=True)  # p > 0: target gradients are finite
    target = p.log() if log_target else p
    ours_in = (log_q.clone().requires_grad_(True), target.clone().requires_grad_(True))
    torch_in = (log_q.clone().requires_grad_(True), target.clone().requires_grad_(True))
    ours = kl_div(*ours_in, log_target=log_target, reduction=reduction)  # type: ignore[arg-type]
    theirs = _torch_kl_div(*torch_in, reduction, log_target)
    torch.testing.assert_close(ours, theirs)
    ours_grads = torch.autograd.grad(ours.sum(), ours_in)
    torch_grads = torch.autograd.grad(theirs.sum(), torch_in)
    for mine, reference in zip(ours_grads, torch_grads, strict=True):
        torch.testing.assert_close(mine, reference)


def test_torch_warns_for_mean_and_we_do_not() -> None:
    log_q, p = _prob_inputs((2, 3), torch.float32, torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="'mean' divides the total loss by both"):
        F.kl_div(log_q, p, reduction="mean")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kl_div(log_q, p, reduction="mean")


def test_default_is_batchmean_unlike_torch() -> None:
    log_q, p = _prob_inputs((4, 3), torch.float64, torch.Generator().manual_seed(1))
    torch.testing.assert_close(KLDivLoss()(log_q, p), nn.KLDivLoss(reduction="batchmean")(log_q, p))
    torch.testing.assert_close(kl_div(log_q, p), kl_div(log_q, p, reduction="batchmean"))


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 2)])
def test_batchmean_is_the_kl_divergence_of_categoricals(shape: tuple[int, ...]) -> None:
    log_q, p = _distributions(shape, torch.Generator().manual_seed(2))
    # torch.distributions wants the classes last; the KL of each distribution, summed per sample.
    exact = kl_divergence(
        Categorical(probs=p.movedim(1, -1)), Categorical(logits=log_q.movedim(1, -1))
    )
    per_sample = exact.reshape(shape[0], -1).sum(dim=1)
    torch.testing.assert_close(kl_div(log_q, p, reduction="batchmean"), per_sample.mean())
    torch.testing.assert_close(kl_div(log_q, p, reduction="sum"), per_sample.sum())
    # "mean" divides by every element: batchmean / (C · d1 · …), not a KL divergence.
    per_element = math.prod(shape[1:])
    torch.testing.assert_close(kl_div(log_q, p, reduction="mean"), per_sample.mean() / per_element)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 8), scale=st.floats(0.01, 30))
@settings(deadline=None)
def test_per_sample_sums_are_non_negative_and_zero_at_target(
    seed: int, n: int, scale: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    log_q, p = _distributions((n, 5), gen)
    log_q = torch.log_softmax(log_q * scale, dim=1)
    terms = kl_div(log_q, p, reduction="none")
    assert (terms.sum(dim=1) >= -1e-12).all()
    perfect = kl_div(p.log(), p, reduction="none")
    assert perfect.abs().max() < 1e-12
    assert kl_div(p.log(), p).item() <= kl_div(log_q, p).item() + 1e-12


def test_terms_can_be_negative() -> None:
    q = torch.tensor([[0.25, 0.75]])
    p = torch.tensor([[0.5, 0.5]])
    terms = kl_div(q.log(), p, reduction="none")
    assert terms[0, 1] < 0 < terms.sum()


@pytest.mark.parametrize(("reduction", "scale"), [("none", 1), ("sum", 1), ("batchmean", 4)])
def test_gradient_is_minus_target(reduction: str, scale: int) -> None:
    log_q, p = _prob_inputs((4, 3), torch.float64, torch.Generator().manual_seed(4))
    log_q.requires_grad_(True)
    loss = kl_div(log_q, p, reduction=reduction)  # type: ignore[arg-type]
    (grad,) = torch.autograd.grad(loss.sum(), log_q)
    torch.testing.assert_close(grad, -p / scale)


def test_log_target_equals_probability_target() -> None:
    log_q, p = _distributions((5, 4), torch.Generator().manual_seed(5))
    for reduction in KL_REDUCTIONS:
        torch.testing.assert_close(
            kl_div(log_q, p.log(), log_target=True, reduction=reduction),  # type: ignore[arg-type]
            kl_div(log_q, p, reduction=reduction),  # type: ignore[arg-type]
        )


def test_masked_classes_are_zero_not_nan() -> None:
    """p = 0 where q = 0 (log q = -inf) contributes 0; torch gives NaN."""
    log_q = torch.tensor([[-math.inf, math.log(0.5), math.log(0.5)]], requires_grad=True)
    p = torch.tensor([[0.0, 0.25, 0.75]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    for target, log_target in ((p, False), (p.log(), True)):
        loss = kl_div(log_q, target, log_target=log_target, reduction="sum")
        assert loss.item() == pytest.approx(expected)
        (grad,) = torch.autograd.grad(loss, log_q)
        torch.testing.assert_close(grad, -p)
        assert torch.isnan(F.kl_div(log_q, target, log_target=log_target, reduction="sum"))


def test_mass_where_the_model_has_none_is_infinite() -> None:
    log_q = torch.tensor([[-math.inf, 0.0]])
    assert kl_div(log_q, torch.tensor([[0.5, 0.5]])).item() == math.inf


def test_direction_forward_is_not_reverse() -> None:
    p = torch.tensor([[0.9, 0.1]])
    q = torch.tensor([[0.5, 0.5]])
    forward = kl_div(q.log(), p)  # KL(p || q)
    reverse = kl_div(p.log(), q)  # KL(q || p)
    assert forward.item() == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert reverse.item() == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(5.0))
    assert forward.item() != pytest.approx(reverse.item())


def test_probabilities_as_input_give_a_meaningless_number() -> None:
    """The common mistake: q instead of log q. The result can even be negative."""
    q = torch.tensor([[0.7, 0.2, 0.1]])
    p = torch.tensor([[0.6, 0.3, 0.1]])
    right = kl_div(q.log(), p)
    wrong = kl_div(q, p)
    assert right.item() > 0
    assert wrong.item() < 0
    torch.testing.assert_close(wrong, (p * p.log()).sum() - (p * q).sum())


def test_empty_batch_is_zero() -> None:
    log_q = torch.zeros(0, 3, requires_grad=True)
    for reduction in ("batchmean", "sum"):
        assert kl_div(log_q, torch.zeros(0, 3), reduction=reduction).item() == 0.0


def test_value_checks_switch() -> None:
    log_q, p = _prob_inputs((2, 3), torch.float32, torch.Generator().manual_seed(6))
    with value_checks(False):
        kl_div(log_q, -p)  # no sync, no check: a meaningless number
        kl_div(log_q, torch.full_like(p, math.inf), log_target=True)
    with pytest.raises(ValueError, match="target must hold finite values >= 0"):
        kl_div(log_q, -p)


def test_module_repr_and_defaults() -> None:
    assert repr(KLDivLoss()) == "KLDivLoss(log_target=False, reduction='batchmean')"
    criterion = KLDivLoss(log_target=True, reduction="mean")
    assert repr(criterion) == "KLDivLoss(log_target=True, reduction='mean')"
