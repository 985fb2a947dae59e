"""Oracle for `deeplossdive/losses/angular_margin.py`: ArcFace (Deng et al. 2019), CosFace (Wang
et al. 2018).

Literal: the angle by `acos` of the normalized dot product, the margin added to it and `cos`
taken again (ArcFace), or the margin subtracted from the cosine (CosFace), then the softmax's
negative log-probability of the true class, all with Python floats. ArcFace's rule past
θ = π − m, cos θ − m·sin m, is transcribed from insightface,
deepinsight/insightface recognition/arcface_torch/losses.py at commit
5ef98047542b18d911cef1e10c6c02273c4adff3 (`ArcFace.forward`: `torch.where(target_logit >
self.theta, cos_theta_m, target_logit - self.sinmm)` with `theta = cos(π − m)` and
`sinmm = sin(π − m)·m`), which pytorch-metric-learning 2.9's `ArcFaceLoss` also applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from tests.oracles import reduce_literal


def _cosines(x: list[float], weight: list[list[float]]) -> list[float]:
    norm_x = math.sqrt(math.fsum(v * v for v in x))
    result = []
    for w in weight:
        norm_w = math.sqrt(math.fsum(v * v for v in w))
        dot = math.fsum(a * b for a, b in zip(x, w, strict=True))
        result.append(dot / (norm_x * norm_w))
    return result


def _margin_softmax(
    embeddings: Tensor,
    weight: Tensor,
    labels: Tensor,
    target_logit: Callable[[float], float],
    scale: float,
    reduction: str,
) -> Tensor:
    rows = embeddings.detach().double().tolist()
    classes = weight.detach().double().tolist()
    losses = []
    for x, y in zip(rows, labels.tolist(), strict=True):
        cos = _cosines(x, classes)
        logits = [scale * (target_logit(c) if j == y else c) for j, c in enumerate(cos)]
        exps = [math.exp(z) for z in logits]
        losses.append(-math.log(exps[y] / math.fsum(exps)))
    return reduce_literal(losses, [1.0] * len(losses), (len(losses),), reduction)


def arcface(
    embeddings: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    reduction: str = "mean",
) -> Tensor:
    """ℓ_n = −log softmax(s·[ψ(θ_y) at y, cos θ_j elsewhere])_y; ψ(θ) = cos(θ + m) up to π − m."""

    def psi(cos: float) -> float:
        theta = math.acos(max(-1.0, min(1.0, cos)))
        if theta <= math.pi - margin:
            return math.cos(theta + margin)
        return math.cos(theta) - margin * math.sin(margin)

    return _margin_softmax(embeddings, weight, labels, psi, scale, reduction)


def cosface(
    embeddings: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    reduction: str = "mean",
) -> Tensor:
    """ℓ_n = −log softmax(s·[cos θ_y − m at y, cos θ_j elsewhere])_y."""
    return _margin_softmax(embeddings, weight, labels, lambda cos: cos - margin, scale, reduction)
