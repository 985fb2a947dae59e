"""Distillation loss: the shared contract, the torch recipe, the gradient T (q_s - q_t), the T²
factor and the claims of docs/losses/distillation.md."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive.functional import distillation_loss, kl_div
from deeplossdive.nn import DistillationLoss
from tests.harness import ErrorCase, Inputs, LossContract, LossSpec
from tests.oracles import distillation as oracles

KL_REDUCTIONS = ("none", "batchmean", "sum", "mean")
# float16/bfloat16 are computed in float32 and rounded once at the end: the error is the
# rounding of the result (float16: 2^-11 relative, bfloat16: 2^-8) plus that of the gradient.
LOW_PRECISION_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> Inputs:
    student = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    teacher = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return student.to(dtype), teacher.to(dtype)


def _saturate(inputs: Inputs) -> Inputs:
    student, teacher = inputs
    saturated = torch.where(student > 0, 100.0, -100.0).to(student.dtype)
    saturated[0] = -100.0
    saturated[0].select(0, 0).fill_(100.0)
    return saturated, teacher


def _perfect(inputs: Inputs) -> Inputs:
    _, teacher = inputs
    return teacher.clone(), teacher


def _errors() -> tuple[ErrorCase, ...]:
    student, teacher = torch.randn(3, 5), torch.randn(3, 5)
    return (
        ErrorCase(
            "int-student",
            lambda: distillation_loss(student.long(), teacher),
            TypeError,
            "distillation_loss: student_logits must be a floating-point tensor, "
            "got dtype torch.int64",
        ),
        ErrorCase(
            "int-teacher",
            lambda: distillation_loss(student, teacher.long()),
            TypeError,
            "distillation_loss: teacher_logits must be a floating-point tensor, "
            "got dtype torch.int64",
        ),
        ErrorCase(
            "1d-logits",
            lambda: distillation_loss(student[0], teacher[0]),
            ValueError,
            "distillation_loss: student_logits must have at least 2 dimensions (N, C, ...), "
            "got shape (5,)",
        ),
        ErrorCase(
            "no-broadcast",
            lambda: distillation_loss(student, teacher[:1]),
            ValueError,
            "distillation_loss: teacher_logits must have the shape of student_logits (3, 5), "
            "got (1, 5)",
        ),
        ErrorCase(
            "one-class",
            lambda: distillation_loss(student[:, :1], teacher[:, :1]),
            ValueError,
            "distillation_loss: student_logits must have at least 2 classes in dimension 1, got 1",
        ),
        ErrorCase(
            "zero-temperature",
            lambda: distillation_loss(student, teacher, temperature=0.0),
            ValueError,
            "distillation_loss: temperature must be a finite number > 0, got 0.0",
        ),
        ErrorCase(
            "negative-temperature",
            lambda: distillation_loss(student, teacher, temperature=-2.0),
            ValueError,
            "distillation_loss: temperature must be a finite number > 0, got -2.0",
        ),
        ErrorCase(
            "infinite-temperature",
            lambda: distillation_loss(student, teacher, temperature=math.inf),
            ValueError,
            "distillation_loss: temperature must be a finite number > 0, got inf",
        ),
        ErrorCase(
            "nan-temperature",
            lambda: distillation_loss(student, teacher, temperature=math.nan),
            ValueError,
            "distillation_loss: temperature must be a finite number > 0, got nan",
        ),
        ErrorCase(
            "tensor-temperature",
            lambda: distillation_loss(student, teacher, temperature=torch.tensor(2.0)),  # type: ignore[arg-type]
            TypeError,
            "distillation_loss: temperature must be a real number, got Tensor",
        ),
        ErrorCase(
            "module-temperature",
            lambda: DistillationLoss(temperature=0),
            ValueError,
            "DistillationLoss: temperature must be a finite number > 0, got 0",
        ),
    )


DISTILLATION = LossSpec(
    function=distillation_loss,
    module=DistillationLoss,
    oracle=oracles.distillation,
    make_inputs=_inputs,
    shapes=((6, 5), (2, 3, 4, 5)),
    options=(
        {"temperature": 1.0},
        {"temperature": 2.0},
        {"temperature": 4.0},
        {"temperature": 0.5},
    ),
    saturate=_saturate,
    perfect=_perfect,
    errors=_errors(),
    low_precision_tol=LOW_PRECISION_TOL,
    reductions=KL_REDUCTIONS,
)


class TestDistillationLoss(LossContract):
    spec = DISTILLATION


def _torch_recipe(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """The usual recipe, unreduced: T² · kl_div(log_softmax(s/T), softmax(t/T)) per element."""
    return temperature**2 * F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.softmax(teacher / temperature, dim=1),
        reduction="none",
    )


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 8.0])
@pytest.mark.parametrize("shape", [(8, 5), (2, 3, 4, 4)])
def test_equals_the_torch_recipe_values_and_gradients(
    temperature: float, shape: tuple[int, ...]
) -> None:
    student, teacher = _inputs(shape, torch.float64, torch.Generator().manual_seed(3))
    student.requires_grad_(True)
    for reduction in KL_REDUCTIONS:
        terms = _torch_recipe(student, teacher, temperature)
        per_distribution = terms.sum(dim=1)
        reference = {
            "none": per_distribution,
            "batchmean": terms.sum() / shape[0],  # F.kl_div(..., reduction="batchmean") · T²
            "sum": terms.sum(),
            "mean": per_distribution.mean(),
        }[reduction]
        ours = distillation_loss(student, teacher, temperature=temperature, reduction=reduction)  # type: ignore[arg-type]
        torch.testing.assert_close(ours, reference)
        (grad,) = torch.autograd.grad(ours.sum(), student)
        (reference_grad,) = torch.autograd.grad(reference.sum(), student)
        torch.testing.assert_close(grad, reference_grad)


def test_batchmean_equals_torch_batchmean_recipe() -> None:
    student, teacher = _inputs((4, 6), torch.float64, torch.Generator().manual_seed(4))
    T = 3.0
    recipe = T**2 * F.kl_div(
        F.log_softmax(student / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean"
    )
    torch.testing.assert_close(distillation_loss(student, teacher, temperature=T), recipe)


def test_is_t_squared_kl_div_of_softened_distributions() -> None:
    student, teacher = _inputs((2, 5, 3), torch.float64, torch.Generator().manual_seed(5))
    T = 2.5
    log_q_s = torch.log_softmax(student / T, dim=1)
    log_q_t = torch.log_softmax(teacher / T, dim=1)
    torch.testing.assert_close(
        distillation_loss(student, teacher, temperature=T, reduction="sum"),
        T**2 * kl_div(log_q_s, log_q_t, log_target=True, reduction="sum"),
    )


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 8.0, 0.5])
@pytest.mark.parametrize("reduction", ["sum", "batchmean"])
def test_gradient_is_t_times_q_student_minus_q_teacher(temperature: float, reduction: str) -> None:
    student, teacher = _inputs((4, 6, 2), torch.float64, torch.Generator().manual_seed(6))
    student.requires_grad_(True)
    loss = distillation_loss(student, teacher, temperature=temperature, reduction=reduction)  # type: ignore[arg-type]
    (grad,) = torch.autograd.grad(loss, student)
    q_s = torch.softmax(student.detach() / temperature, dim=1)
    q_t = torch.softmax(teacher / temperature, dim=1)
    scale = 1 if reduction == "sum" else student.shape[0]
    torch.testing.assert_close(grad, temperature * (q_s - q_t) / scale)


def _grad_norms(temperature: float, squared: bool) -> float:
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(64, 10, generator=gen, dtype=torch.float64).requires_grad_(True)
    teacher = 3 * torch.randn(64, 10, generator=gen, dtype=torch.float64)
    loss = distillation_loss(student, teacher, temperature=temperature)
    if not squared:
        loss = loss / temperature**2
    (grad,) = torch.autograd.grad(loss, student)
    return float(grad.norm())


def test_t_squared_keeps_gradient_magnitudes_comparable() -> None:
    with_factor = [_grad_norms(T, squared=True) for T in (1, 2, 4, 8)]
    without = [_grad_norms(T, squared=False) for T in (1, 2, 4, 8)]
    assert max(with_factor) / min(with_factor) < 2.5
    assert without[0] / without[-1] > 30  # shrinks roughly as 1/T²


def test_high_temperature_limit_is_logit_matching() -> None:
    """Hinton et al., §2.1: as T grows, T (q_s - q_t) -> ((s - s̄) - (t - t̄)) / C."""
    student, teacher = _inputs((3, 7), torch.float64, torch.Generator().manual_seed(7))
    student.requires_grad_(True)
    loss = distillation_loss(student, teacher, temperature=1000.0, reduction="sum")
    (grad,) = torch.autograd.grad(loss, student)
    centred = (student - student.mean(1, keepdim=True)) - (teacher - teacher.mean(1, keepdim=True))
    torch.testing.assert_close(grad, centred.detach() / 7, rtol=1e-2, atol=1e-3)


def test_teacher_gets_no_gradient() -> None:
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)
    torch.autograd.backward(distillation_loss(student, teacher, temperature=2.0))
    assert student.grad is not None
    assert teacher.grad is None
    # The torch recipe without .detach() (or torch.no_grad()) does train the teacher.
    recipe = F.kl_div(F.log_softmax(student, 1), F.softmax(teacher, 1), reduction="batchmean")
    torch.autograd.backward(recipe)
    assert teacher.grad is not None


def test_saturated_teacher_is_finite_where_softmax_log_is_nan() -> None:
    student = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    teacher = torch.tensor([[100.0, -100.0, 0.0]])
    loss = distillation_loss(student, teacher)
    (grad,) = torch.autograd.grad(loss, student)
    assert torch.isfinite(loss)
    assert torch.isfinite(grad).all()
    q_t = F.softmax(teacher, dim=1)
    naive = (q_t * (q_t.log() - F.log_softmax(student, dim=1))).sum()
    assert torch.isnan(naive)


def test_perfect_student_is_zero_for_every_temperature() -> None:
    _, teacher = _inputs((5, 4), torch.float64, torch.Generator().manual_seed(8))
    for T in (0.5, 1.0, 4.0, 20.0):
        assert distillation_loss(teacher.clone(), teacher, temperature=T).abs().item() < 1e-12


def test_module_repr_and_defaults() -> None:
    assert repr(DistillationLoss()) == "DistillationLoss(temperature=1.0, reduction='batchmean')"
    criterion = DistillationLoss(temperature=4, reduction="sum")
    assert criterion.temperature == 4.0
    student, teacher = _inputs((3, 4), torch.float32, torch.Generator().manual_seed(9))
    torch.testing.assert_close(
        criterion(student, teacher),
        distillation_loss(student, teacher, temperature=4.0, reduction="sum"),
        rtol=0,
        atol=0,
    )


def test_hand_written_gradient_passes_gradcheck_with_masked_classes() -> None:
    """The custom backward, `T (q_s - q_t)`, against finite differences, -inf classes included."""
    gen = torch.Generator().manual_seed(11)
    student = torch.randn(4, 6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    teacher = 3 * torch.randn(4, 6, 3, generator=gen, dtype=torch.float64)
    teacher[:, 0] = -math.inf  # a class the teacher rules out: its terms are 0, not NaN
    for temperature in (1.0, 3.0):
        assert torch.autograd.gradcheck(
            lambda s, t=temperature: distillation_loss(s, teacher, temperature=t, reduction="none"),
            (student,),
        )


def test_masked_classes_follow_kl_div_conventions() -> None:
    student = torch.tensor([[0.0, 1.0, -math.inf], [0.0, -math.inf, 2.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0, -math.inf], [0.0, 1.0, -math.inf]])
    loss = distillation_loss(student, teacher, reduction="none")
    # Row 0: both rule out class 2, a finite KL; row 1: the student rules out a teacher class.
    assert torch.isfinite(loss[0])
    assert loss[1] == math.inf
    (grad,) = torch.autograd.grad(loss[0], student)
    assert torch.isfinite(grad).all()
    assert grad[0, 2] == 0


def test_second_derivative_is_refused_not_wrong() -> None:
    student = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    loss = distillation_loss(student, torch.randn(3, 4, dtype=torch.float64), temperature=2.0)
    (grad,) = torch.autograd.grad(loss, student, create_graph=True)
    # The hand-written backward is not itself differentiated: an error, never a wrong number.
    with pytest.raises(RuntimeError, match=r"does not require grad|once_differentiable"):
        torch.autograd.grad(grad.sum(), student)
