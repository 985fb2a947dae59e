"""Knowledge distillation: the temperature-scaled KL divergence of Hinton et al. (2015)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe, logit
from deeplossdive._base import Loss
from deeplossdive._numerics import upcast
from deeplossdive._reduction import KLReduction, check_kl_reduction, reduce_loss
from deeplossdive._validation import (
    POSITIVE_FINITE,
    check_floating,
    check_interval,
    check_min_ndim,
    check_num_classes,
    check_same_shape,
)


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
    check_interval(fn, "temperature", temperature, POSITIVE_FINITE)
    check_kl_reduction(fn, reduction)

    work = upcast(student_logits)
    teacher = teacher_logits.detach().to(work.dtype)
    if torch.is_grad_enabled() and work.requires_grad:
        per_distribution = _Distillation.apply(work, teacher, float(temperature))  # type: ignore[no-untyped-call]
    else:
        per_distribution = _divergence(work, teacher, float(temperature))[0]
    loss = reduce_loss(per_distribution, reduction)
    return loss.to(student_logits.dtype)


def _divergence(
    student: Tensor, teacher: Tensor, temperature: float
) -> tuple[Tensor, Tensor, Tensor]:
    r"""$T^2\,\mathrm{KL}(q^t \| q^s)$ per distribution, plus $\log q^s$ and $q^t$ for the gradient.

    The terms $q^t (\log q^t - \log q^s)$ are those of
    [`kl_div`][deeplossdive.functional.kl_div] with `log_target=True`, 0 where $q^t = 0$ (a masked
    teacher class), also where the student's $\log q^s$ is $-\infty$ there too.
    """
    if temperature != 1:
        # The scaled copies are ours: take their log-softmax in place (one buffer each).
        log_q_student = _log_softmax_in_place(student / temperature)
        log_q_teacher = _log_softmax_in_place(teacher / temperature)
    else:
        log_q_student = torch.log_softmax(student, dim=1)
        log_q_teacher = torch.log_softmax(teacher, dim=1)
    log_q_teacher_first = log_q_teacher[:, :1].clone()
    q_teacher = torch.exp(log_q_teacher)
    # The terms q_t (log q_t - log q_s), summed by `nansum`: the only NaN a finite row produces is
    # 0 * (-inf) where the teacher rules a class out (log q_t = -inf, perhaps the student too),
    # and that term is 0. No pass of its own: `nansum` reads the terms once, as `sum` would.
    terms = log_q_teacher.sub_(log_q_student).mul_(q_teacher)
    # A NaN or infinite logit makes its whole log-softmax row NaN, so its first entry: 0 times
    # the first entries (finite or -inf otherwise, hence the nan_to_num) keeps such a row NaN.
    first = (log_q_student[:, :1] + log_q_teacher_first).nan_to_num_(
        nan=math.nan, posinf=0.0, neginf=0.0
    )
    per_distribution = (terms.nansum(dim=1) + 0 * first.squeeze(1)) * temperature**2
    return per_distribution, log_q_student, q_teacher


def _log_softmax_in_place(tensor: Tensor) -> Tensor:
    """`log_softmax` over dimension 1, written into `tensor` (a fresh buffer of the caller's).

    On the CPU every new buffer of this size is a fresh mapping whose pages fault on first
    write; reusing the buffer saves one per call. Under `torch.compile` the plain form is
    traced (the compiler plans buffers itself).
    """
    if torch.compiler.is_compiling():
        return torch.log_softmax(tensor, dim=1)
    return torch._log_softmax(tensor, 1, False, out=tensor)


class _Distillation(torch.autograd.Function):
    r"""The divergence per distribution with its gradient $T\,(q^s - q^t)$ written by hand.

    Autograd through `log_softmax`, `exp`, `where` and the product would keep and revisit five
    tensors of the logits' size; this keeps two ($\log q^s$ and $q^t$) and needs three passes
    for the backward. Second derivatives are not implemented (`once_differentiable`).
    """

    @staticmethod
    def forward(ctx: Any, student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
        per_distribution, log_q_student, q_teacher = _divergence(student, teacher, temperature)
        ctx.save_for_backward(log_q_student, q_teacher)
        ctx.temperature = temperature
        return per_distribution

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        log_q_student, q_teacher = ctx.saved_tensors
        scale = (grad * ctx.temperature).unsqueeze(1)
        return torch.exp(log_q_student).sub_(q_teacher).mul_(scale), None, None


class DistillationLoss(Loss[KLReduction], function=distillation_loss):
    """Module form of [`distillation_loss`][deeplossdive.functional.distillation_loss]."""

    def __init__(self, *, temperature: float = 1.0, reduction: KLReduction = "batchmean") -> None:
        super().__init__(locals(), temperature=POSITIVE_FINITE)


def _distillation(temperature: float) -> Curve:
    def loss(z: Tensor) -> Tensor:
        student = torch.stack([torch.zeros_like(z), z], dim=1)
        teacher = torch.tensor([0.0, math.log(4.0)], dtype=z.dtype).expand_as(student)
        return distillation_loss(student, teacher, temperature=temperature, reduction="none")

    return loss


describe(
    distillation_loss,
    family="Distributions",
    task="Knowledge distillation",
    plot=Plot(
        Axis("$q_1$", (0.01, 0.99), "$z$", logit),
        "Two classes: student logits $(0, z)$, so the student's $q_1 = \\sigma(z)$ at "
        "$T = 1$; teacher logits $(0, \\log 4)$ (0.8 on class 1 at $T = 1$).",
        {f"T = {t:g}": _distillation(t) for t in (1.0, 2.0, 4.0)},
    ),
    chart=Leaf("Match a distribution", "student and teacher logits"),
)
