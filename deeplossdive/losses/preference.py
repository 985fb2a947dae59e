"""Preference optimization on sequence log-probabilities: DPO (sigmoid, IPO, hinge) and SimPO,
and the helper that computes the log-probabilities from token logits."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from deeplossdive._about import Axis, Curve, Leaf, Plot, describe, helper
from deeplossdive._base import Loss
from deeplossdive._numerics import compute_dtype, upcast
from deeplossdive._reduction import Reduction, check_reduction, reduce_loss
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    POSITIVE_FINITE,
    Interval,
    check_choice,
    check_class_indices,
    check_floating,
    check_integer,
    check_interval,
    check_ndim,
    check_same_shape,
    check_shape,
)

DPOLossType = Literal["sigmoid", "ipo", "hinge"]
"""The losses of the DPO margin $h$: `"sigmoid"` (DPO), `"ipo"` (IPO) and `"hinge"`."""
DPO_LOSS_TYPES: tuple[DPOLossType, ...] = ("sigmoid", "ipo", "hinge")
LABEL_SMOOTHING = Interval(0, 0.5)
"""Conservative DPO's probability that a label is flipped: above 1/2 the pair is reversed."""


def _check_logps(function: str, first: str, **others: Tensor) -> None:
    """Every tensor floating point and of the shape of the one named `first`."""
    for name, tensor in others.items():
        check_floating(function, name, tensor)
    reference = others[first]
    for name, tensor in others.items():
        if name != first:
            check_same_shape(function, name, tensor, first, reference)


