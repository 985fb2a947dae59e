"""Knowledge distillation: the temperature-scaled KL divergence of Hinton et al. (2015)."""

from __future__ import annotations

import torch
from torch import Tensor

from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import KL_REDUCTIONS, KLReduction, check_kl_reduction, reduce_loss
from deeplossdive._validation import (
    check_floating,
    check_min_ndim,
    check_num_classes,
    check_positive_finite,
    check_same_shape,
)
from deeplossdive.losses.kl_div import kl_terms


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    /,
    *,
    temperature: float = 1.0,
    reduction: KLReduction = "batchmean",
) -> Tensor:
    r"""Knowledge-distillation loss of [Hinton et al., 2015](https://arxiv.org/abs/1503.02531).

    With the temperature-softened distributions $q^s = \operatorname{softmax}(s / T)$ of the
    student and $q^t = \operatorname{softmax}(t / T)$ of the teacher over dimension 1, the loss of
    one distribution (one sample, or one position $n$ of a dense prediction) is

    $$
    \ell_n = T^2 \, \mathrm{KL}\bigl(q^t_n \,\|\, q^s_n\bigr)
           = T^2 \sum_c q^t_{n,c} \bigl(\log q^t_{n,c} - \log q^s_{n,c}\bigr) \ge 0,
    $$

    the forward KL from the teacher: the student is pulled to cover every class the teacher
    gives mass to. Its gradient with respect to the student's logits is

    $$
    \frac{\partial \ell_n}{\partial s_{n,c}} = T\,\bigl(q^s_{n,c} - q^t_{n,c}\bigr),
    $$

    so without the factor $T^2$ the gradient would shrink roughly as $1/T^2$ at high
    temperature (the soft targets' differences scale as $1/T$, and so does $\partial(s/T)/\partial
    s$); with it, gradient magnitudes stay comparable across temperatures and with a hard-label
    cross-entropy added alongside.

    The teacher is a constant: `teacher_logits` is detached, so no gradient ever reaches the
    teacher even when its logits require one (for mutual learning, call the loss twice with the
    roles swapped). Everything is computed from `log_softmax` in log space, so values and
    gradients stay finite at saturated logits, where `softmax(t / T).log()` gives
    $0 \cdot (-\infty)$ = NaN. float16 and bfloat16 inputs are computed in float32 and the
    result is returned in the input dtype.

    Unlike [`kl_div`][deeplossdive.functional.kl_div], whose `"none"` keeps one term per class,
    `"none"` here gives one divergence per distribution (shape $(N)$ or $(N, d_1, \dots)$), so
    every reduction is of values $\ge 0$: `"batchmean"` (the default) is $\sum_n \ell_n / N$,
    `"sum"` is $\sum_n \ell_n$ and `"mean"` averages over the $N \cdot d_1 \cdots$
    distributions, the mean KL per position (equal to `"batchmean"` for $(N, C)$ logits; it does
    **not** divide by $C$ as `kl_div`'s `"mean"` does).

    Args:
        student_logits: Unnormalised scores of the student, shape $(N, C)$ or
            $(N, C, d_1, \dots)$, $C \ge 2$.
        teacher_logits: Unnormalised scores of the teacher, the shape of `student_logits`.
            Treated as a constant (detached).
        temperature: Softmax temperature $T > 0$; larger values soften both distributions and
            expose the teacher's ranking of the wrong classes. Hinton et al. use 1 to 20.
        reduction: `"batchmean"`, `"sum"`, `"mean"` or `"none"`.

    Returns:
        The loss: shape $(N, d_1, \dots)$ for `"none"`, a scalar otherwise.

    Raises:
        TypeError: A logits tensor is not floating point, or `temperature` is not a number.
        ValueError: Shapes differ, fewer than 2 dimensions or classes, `temperature` not a finite
            number > 0, or an unknown `reduction`.

    Examples:
        An undecided student against a teacher at $(0.75, 0.25)$ after softening with $T = 2$
        (teacher logits $(2 \log 3, 0)$):

        >>> import math, torch
        >>> from deeplossdive.functional import distillation_loss
        >>> student = torch.zeros(1, 2, requires_grad=True)
        >>> teacher = torch.tensor([[2 * math.log(3.0), 0.0]])
        >>> loss = distillation_loss(student, teacher, temperature=2.0)
        >>> loss
        tensor(0.5232, grad_fn=...)
        >>> loss.backward()
        >>> student.grad
        tensor([[-0.5000,  0.5000]])

        $\mathrm{KL} = 0.75 \log 1.5 + 0.25 \log 0.5 = 0.1308$, times $T^2 = 4$; the gradient is
        $T\,(q^s - q^t) = 2\,\bigl((0.5, 0.5) - (0.75, 0.25)\bigr)$.
    """
    fn = "distillation_loss"
    check_floating(fn, "student_logits", student_logits)
    check_floating(fn, "teacher_logits", teacher_logits)
    check_min_ndim(fn, "student_logits", student_logits, 2, "(N, C, ...)")
    check_same_shape(fn, "teacher_logits", teacher_logits, "student_logits", student_logits)
    check_num_classes(fn, "student_logits", student_logits)
    check_positive_finite(fn, "temperature", temperature)
    check_kl_reduction(fn, reduction)

    work = upcast(student_logits)
    log_q_student = torch.log_softmax(work / temperature, dim=1)
    log_q_teacher = torch.log_softmax(teacher_logits.detach().to(work.dtype) / temperature, dim=1)
    terms = kl_terms(log_q_student, log_q_teacher, log_target=True)
    per_distribution = terms.sum(dim=1) * temperature**2
    loss = reduce_loss(per_distribution, reduction)
    return loss.to(student_logits.dtype)


class DistillationLoss(Loss[KLReduction]):
    """Module form of [`distillation_loss`][deeplossdive.functional.distillation_loss].

    Args:
        temperature: Softmax temperature $T > 0$.
        reduction: `"batchmean"` (the default), `"sum"`, `"mean"` or `"none"`.

    Shape:
        - student_logits: $(N, C)$ or $(N, C, d_1, \\dots)$.
        - teacher_logits: the shape of `student_logits`.
        - output: scalar, or $(N)$ / $(N, d_1, \\dots)$ for `"none"`.
    """

    reductions = KL_REDUCTIONS

    def __init__(self, *, temperature: float = 1.0, reduction: KLReduction = "batchmean") -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.temperature = check_positive_finite(name, "temperature", temperature)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return distillation_loss(
            student_logits,
            teacher_logits,
            temperature=self.temperature,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, {super().extra_repr()}"
