"""Oracles for `deeplossdive/losses/preference.py`.

Two kinds. The formula-literal oracles (`dpo`, `simpo`, `sequence_log_probs`) loop over pairs and
tokens with Python floats, from the papers' formulas. The parity functions (`trl_*`, `simpo_*`)
transcribe the reference code line for line, in torch, with its citation: TRL is not installed,
so the tests check our functions against what TRL computes by running its own formulas.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from tests.oracles import reduce_literal


def _floats(tensor: Tensor) -> list[float]:
    return [float(v) for v in tensor.detach().double().flatten().tolist()]


def _log_sigmoid(x: float) -> float:
    """log σ(x) = −log(1 + e^(−x)) (moderate x only: a literal oracle)."""
    return -math.log(1 + math.exp(-x))


def dpo(*logps: Tensor, **options: float | str) -> Tensor:
    """h = (π_c − π_r) − (ref_c − ref_r) from the four log-probabilities, in `dpo_loss`'s order;
    sigmoid: −(1−ε) log σ(βh) − ε log σ(−βh) (Rafailov et al., 2023, Eq. 7; conservative DPO);
    ipo: (h − 1/(2β))² (Azar et al., 2023, Eq. 17); hinge: max(0, 1 − βh)."""
    beta, eps = float(options.get("beta", 0.1)), float(options.get("label_smoothing", 0.0))
    loss_type, reduction = options.get("loss_type", "sigmoid"), options.get("reduction", "mean")
    losses = []
    for pc, pr, rc, rr in zip(*(_floats(t) for t in logps), strict=True):
        h = (pc - pr) - (rc - rr)
        if loss_type == "sigmoid":
            losses.append(-(1 - eps) * _log_sigmoid(beta * h) - eps * _log_sigmoid(-beta * h))
        elif loss_type == "ipo":
            losses.append((h - 1 / (2 * beta)) ** 2)
        else:
            losses.append(max(0.0, 1 - beta * h))
    return reduce_literal(losses, [1.0] * len(losses), logps[0].shape, str(reduction))


def simpo(chosen_logps: Tensor, rejected_logps: Tensor, **options: float | str) -> Tensor:
    """ℓ = −log σ(β r̄_c − β r̄_r − γ) (Meng et al., 2024, Eq. 6), r̄ mean log-probabilities;
    β = 2 and γ = 0.5 unless `options` say otherwise."""
    beta, gamma = float(options.get("beta", 2.0)), float(options.get("gamma", 0.5))
    reduction = str(options.get("reduction", "mean"))
    losses = [
        -_log_sigmoid(beta * c - beta * r - gamma)
        for c, r in zip(_floats(chosen_logps), _floats(rejected_logps), strict=True)
    ]
    return reduce_literal(losses, [1.0] * len(losses), chosen_logps.shape, reduction)


def sequence_log_probs(
    logits: Tensor, labels: Tensor, *, ignore_index: int = -100, average: bool = False
) -> Tensor:
    """For each sequence b: Σ over t = 1 … T−1 with labels[b, t] ≠ ignore_index of
    log(exp(logits[b, t−1, y]) / Σ_v exp(logits[b, t−1, v])), y = labels[b, t]; average divides
    by the count (0 when nothing is counted)."""
    out = []
    for b in range(logits.shape[0]):
        total, count = 0.0, 0
        for t in range(1, logits.shape[1]):
            y = int(labels[b, t])
            if y == ignore_index:
                continue
            row = _floats(logits[b, t - 1])
            total += math.log(math.exp(row[y]) / math.fsum(math.exp(v) for v in row))
            count += 1
        out.append(total / count if average and count else total)
    return torch.tensor(out, dtype=torch.float64)


# --- TRL and the SimPO authors' code, transcribed -------------------------------------------

TRL_DPO = (
    "huggingface/trl, trl/trainer/dpo_trainer.py, commit "
    "a68fb896f008f58a3d37abf11ae665357b7c679a (2026-02-19, the last before 'Refactor DPO' "
    "#3906), DPOTrainer.dpo_loss, reference_free=False, f_divergence_type reverse KL"
)
TRL_CPO = (
    "huggingface/trl, trl/experimental/cpo/cpo_trainer.py, commit "
    "f2cd57710ae345ea6428ae95363267fcf38a3dc8 (2026-07-24), CPOTrainer.cpo_loss, "
    'loss_type="simpo", alpha=0 (the default)'
)
SIMPO_CODE = (
    "princeton-nlp/SimPO, scripts/simpo_trainer.py, commit "
    "1b3e8f3528a23bce3da514a2dce8ea7490d4bc75 (2025-02-15), SimPOTrainer.simpo_loss and "
    "SimPOTrainer.get_batch_logps"
)


def trl_dpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float,
    label_smoothing: float,
    loss_type: str,
) -> Tensor:
    """TRL's `DPOTrainer.dpo_loss` (see `TRL_DPO`), the branches "sigmoid", "hinge" and "ipo",
    unreduced (TRL's trainer then takes `.mean()`)."""
    logratios = chosen_logps - rejected_logps
    ref_logratios = ref_chosen_logps - ref_rejected_logps
    logits = logratios - ref_logratios
    if loss_type == "sigmoid":
        losses = (
            -F.logsigmoid(beta * logits) * (1 - label_smoothing)
            - F.logsigmoid(-beta * logits) * label_smoothing
        )
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        # eqn (17) of the paper where beta is the regularization parameter for the IPO loss,
        # denoted by tau in the paper.
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(loss_type)
    return losses


def trl_simpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float,
    simpo_gamma: float,
    label_smoothing: float = 0.0,
) -> Tensor:
    """TRL's `CPOTrainer.cpo_loss` with `loss_type="simpo"` (see `TRL_CPO`): the margin is
    `simpo_gamma / beta` inside the sigmoid's argument, times β: the paper's γ."""
    logits = policy_chosen_logps - policy_rejected_logps
    gamma_logratios = simpo_gamma / beta
    logits = logits - gamma_logratios
    return (
        -F.logsigmoid(beta * logits) * (1 - label_smoothing)
        - F.logsigmoid(-beta * logits) * label_smoothing
    )


def simpo_authors_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float,
    gamma_beta_ratio: float,
    label_smoothing: float = 0.0,
) -> Tensor:
    """The SimPO authors' `simpo_loss`, loss_type "sigmoid" (see `SIMPO_CODE`)."""
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    logits = pi_logratios - gamma_beta_ratio
    return (
        -F.logsigmoid(beta * logits) * (1 - label_smoothing)
        - F.logsigmoid(-beta * logits) * label_smoothing
    )


def simpo_authors_batch_logps(
    logits: Tensor, labels: Tensor, *, average_log_prob: bool, label_pad_token_id: int = -100
) -> Tensor:
    """The SimPO authors' `get_batch_logps` for a decoder-only model (see `SIMPO_CODE`), which
    is also TRL's `DPOTrainer.get_batch_logps` of 2024: shift, mask, log_softmax, gather."""
    labels = labels[:, 1:].clone()
    logits = logits[:, :-1, :]
    loss_mask = labels != label_pad_token_id
    # dummy token; we'll ignore the losses on these tokens later
    labels[labels == label_pad_token_id] = 0
    per_token_logps = torch.gather(
        logits.log_softmax(-1), dim=2, index=labels.unsqueeze(2)
    ).squeeze(2)
    if average_log_prob:
        return (per_token_logps * loss_mask).sum(-1) / loss_mask.sum(-1)
    return (per_token_logps * loss_mask).sum(-1)