def _check_smoothing(function: str, label_smoothing: float, loss_type: str) -> None:
    """Label smoothing is a parameter of the sigmoid loss only."""
    if loss_type != "sigmoid" and label_smoothing != 0:
        raise ValueError(
            f"{function}: label_smoothing must be 0 with loss_type={loss_type!r}, "
            f"got {label_smoothing}"
        )


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    /,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    loss_type: DPOLossType = "sigmoid",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Direct preference optimization loss of
    [Rafailov et al., 2023](https://arxiv.org/abs/2305.18290) and its IPO and hinge variants.

    For a prompt with a chosen (preferred) response $y_c$ and a rejected one $y_r$, the
    log-probabilities of the policy $\pi$ and of the frozen reference $\pi_{\text{ref}}$ give the
    margin of implicit rewards (in units of $\beta$)

    $$
    h = \bigl(\log\pi(y_c) - \log\pi(y_r)\bigr)
      - \bigl(\log\pi_{\text{ref}}(y_c) - \log\pi_{\text{ref}}(y_r)\bigr)
    $$

    and the loss of each pair is, by `loss_type`,

    $$
    \ell = \begin{cases}
    -(1 - \varepsilon) \log \sigma(\beta h) - \varepsilon \log \sigma(-\beta h)
        & \texttt{"sigmoid"} \text{ (DPO; conservative DPO with } \varepsilon > 0\text{)}, \\
    \bigl(h - \tfrac{1}{2\beta}\bigr)^2
        & \texttt{"ipo"}\ \text{([Azar et al., 2023](https://arxiv.org/abs/2310.12036), Eq. 17)}, \\
    \max(0,\ 1 - \beta h) & \texttt{"hinge"}\ \text{(SLiC's hinge on the same margin)}.
    \end{cases}
    $$

    These are TRL's `DPOTrainer.dpo_loss` formulas term for term (the parity tests transcribe
    them). With `"sigmoid"`, $\varepsilon$ is the probability that a label is flipped: the loss
    is then smallest at $\beta h = \log\frac{1 - \varepsilon}{\varepsilon}$, not at $+\infty$.
    TRL feeds IPO **length-averaged** log-probabilities (the mean over the response's tokens, as
    [`sequence_log_probs`][deeplossdive.functional.sequence_log_probs] gives with
    `average=True`) and the other two summed ones; this function takes whichever it is given.

    The reference log-probabilities are not detached here: compute them under `torch.no_grad()`
    (a gradient reaching them would train the reference too). float16 and bfloat16 inputs are
    computed in float32 and the result is returned in the input dtype; `"mean"` averages over
    the pairs.

    Args:
        policy_chosen_logps: $\log\pi(y_c)$ per pair, any shape, floating point.
        policy_rejected_logps: $\log\pi(y_r)$, the shape of `policy_chosen_logps`.
        reference_chosen_logps: $\log\pi_{\text{ref}}(y_c)$, the same shape.
        reference_rejected_logps: $\log\pi_{\text{ref}}(y_r)$, the same shape.
        beta: The inverse temperature $\beta > 0$ (IPO: $\tau$; the target margin is
            $1 / (2\beta)$).
        label_smoothing: $\varepsilon \in [0, 1/2]$, `"sigmoid"` only (0 otherwise).
        loss_type: `"sigmoid"`, `"ipo"` or `"hinge"`.
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `policy_chosen_logps` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: An input is not floating point.
        ValueError: Shapes differ, `beta` is not a finite number > 0, `label_smoothing` is
            outside $[0, 1/2]$ or not 0 with `"ipo"` or `"hinge"`, an unknown `loss_type` or
            `reduction`.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import dpo_loss
        >>> chosen, rejected = torch.tensor([-10.0, -12.0]), torch.tensor([-14.0, -11.0])
        >>> reference = torch.tensor([-12.0, -12.0])
        >>> dpo_loss(chosen, rejected, reference, reference, beta=0.5, reduction="none")
        tensor([0.1269, 0.9741])

        By hand: $h = (-10 + 14) - 0 = 4$ and $-\log\sigma(0.5 \cdot 4) = 0.1269$;
        $h = -1$ and $-\log\sigma(-0.5) = 0.9741$.
    """
    fn = "dpo_loss"
    _check_logps(
        fn,
        "policy_chosen_logps",
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )
    check_interval(fn, "beta", beta, POSITIVE_FINITE)
    check_interval(fn, "label_smoothing", label_smoothing, LABEL_SMOOTHING)
    check_choice(fn, "loss_type", loss_type, DPO_LOSS_TYPES)
    _check_smoothing(fn, label_smoothing, loss_type)
    check_reduction(fn, reduction)
    dtype = compute_dtype(policy_chosen_logps)
    pi_logratios = upcast(policy_chosen_logps) - policy_rejected_logps.to(dtype)
    ref_logratios = reference_chosen_logps.to(dtype) - reference_rejected_logps.to(dtype)
    h = pi_logratios - ref_logratios
    if loss_type == "sigmoid":
        loss = -F.logsigmoid(beta * h)
        if label_smoothing:
            loss = (1 - label_smoothing) * loss - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        loss = (h - 1 / (2 * beta)) ** 2
    else:
        loss = torch.relu(1 - beta * h)
    return reduce_loss(loss, reduction).to(policy_chosen_logps.dtype)


def simpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    /,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Simple preference optimization loss of
    [Meng et al., 2024](https://arxiv.org/abs/2405.14734) (SimPO): DPO without a reference model,
    on **length-averaged** log-probabilities, with a target reward margin $\gamma$.

    With $\bar r_c = \frac{1}{|y_c|}\log\pi(y_c)$ and $\bar r_r = \frac{1}{|y_r|}\log\pi(y_r)$ the
    mean log-probabilities per token of the chosen and the rejected response (the paper's Eq. 6),

    $$
    \ell = -\log \sigma\bigl(\beta\,(\bar r_c - \bar r_r) - \gamma\bigr) .
    $$

    `gamma` is the paper's $\gamma$, a margin of rewards $\beta \bar r$, which is TRL's
    `CPOConfig(loss_type="simpo", simpo_gamma=γ)`; the authors' code
    ([princeton-nlp/SimPO](https://github.com/princeton-nlp/SimPO)) sets
    `gamma_beta_ratio` $= \gamma / \beta$ instead (its default 0.25 at $\beta = 2$ is this
    default $\gamma = 0.5$). float16 and bfloat16 inputs are computed in float32 and the result
    is returned in the input dtype; `"mean"` averages over the pairs.

    Args:
        chosen_logps: $\bar r_c$ per pair, any shape, floating point
            ([`sequence_log_probs`][deeplossdive.functional.sequence_log_probs] with
            `average=True`).
        rejected_logps: $\bar r_r$, the shape of `chosen_logps`.
        beta: The reward scale $\beta > 0$.
        gamma: The target reward margin $\gamma \ge 0$ (not divided by $\beta$).
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape of `chosen_logps` for `"none"`, a scalar otherwise.

    Raises:
        TypeError: An input is not floating point.
        ValueError: Shapes differ, `beta` is not a finite number > 0, `gamma` is not a finite
            number >= 0, or an unknown `reduction`.

    Examples:
        >>> import torch
        >>> from deeplossdive.functional import simpo_loss
        >>> simpo_loss(torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.75]), reduction="none")
        tensor([0.4741, 1.3133])

        By hand: $2 \cdot 0.5 - 0.5 = 0.5$ and $-\log\sigma(0.5) = 0.4741$;
        $2 \cdot (-0.25) - 0.5 = -1$ and $-\log\sigma(-1) = 1.3133$.
    """
    fn = "simpo_loss"
    _check_logps(fn, "chosen_logps", chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    check_interval(fn, "beta", beta, POSITIVE_FINITE)
    check_interval(fn, "gamma", gamma, NON_NEGATIVE_FINITE)
    check_reduction(fn, reduction)
    margin = upcast(chosen_logps) - rejected_logps.to(compute_dtype(chosen_logps))
    loss = -F.logsigmoid(beta * margin - gamma)
    return reduce_loss(loss, reduction).to(chosen_logps.dtype)


def sequence_log_probs(
    logits: Tensor,
    labels: Tensor,
    /,
    *,
    ignore_index: int = -100,
    average: bool = False,
) -> Tensor:
    r"""Log-probability of each sequence under a causal language model: the sum (or the mean)
    over its counted tokens of $\log p(\text{labels}_{t+1} \mid \text{logits}_t)$.

    A helper, not a loss: it turns a model's token logits into the `*_logps` of
    [`dpo_loss`][deeplossdive.functional.dpo_loss] and
    [`simpo_loss`][deeplossdive.functional.simpo_loss]. The **one-token shift is done here**:
    `logits[:, t]` (computed from the tokens up to $t$) predicts `labels[:, t + 1]`, so pass the
    labels aligned with the inputs, as for a Hugging Face causal LM (`labels = input_ids`, the
    prompt and the padding set to `ignore_index`). With $c_{b,t} = 1$ for a counted label,

    $$
    \log\pi(y_b) = \sum_{t=0}^{T-2} c_{b,t+1}\,
        \log \operatorname{softmax}(\text{logits}_{b,t})_{\,\text{labels}_{b,t+1}},
    \qquad
    \overline{\log\pi}(y_b) = \frac{\log\pi(y_b)}{\max\bigl(1, \sum_t c_{b,t+1}\bigr)} .
    $$

    `labels[:, 0]` is never scored (no logit predicts it) and the logits of the last position
    predict nothing. A sequence without a counted token has log-probability 0, and its mean is
    0 too, never NaN.

    Computed with torch's fused `cross_entropy` (`reduction="none"`) over the logits as they
    are, against the labels shifted by one (the last position ignored): no slice or float32 copy
    of the $(B, T, V)$ logits. float16 and bfloat16 logits give each token's log-probability in
    their dtype (rounded once, as torch's cross-entropy does) and the sums in **float32**,
    which is what the result has then: a bfloat16 sum of a few hundred log-probabilities is a
    multiple of 2, larger than most DPO margins. Sequences are independent, so a large batch
    can be processed in chunks of rows and concatenated.

    Args:
        logits: Token logits $(B, T, V)$, floating point.
        labels: Token ids $(B, T)$ aligned with the inputs, integer; `ignore_index` marks the
            tokens that count nothing (prompt, padding).
        ignore_index: The label that counts nothing.
        average: Return the mean over the counted tokens (SimPO, IPO) instead of the sum (DPO).

    Returns:
        Shape $(B)$: float32 for float16/bfloat16 logits, the logits' dtype otherwise.

    Raises:
        TypeError: `logits` is not floating point, or `labels` not an integer tensor.
        ValueError: `logits` is not 3-D, `labels` is not $(B, T)$, or (with value checks on) a
            label outside $[0, V)$ other than `ignore_index`.

    Examples:
        Two tokens of vocabulary 2; the first label is never scored:

        >>> import torch
        >>> from deeplossdive.functional import sequence_log_probs
        >>> logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])
        >>> labels = torch.tensor([[-100, 1]])
        >>> sequence_log_probs(logits, labels)
        tensor([-0.6931])

        By hand: `logits[0, 0] = (0, 0)` predicts `labels[0, 1] = 1` with probability 1/2;
        the last position's logits predict nothing.
    """
    fn = "sequence_log_probs"
    check_floating(fn, "logits", logits)
    check_integer(fn, "labels", labels)
    check_ndim(fn, "logits", logits, 3, "(B, T, V)")
    batch, length, vocabulary = logits.shape
    check_shape(fn, "labels", labels, (batch, length), "one label per position of logits")
    check_class_indices(fn, labels, vocabulary, ignore_index, name="labels")
    # Position t scores labels[:, t + 1]; the last position scores nothing.
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], ignore_index)], dim=1)
    token_nll = F.cross_entropy(
        logits.reshape(batch * length, vocabulary),
        targets.reshape(batch * length),
        ignore_index=ignore_index,
        reduction="none",
    )
    # 0 - sum, not -sum: a sequence without a counted token is +0, not -0.
    total = 0.0 - token_nll.view(batch, length).sum(dim=1, dtype=compute_dtype(logits))
    if not average:
        return total
    counted = (targets != ignore_index).sum(dim=1)
    return total / counted.clamp(min=1).to(total.dtype)


class DPOLoss(Loss[Reduction], function=dpo_loss):
    """Module form of [`dpo_loss`][deeplossdive.functional.dpo_loss].

    Shape: the four log-probabilities share any shape; the loss has it for `"none"`.
    """

    def __init__(
        self,
        *,
        beta: float = 0.1,
        label_smoothing: float = 0.0,
        loss_type: DPOLossType = "sigmoid",
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), beta=POSITIVE_FINITE, label_smoothing=LABEL_SMOOTHING)
        _check_smoothing("DPOLoss", label_smoothing, loss_type)


class SimPOLoss(Loss[Reduction], function=simpo_loss):
    """Module form of [`simpo_loss`][deeplossdive.functional.simpo_loss].

    Shape: both log-probabilities share any shape; the loss has it for `"none"`.
    """

    def __init__(
        self, *, beta: float = 2.0, gamma: float = 0.5, reduction: Reduction = "mean"
    ) -> None:
        super().__init__(locals(), beta=POSITIVE_FINITE, gamma=NON_NEGATIVE_FINITE)


def _dpo(loss_type: DPOLossType) -> Curve:
    def loss(h: Tensor) -> Tensor:
        zero = torch.zeros_like(h)
        return dpo_loss(h, zero, zero, zero, beta=1.0, loss_type=loss_type, reduction="none")

    return loss


def _simpo(gamma: float) -> Curve:
    return lambda d: simpo_loss(d, torch.zeros_like(d), gamma=gamma, reduction="none")


describe(
    dpo_loss,
    family="Language models",
    task="Preference pairs, with a reference model",
    plot=Plot(
        Axis("$h$", (-3.0, 3.0), "$\\log\\pi(y_c)$"),
        "The margin $h$ of policy over reference log-ratios, $\\beta = 1$; the gradient with "
        "respect to the policy's chosen log-probability is $\\partial\\ell / \\partial h$.",
        {loss_type: _dpo(loss_type) for loss_type in DPO_LOSS_TYPES},
    ),
    chart=Leaf(
        "Align a language model",
        "preference pairs: sequence log-probabilities",
        "with a reference model",
    ),
)
describe(
    simpo_loss,
    family="Language models",
    task="Preference pairs, no reference model",
    plot=Plot(
        Axis("$\\bar r_c - \\bar r_r$", (-2.0, 2.0), "$\\bar r_c$"),
        "Mean log-probabilities per token of the chosen and the rejected response, $\\beta = 2$.",
        {f"γ = {g:g}": _simpo(g) for g in (0.0, 0.5, 1.5)},
    ),
    chart=Leaf(
        "Align a language model",
        "preference pairs: sequence log-probabilities",
        "no reference model",
    ),
)
helper(sequence_log_probs)
