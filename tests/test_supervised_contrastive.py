"""Supervised contrastive loss: the shared contract, the identity with NT-Xent, parity with
pytorch-metric-learning and with the authors' code, and the claims of
docs/losses/supervised_contrastive.md."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import SupConLoss as PMLSupConLoss
from pytorch_metric_learning.reducers import DoNothingReducer
from torch import Tensor

from deeplossdive import Reduction
from deeplossdive.functional import nt_xent_loss, supervised_contrastive_loss
from deeplossdive.nn import SupervisedContrastiveLoss
from tests.harness import ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import supervised_contrastive as oracles

REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")
# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result and of the gradient (float16: 2^-11 relative, bfloat16: 2^-8).
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-3), torch.bfloat16: (1.6e-2, 1e-2)}


def _labelled(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """N embeddings in max(N // 3, 1) classes of at least 2 (N >= 2), shuffled: every anchor has a
    positive, so `"mean"` is the plain mean (anchors without one are tested separately)."""
    n, d = shape
    num_classes = max(n // 3, 1)
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
    centres = torch.randn(num_classes, d, generator=gen, dtype=torch.float64)
    embeddings = centres[labels] + 0.8 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return embeddings.to(dtype), labels


def _saturate(inputs: Inputs) -> Inputs:
    embeddings, labels = inputs
    return torch.where(embeddings > 0, 100.0, -100.0).to(embeddings.dtype), labels


def _errors() -> tuple[ErrorCase, ...]:
    embeddings, labels = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    fn = "supervised_contrastive_loss"
    return (
        ErrorCase(
            "int-embeddings",
            lambda: supervised_contrastive_loss(embeddings.long(), labels),
            TypeError,
            f"{fn}: embeddings must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "float-labels",
            lambda: supervised_contrastive_loss(embeddings, labels.float()),
            TypeError,
            f"{fn}: labels must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "bool-labels",
            lambda: supervised_contrastive_loss(embeddings, labels.bool()),
            TypeError,
            f"{fn}: labels must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.bool",
        ),
        ErrorCase(
            "not-a-tensor",
            lambda: supervised_contrastive_loss(embeddings, [0, 1, 0, 1]),  # type: ignore[arg-type]
            TypeError,
            f"{fn}: labels must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "1d-embeddings",
            lambda: supervised_contrastive_loss(embeddings[0], labels[:3]),
            ValueError,
            f"{fn}: embeddings must have 2 dimensions (N, D), got shape (3,)",
        ),
        ErrorCase(
            "views-not-concatenated",
            lambda: supervised_contrastive_loss(embeddings.view(2, 2, 3), labels[:2]),
            ValueError,
            f"{fn}: embeddings must have 2 dimensions (N, D), got shape (2, 2, 3)",
        ),
        ErrorCase(
            "labels-length",
            lambda: supervised_contrastive_loss(embeddings, labels[:2]),
            ValueError,
            f"{fn}: labels must have shape (4,) (one label per row of embeddings), got (2,)",
        ),
        ErrorCase(
            "labels-column",
            lambda: supervised_contrastive_loss(embeddings, labels.view(4, 1)),
            ValueError,
            f"{fn}: labels must have shape (4,) (one label per row of embeddings), got (4, 1)",
        ),
        ErrorCase(
            "temperature-zero",
            lambda: supervised_contrastive_loss(embeddings, labels, temperature=0),
            ValueError,
            f"{fn}: temperature must be a finite number > 0, got 0",
        ),
        ErrorCase(
            "temperature-inf",
            lambda: supervised_contrastive_loss(embeddings, labels, temperature=math.inf),
            ValueError,
            f"{fn}: temperature must be a finite number > 0, got inf",
        ),
        ErrorCase(
            "module-temperature",
            lambda: SupervisedContrastiveLoss(temperature=-1.0),
            ValueError,
            "SupervisedContrastiveLoss: temperature must be a finite number > 0, got -1.0",
        ),
    )


SUPERVISED_CONTRASTIVE = LossSpec(
    function=supervised_contrastive_loss,
    module=SupervisedContrastiveLoss,
    oracle=oracles.supervised_contrastive,
    make_inputs=_labelled,
    shapes=((6, 4), (16, 32)),
    options=(
        {"temperature": 0.1},
        {"temperature": 0.5},
        {"temperature": 0.005},
        {"temperature": 5.0},
    ),
    saturate=_saturate,
    # Bounded below by log |P(i)| plus a positive term: no input reaches 0.
    perfect=None,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    non_negative=True,
)


class TestSupervisedContrastiveLoss(LossContract):
    spec = SUPERVISED_CONTRASTIVE


def _grad(value: Tensor, wrt: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(value, wrt)
    return grad


def _with_singletons(seed: int = 0) -> tuple[Tensor, Tensor]:
    """12 embeddings: classes of 4, 3 and 2, and three labels that appear once (7, -3, 100)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 1, 0, 2, 7, 1, 0, 2, -3, 1, 0, 100])
    embeddings = torch.randn(12, 5, generator=gen, dtype=torch.float64).requires_grad_()
    return embeddings, labels


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("temperature", [0.005, 0.1, 1.0])
def test_anchors_without_positives_match_oracle(reduction: Reduction, temperature: float) -> None:
    embeddings, labels = _with_singletons()
    torch.testing.assert_close(
        supervised_contrastive_loss(
            embeddings, labels, temperature=temperature, reduction=reduction
        ),
        oracles.supervised_contrastive(
            embeddings.detach(), labels, temperature=temperature, reduction=reduction
        ),
    )


