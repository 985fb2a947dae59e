"""CTC loss: the shared contract, parity with torch, the forward-algorithm oracle, page claims."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive import value_checks
from deeplossdive.functional import ctc_loss
from deeplossdive.nn import CTCLoss
from tests.harness import REDUCTIONS, ErrorCase, Inputs, LossContract, LossSpec, Options
from tests.inputs import LOW_PRECISION_TOL
from tests.oracles import ctc as oracles
from tests.syncs import NoSync

SHAPES = ((6, 3, 4), (12, 5, 6))  # (T, N, C)
LABELS = (1, 2, 4, 5)  # never 0 or 3: the blanks the options use


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _labels(count: tuple[int, ...], num_classes: int, gen: torch.Generator) -> Tensor:
    choices = torch.tensor([c for c in LABELS if c < num_classes])
    return choices[torch.randint(len(choices), count, generator=gen)]


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    """Padded targets of one length S = max(1, T // 3) (so that the batch mean is sum / (N S)),
    input lengths T or T - 1: always long enough for an alignment."""
    frames, batch, num_classes = shape
    logits = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    size = max(1, frames // 3)
    targets = _labels((batch, size), num_classes, gen)
    input_lengths = frames - torch.randint(2, (batch,), generator=gen) * (frames > 2 * size)
    target_lengths = torch.full((batch,), size)
    return logits.log_softmax(dim=2).to(dtype), targets, input_lengths, target_lengths


def _saturate(inputs: Inputs) -> Inputs:
    """log_softmax of logits +50 for one class per frame, -50 for the others: log-probabilities
    0 and -100 exactly; the target labels are at -100 on most frames."""
    log_probs, *others = inputs
    hot = F.one_hot(log_probs.argmax(dim=2), log_probs.shape[2]).bool()
    logits = torch.where(hot, 50.0, -50.0).double()
    return (logits.log_softmax(dim=2).to(log_probs.dtype), *others)


def _counted(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor, **_: Any
) -> Tensor:
    """`"mean"` is Σ ℓₙ / Sₙ / N: with one target length S, sum = mean × N S."""
    return target_lengths.sum().double()


def _errors() -> tuple[ErrorCase, ...]:
    fn = "ctc_loss"
    log_probs, targets, lengths, sizes = _inputs((6, 2, 4), torch.float32, _seeded(0))
    return (
        ErrorCase(
            "int-log-probs",
            lambda: ctc_loss(targets.view(1, 2, 2), targets, lengths, sizes),
            TypeError,
            f"{fn}: log_probs must be a floating-point tensor, got dtype torch.int64",
        ),
        ErrorCase(
            "NTC-2d",
            lambda: ctc_loss(log_probs[:, 0], targets, lengths, sizes),
            ValueError,
            f"{fn}: log_probs must have 3 dimensions (T, N, C), got shape (6, 4)",
        ),
        ErrorCase(
            "float-targets",
            lambda: ctc_loss(log_probs, targets.float(), lengths, sizes),
            TypeError,
            f"{fn}: targets must be an integer tensor of class indices (torch.int64), "
            "got dtype torch.float32",
        ),
        ErrorCase(
            "targets-shape",
            lambda: ctc_loss(log_probs, targets.view(2, 1, 2), lengths, sizes),
            ValueError,
            f"{fn}: targets must have shape (N, S) = (2, S) (padded) or be 1-D (concatenated), "
            "got (2, 1, 2)",
        ),
        ErrorCase(
            "list-lengths",
            lambda: ctc_loss(log_probs, targets, [6, 6], sizes),  # type: ignore[arg-type]
            TypeError,
            f"{fn}: input_lengths must be a torch.Tensor, got list",
        ),
        ErrorCase(
            "lengths-shape",
            lambda: ctc_loss(log_probs, targets, lengths[:1], sizes),
            ValueError,
            f"{fn}: input_lengths must have shape (2,) (one length per sample), got (1,)",
        ),
        ErrorCase(
            "blank-out-of-range",
            lambda: ctc_loss(log_probs, targets, lengths, sizes, blank=4),
            ValueError,
            f"{fn}: blank must be a class index in [0, 4), got 4",
        ),
        ErrorCase(
            "raw-logits",
            lambda: ctc_loss(log_probs.exp() * 3, targets, lengths, sizes),
            ValueError,
            f"{fn}: log_probs must hold log-probabilities (values <= 0), got",
        ),
        ErrorCase(
            "input-too-long",
            lambda: ctc_loss(log_probs, targets, torch.tensor([6, 7]), sizes),
            ValueError,
            f"{fn}: input_lengths must be in [0, T = 6], got 7",
        ),
        ErrorCase(
            "target-is-blank",
            lambda: ctc_loss(log_probs, torch.tensor([[1, 0], [2, 1]]), lengths, sizes),
            ValueError,
            f"{fn}: targets must hold class indices in [0, 4) other than blank=0, got 0",
        ),
        ErrorCase(
            "concatenated-size",
            lambda: ctc_loss(log_probs, torch.tensor([1, 2, 1]), lengths, sizes),
            ValueError,
            f"{fn}: targets (1-D, concatenated) must hold sum(target_lengths) = 4 labels, got 3",
        ),
        ErrorCase(
            "module-blank",
            lambda: CTCLoss(blank=-1),
            ValueError,
            "CTCLoss: blank must be an int >= 0, got -1",
        ),
    )


SPEC = LossSpec(
    function=ctc_loss,
    module=CTCLoss,
    oracle=oracles.ctc,
    make_inputs=_inputs,
    shapes=SHAPES,
    options=({}, {"blank": 3}, {"zero_infinity": True}),
    saturate=_saturate,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    counted=_counted,
    # The invariants test scales the log-probabilities: below 1 they are no longer normalised,
    # the alignments' probabilities can add up to more than 1 and the loss is then negative
    # (seed 1, T = 2, scale 0.5, blank=3: -0.0098). On log_softmax outputs it is >= 0.
    non_negative=False,
    ids=("blank=0", "blank=3", "zero_infinity"),
)


class TestCTCLoss(LossContract):
    spec = SPEC

    @pytest.mark.parametrize("reduction", ["none", "mean"])
    def test_gradcheck_float64(self, options: Options, reduction: Any) -> None:
        """torch's CTC gradient is the gradient with respect to the logits of a log_softmax
        (it differs from the derivative with respect to the log-probabilities by their exp):
        gradcheck through log_softmax, as torch's own tests do."""
        log_probs, *others = _inputs(SHAPES[0], torch.float64, _seeded(0))
        logits = log_probs.detach().clone().requires_grad_()

        def loss_of_logits(z: Tensor) -> Tensor:
            return ctc_loss(z.log_softmax(dim=2), *others, **options, reduction=reduction)

        assert torch.autograd.gradcheck(loss_of_logits, (logits,))

    def test_compile_fullgraph(self, device: str) -> None:
        """torch's own CTC kernel does not compile into one graph: `aten._ctc_loss.Tensor` has
        an output shape that depends on the lengths' values (also with
        `capture_dynamic_output_shape_ops`). Pinned here, so that the day torch compiles it
        this test fails and the contract can be restored; `ctc_loss` compiles with one graph
        break, at torch's kernel, and matches eager mode in value and gradient."""
        log_probs, *others = (t.to(device) for t in _inputs(SHAPES[-1], torch.float32, _seeded(0)))
        torch._dynamo.reset()
        targets, input_lengths, target_lengths = others
        with pytest.raises(torch._dynamo.exc.Unsupported, match="ctc_loss"):
            torch.compile(F.ctc_loss, fullgraph=True)(
                log_probs, targets, input_lengths, target_lengths
            )
        torch._dynamo.reset()
        compiled = torch.compile(ctc_loss)
        x = log_probs.clone().requires_grad_()
        with warnings.catch_warnings():
            # Dynamo itself reads `.grad` of the kernel's output when it resumes after the break.
            warnings.filterwarnings("ignore", "The .grad attribute of a Tensor that is not a leaf")
            value = compiled(x, *others)
        expected = ctc_loss(x, *others)
        torch.testing.assert_close(value, expected)
        torch.testing.assert_close(_grads(value, x), _grads(expected, x))


def _grads(value: Tensor, wrt: Tensor) -> Tensor:
    return torch.autograd.grad(value.sum(), wrt)[0]


def _varied(seed: int) -> Inputs:
    """Target lengths 0 to 4, padded and concatenated, input lengths 3 to 10; one impossible."""
    gen = _seeded(seed)
    frames, batch, num_classes = 10, 6, 5
    logits = 2 * torch.randn(frames, batch, num_classes, generator=gen, dtype=torch.float64)
    sizes = torch.tensor([0, 1, 2, 3, 4, 4])
    targets = _labels((batch, 4), num_classes, gen)
    targets[4] = torch.tensor([1, 1, 1, 1])  # repeats need blanks between them: 7 frames
    lengths = torch.tensor([3, 4, 10, 7, 7, 10])
    lengths[4] = 6  # too short for 1 1 1 1: no alignment
    return logits.log_softmax(dim=2), targets, lengths, sizes


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_varied_lengths_match_oracle_and_torch(reduction: Any, zero_infinity: bool) -> None:
    log_probs, targets, lengths, sizes = _varied(1)
    concatenated = torch.cat(
        [row[:size] for row, size in zip(targets, sizes.tolist(), strict=True)]
    )
    for labels in (targets, concatenated):
        x = log_probs.clone().requires_grad_()
        options = {"reduction": reduction, "zero_infinity": zero_infinity}
        ours = ctc_loss(x, labels, lengths, sizes, **options)
        theirs = F.ctc_loss(x, labels, lengths, sizes, **options)
        oracle = oracles.ctc(log_probs, labels, lengths, sizes, **options)
        torch.testing.assert_close(ours, oracle)
        torch.testing.assert_close(ours, theirs)
        # An impossible sample's gradient is NaN without zero_infinity, in torch too.
        grad = _grads(ours, x)
        torch.testing.assert_close(grad, _grads(theirs, x), equal_nan=True)
        assert bool(torch.isfinite(grad).all()) == zero_infinity


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("blank", [0, 3])
def test_identical_to_torch(blank: int, reduction: Any) -> None:
    x, targets, lengths, sizes = _inputs(SHAPES[-1], torch.float64, _seeded(2))
    x.requires_grad_()
    ours = ctc_loss(x, targets, lengths, sizes, blank=blank, reduction=reduction)
    theirs = F.ctc_loss(x, targets, lengths, sizes, blank=blank, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(_grads(ours, x), _grads(theirs, x))


def test_gradient_is_the_derivative_plus_the_probabilities() -> None:
    """torch's gradient with respect to log_probs is the true derivative (central differences
    of the value) plus exp(log_probs) on the frames inside the input length."""
    log_probs, targets, lengths, sizes = _inputs((5, 2, 3), torch.float64, _seeded(3))
    lengths = torch.tensor([5, 4])
    x = log_probs.clone().requires_grad_()
    grad = _grads(ctc_loss(x, targets, lengths, sizes, reduction="sum"), x)
    numerical = torch.zeros_like(log_probs)
    step = 1e-6
    for index in torch.cartesian_prod(*(torch.arange(n) for n in log_probs.shape)).tolist():
        t, n, k = index
        up, down = log_probs.clone(), log_probs.clone()
        up[t, n, k] += step
        down[t, n, k] -= step
        difference = ctc_loss(up, targets, lengths, sizes, reduction="sum") - ctc_loss(
            down, targets, lengths, sizes, reduction="sum"
        )
        numerical[t, n, k] = difference / (2 * step)
    inside = (torch.arange(5)[:, None] < lengths[None, :]).unsqueeze(2).double()
    torch.testing.assert_close(grad, numerical + inside * log_probs.exp(), atol=1e-6, rtol=1e-6)


def test_impossible_alignment_and_zero_infinity() -> None:
    log_probs = torch.full((2, 1, 3), math.log(1 / 3)).requires_grad_()
    targets, lengths, sizes = torch.tensor([[1, 1]]), torch.tensor([2]), torch.tensor([2])
    value = ctc_loss(log_probs, targets, lengths, sizes, reduction="none")
    assert value.item() == math.inf  # "1 1" needs a blank between: 3 frames
    zeroed = ctc_loss(log_probs, targets, lengths, sizes, zero_infinity=True)
    assert zeroed.item() == 0.0
    assert torch.equal(_grads(zeroed, log_probs), torch.zeros_like(log_probs))


def test_mean_divides_by_target_lengths_then_the_batch() -> None:
    log_probs, targets, lengths, sizes = _varied(4)
    keep = sizes > 0
    per_sample = ctc_loss(log_probs, targets, lengths, sizes, reduction="none", zero_infinity=True)
    mean = ctc_loss(log_probs, targets, lengths, sizes, zero_infinity=True)
    torch.testing.assert_close(mean, (per_sample / sizes.clamp(min=1)).mean())
    assert keep.any()


def test_empty_batch_and_repr() -> None:
    empty = torch.zeros(4, 0, 3)
    none = torch.zeros(0, dtype=torch.long)
    assert ctc_loss(empty, torch.zeros(0, 2, dtype=torch.long), none, none).item() == 0.0
    assert repr(CTCLoss()) == "CTCLoss(blank=0, zero_infinity=False, reduction='mean')"


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_no_host_sync_added_with_value_checks_off(reduction: Any) -> None:
    """Nothing of ours reads a value; torch's kernel reads the lengths, which live on the CPU."""
    log_probs, targets, lengths, sizes = _inputs(SHAPES[-1], torch.float32, _seeded(5))
    log_probs.requires_grad_()
    with value_checks(False), NoSync():
        value = ctc_loss(log_probs, targets, lengths, sizes, reduction=reduction)
        torch.autograd.grad(value.sum(), log_probs)
    assert torch.isfinite(value).all()