def test_anchors_without_positives_policy() -> None:
    """0 in "none", left out of the mean's denominator, still negatives for the others."""
    embeddings, labels = _with_singletons()
    unreduced = supervised_contrastive_loss(embeddings, labels, reduction="none")
    alone = torch.tensor([4, 8, 11])
    assert torch.equal(unreduced[alone], torch.zeros(3, dtype=torch.float64))
    assert not torch.signbit(unreduced[alone]).any()  # +0, not -0
    mean = supervised_contrastive_loss(embeddings, labels)
    torch.testing.assert_close(mean, unreduced.sum() / 9)
    # As negatives they still shape the others' losses, and receive gradient.
    assert _grad(mean, embeddings)[alone].abs().min() > 0


def test_all_labels_distinct_gives_zero_with_zero_gradient() -> None:
    embeddings = torch.randn(5, 3, requires_grad=True)
    labels = torch.arange(5)
    for reduction in REDUCTIONS:
        value = supervised_contrastive_loss(embeddings, labels, reduction=reduction)
        assert torch.equal(value, torch.zeros_like(value))
        assert torch.equal(_grad(value.sum(), embeddings), torch.zeros(5, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("temperature", [0.005, 0.07, 0.5, 5.0])
def test_two_views_distinct_labels_is_nt_xent(reduction: Reduction, temperature: float) -> None:
    """The identity the page states: values and gradients, in the anchor order of nt_xent_loss."""
    gen = torch.Generator().manual_seed(1)
    z1 = torch.randn(7, 6, generator=gen, dtype=torch.float64).requires_grad_()
    z2 = (
        z1.detach() + 0.3 * torch.randn(7, 6, generator=gen, dtype=torch.float64)
    ).requires_grad_()
    labels = torch.arange(7).repeat(2)
    supcon = supervised_contrastive_loss(
        torch.cat([z1, z2]), labels, temperature=temperature, reduction=reduction
    )
    ntxent = nt_xent_loss(z1, z2, temperature=temperature, reduction=reduction)
    torch.testing.assert_close(supcon, ntxent)
    supcon_grads = torch.autograd.grad(supcon.sum(), (z1, z2))
    ntxent_grads = torch.autograd.grad(ntxent.sum(), (z1, z2))
    for a, b in zip(supcon_grads, ntxent_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_labels_are_any_integers() -> None:
    embeddings, labels = _with_singletons()
    relabelled = torch.where(labels == 0, -(10**12), labels * 1000 + 5).to(torch.int32)
    torch.testing.assert_close(
        supervised_contrastive_loss(embeddings, relabelled.long()),
        supervised_contrastive_loss(embeddings, labels),
    )


@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
def test_matches_pytorch_metric_learning(temperature: float) -> None:
    """PML's SupConLoss: its default AvgNonZeroReducer averages the anchors whose loss is > 0,
    which leaves out exactly the anchors without positives, our "mean"; DoNothingReducer gives
    one loss per anchor (0 for those), our "none". Values and gradients, singletons included."""
    embeddings, labels = _with_singletons(seed=2)
    pml = PMLSupConLoss(temperature=temperature)(embeddings, labels)
    ours = supervised_contrastive_loss(embeddings, labels, temperature=temperature)
    torch.testing.assert_close(ours, pml)
    torch.testing.assert_close(_grad(ours, embeddings), _grad(pml, embeddings))
    unreduced = PMLSupConLoss(temperature=temperature, reducer=DoNothingReducer())(
        embeddings, labels
    )["loss"]
    assert torch.equal(unreduced["indices"], torch.arange(12))
    torch.testing.assert_close(
        supervised_contrastive_loss(embeddings, labels, temperature=temperature, reduction="none"),
        unreduced["losses"],
    )


def test_pytorch_metric_learning_gives_zero_without_negatives() -> None:
    """The mapping's exception: a batch of one class has positives but no negatives. PML returns
    0 (no gradient); the paper's formula, and ours, still pull the views together."""
    embeddings = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.zeros(4, dtype=torch.long)
    assert PMLSupConLoss(temperature=0.1)(embeddings, labels).item() == 0
    ours = supervised_contrastive_loss(embeddings, labels, temperature=0.1)
    torch.testing.assert_close(
        ours, oracles.supervised_contrastive(embeddings.detach(), labels, temperature=0.1)
    )
    assert ours.item() >= math.log(3)  # |P(i)| = |A(i)| = 3: at least log 3
    assert _grad(ours, embeddings).abs().max() > 0


def _authors_supcon(
    features: Tensor,
    labels: Tensor,
    temperature: float,
    *,
    contrast_mode: str = "all",
    base_temperature: float | None = None,
) -> Tensor:
    """HobbitLong/SupContrast `losses.py` (`SupConLoss.forward`), reproduced line for line:
    `features` (B, views, D) already normalised, the division by |P(i)| without a guard, the
    factor temperature / base_temperature, the mean over every anchor."""
    base_temperature = temperature if base_temperature is None else base_temperature
    batch_size, contrast_count = features.shape[:2]
    mask = torch.eq(labels.view(-1, 1), labels.view(1, -1)).float().to(features.dtype)
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    if contrast_mode == "one":
        anchor_feature, anchor_count = features[:, 0], 1
    else:
        anchor_feature, anchor_count = contrast_feature, contrast_count
    anchor_dot_contrast = torch.div(anchor_feature @ contrast_feature.T, temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    logits_mask = torch.scatter(
        torch.ones_like(mask), 1, torch.arange(batch_size * anchor_count).view(-1, 1), 0
    )
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = -(temperature / base_temperature) * mean_log_prob_pos
    return loss.view(anchor_count, batch_size).mean()


def test_authors_code_mapping() -> None:
    """The page's table: features (B, V, D) -> torch.cat(torch.unbind(features, 1)) with the
    labels repeated V times; contrast_mode="one" is the mean of our first B anchors;
    base_temperature multiplies by temperature / base_temperature."""
    gen = torch.Generator().manual_seed(7)
    features = F.normalize(torch.randn(5, 3, 4, generator=gen, dtype=torch.float64), dim=2)
    labels = torch.tensor([0, 1, 0, 2, 1])
    flat, flat_labels = torch.cat(torch.unbind(features, dim=1)), labels.repeat(3)
    ours = supervised_contrastive_loss(flat, flat_labels, temperature=0.1, reduction="none")
    torch.testing.assert_close(_authors_supcon(features, labels, 0.1), ours.mean())
    torch.testing.assert_close(
        _authors_supcon(features, labels, 0.1, contrast_mode="one"), ours[:5].mean()
    )
    torch.testing.assert_close(
        _authors_supcon(features, labels, 0.1, base_temperature=0.07), ours.mean() * 0.1 / 0.07
    )


def test_authors_code_equals_ours_when_every_anchor_has_a_positive() -> None:
    gen = torch.Generator().manual_seed(3)
    features = F.normalize(torch.randn(6, 2, 4, generator=gen, dtype=torch.float64), dim=2)
    labels = torch.tensor([0, 1, 2, 0, 5, 1])
    ours = supervised_contrastive_loss(
        torch.cat(torch.unbind(features, dim=1)), labels.repeat(2), temperature=0.1
    )
    torch.testing.assert_close(ours, _authors_supcon(features, labels, 0.1))


def test_authors_code_gives_nan_for_an_anchor_without_positives() -> None:
    """The page's pitfall: one view per sample and a label seen once; ours is finite."""
    features = F.normalize(torch.randn(4, 1, 3, dtype=torch.float64), dim=2)
    labels = torch.tensor([0, 1, 1, 2])
    assert torch.isnan(_authors_supcon(features, labels, 0.1))
    ours = supervised_contrastive_loss(features[:, 0], labels, temperature=0.1, reduction="none")
    assert torch.isfinite(ours).all()
    assert ours[0] == 0
    assert ours[3] == 0


def test_authors_code_needs_normalised_features() -> None:
    """The page's pitfall: the authors' loss does not normalise; ours does."""
    gen = torch.Generator().manual_seed(4)
    features = torch.randn(6, 2, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 5, 1])
    flat = torch.cat(torch.unbind(features, dim=1))
    ours = supervised_contrastive_loss(flat, labels.repeat(2), temperature=0.1)
    raw = _authors_supcon(features, labels, 0.1)
    normalised = _authors_supcon(F.normalize(features, dim=2), labels, 0.1)
    torch.testing.assert_close(ours, normalised)
    assert (raw - ours).abs() > 1


def test_gradient_with_respect_to_the_logits() -> None:
    """d l_i / d s_ij = (softmax_j - 1[j in P(i)] / |P(i)|) / T over j in A(i)."""
    embeddings, labels = _with_singletons(seed=5)
    temperature = 0.3
    u = F.normalize(embeddings.detach(), dim=1)
    u1 = u.clone().requires_grad_()
    loss = supervised_contrastive_loss(u1, labels, temperature=temperature, reduction="sum")
    grad = _grad(loss, u1)
    logits = (u @ u.T / temperature).fill_diagonal_(-math.inf)
    probs = torch.softmax(logits, dim=1)
    positive = (labels[:, None] == labels[None, :]).double().fill_diagonal_(0)
    count = positive.sum(1, keepdim=True)
    has_positive = count > 0
    g = torch.where(has_positive, (probs - positive / count.clamp(min=1)) / temperature, 0.0)
    formula = g @ u + g.T @ u
    tangential = grad - (grad * u).sum(1, keepdim=True) * u
    torch.testing.assert_close(tangential, formula - (formula * u).sum(1, keepdim=True) * u)


def test_gradcheck_with_singletons() -> None:
    embeddings, labels = _with_singletons()
    for reduction in ("none", "mean"):
        assert torch.autograd.gradcheck(
            lambda e, r=reduction: supervised_contrastive_loss(
                e, labels, temperature=0.2, reduction=r
            ),
            (embeddings,),
        )


def test_finite_at_small_temperature_and_any_norm() -> None:
    gen = torch.Generator().manual_seed(6)
    labels = torch.randint(0, 4, (24,), generator=gen)
    for scale in (1e-20, 1.0, 1e15):
        embeddings = (scale * torch.randn(24, 8, generator=gen)).requires_grad_()
        for reduction in REDUCTIONS:
            value = supervised_contrastive_loss(
                embeddings, labels, temperature=0.005, reduction=reduction
            )
            assert torch.isfinite(value).all()
            assert torch.isfinite(_grad(value.sum(), embeddings)).all()


def test_empty_batch() -> None:
    embeddings = torch.zeros(0, 3, requires_grad=True)
    labels = torch.zeros(0, dtype=torch.long)
    assert supervised_contrastive_loss(embeddings, labels).item() == 0
    assert supervised_contrastive_loss(embeddings, labels, reduction="none").shape == (0,)


def test_module_repr() -> None:
    assert (
        repr(SupervisedContrastiveLoss(temperature=0.2))
        == "SupervisedContrastiveLoss(temperature=0.2, reduction='mean')"
    )
