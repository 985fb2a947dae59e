r"""CLIP and SigLIP written from their papers, and OpenCLIP's `ClipLoss` / `SigLipLoss`
transcribed for the parity tests.

- `clip`: the symmetric cross-entropy of Radford et al. (2021), https://arxiv.org/abs/2103.00020
  (Figure 3's pseudocode: `(loss_i + loss_t) / 2` over `logits = np.dot(I_e, T_e.T) * np.exp(t)`).
- `siglip`: eq. (1) and Algorithm 1 of Zhai et al. (ICCV 2023), https://arxiv.org/abs/2303.15343:
  $-\frac{1}{|B|} \sum_i \sum_j \log \sigma(z_{ij} (t\, x_i \cdot y_j + b))$ with $z_{ij} = \pm 1$.
- `open_clip_clip_loss` / `open_clip_siglip_loss`: mlfoundations/open_clip,
  src/open_clip/loss.py at commit 89fb801f1e6087880e951fc8354b8a2077b79c6d (`gather_features`,
  `ClipLoss.get_ground_truth/get_logits/forward`, `SigLipLoss._loss/forward` with the
  `"gather"` and `"shift"` distributed implementations), kept line for line as functions. OpenCLIP
  receives features the model has already L2-normalised; the callers normalise them first.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from tests.oracles import reduce_literal


def _unit(row: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(a * a for a in row))
    return [a / norm for a in row]


def _scaled_cosines(image: Tensor, text: Tensor, logit_scale: float) -> list[list[float]]:
    images = [_unit(row.tolist()) for row in image.double()]
    texts = [_unit(row.tolist()) for row in text.double()]
    return [
        [logit_scale * math.fsum(a * b for a, b in zip(u, v, strict=True)) for v in texts]
        for u in images
    ]


def clip(image: Tensor, text: Tensor, *, logit_scale: float, reduction: str = "mean") -> Tensor:
    """ℓ_n = ½(−log softmax_j(z_nj)[n] − log softmax_i(z_in)[n]), z_ij = s·cos(x_i, y_j)."""
    z = _scaled_cosines(image, text, float(logit_scale))
    n = len(z)
    losses = []
    for k in range(n):
        image_to_text = math.exp(z[k][k]) / math.fsum(math.exp(z[k][j]) for j in range(n))
        text_to_image = math.exp(z[k][k]) / math.fsum(math.exp(z[i][k]) for i in range(n))
        losses.append(0.5 * (-math.log(image_to_text) - math.log(text_to_image)))
    return reduce_literal(losses, [1.0] * n, (n,), reduction)


def siglip(
    image: Tensor,
    text: Tensor,
    *,
    logit_scale: float,
    logit_bias: float,
    reduction: str = "mean",
) -> Tensor:
    """ℓ_i = −Σ_j log σ(y_ij (s·cos(x_i, y_j) + b)), y_ij = +1 if i = j else −1.

    "mean": Σ_i ℓ_i / N, the sum over the N² pairs divided by the batch size."""
    z = _scaled_cosines(image, text, float(logit_scale))
    n = len(z)
    losses = []
    for i in range(n):
        terms = []
        for j in range(n):
            label = 1.0 if i == j else -1.0
            terms.append(-math.log(1.0 / (1.0 + math.exp(-label * (z[i][j] + float(logit_bias))))))
        losses.append(math.fsum(terms))
    return reduce_literal(losses, [1.0] * n, (n,), reduction)


# --- OpenCLIP, src/open_clip/loss.py @ 89fb801f1e6087880e951fc8354b8a2077b79c6d -----------------


def _all_gather_with_grad(tensor: Tensor) -> Tensor:
    # loss.py: `_all_gather_with_grad` (its functional-collectives branch).
    from torch.distributed import _functional_collectives as dist_fcol

    gathered: Tensor = dist_fcol.all_gather_tensor_autograd(
        tensor.contiguous(),
        gather_dim=0,
        group=dist.group.WORLD,  # type: ignore[arg-type]  # None only before init_process_group
    )
    return gathered


def open_clip_clip_loss(
    image_features: Tensor,
    text_features: Tensor,
    logit_scale: Tensor | float,
    *,
    local_loss: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> Tensor:
    """`ClipLoss(local_loss, gather_with_grad=True, rank, world_size)(image, text, logit_scale)`."""
    device = image_features.device
    # get_logits
    if world_size > 1:
        # gather_features(..., gather_with_grad=True)
        all_image_features = _all_gather_with_grad(image_features)
        all_text_features = _all_gather_with_grad(text_features)
        if local_loss:
            logits_per_image = logit_scale * image_features @ all_text_features.T
            logits_per_text = logit_scale * text_features @ all_image_features.T
        else:
            logits_per_image = logit_scale * all_image_features @ all_text_features.T
            logits_per_text = logits_per_image.T
    else:
        logits_per_image = logit_scale * image_features @ text_features.T
        logits_per_text = logit_scale * text_features @ image_features.T
    # get_ground_truth
    num_logits = logits_per_image.shape[0]
    labels = torch.arange(num_logits, device=device, dtype=torch.long)
    if world_size > 1 and local_loss:
        labels = labels + num_logits * rank
    # forward
    return (
        F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)
    ) / 2


def _siglip_part(
    image_features: Tensor,
    text_features: Tensor,
    logit_scale: Tensor | float,
    logit_bias: Tensor | float,
    negative_only: bool = False,
) -> Tensor:
    # SigLipLoss.get_logits, get_ground_truth and _loss (chunk_size=0).
    logits = logit_scale * image_features @ text_features.T
    logits = logits + logit_bias
    num_logits = image_features.shape[0]
    labels = -torch.ones(
        (num_logits, num_logits), device=image_features.device, dtype=image_features.dtype
    )
    if not negative_only:
        labels = (
            2 * torch.eye(num_logits, device=image_features.device, dtype=image_features.dtype)
            + labels
        )
    return -F.logsigmoid(labels * logits).sum() / image_features.shape[0]


def _neighbour_exchange(from_rank: int, to_rank: int, tensor: Tensor) -> Tensor:
    # loss.py: `neighbour_exchange` (batch_isend_irecv of one send and one receive).
    tensor_recv = torch.zeros_like(tensor)
    send_op = dist.P2POp(dist.isend, tensor, to_rank)
    recv_op = dist.P2POp(dist.irecv, tensor_recv, from_rank)
    for req in dist.batch_isend_irecv([send_op, recv_op]):
        req.wait()
    return tensor_recv


class _NeighbourExchange(torch.autograd.Function):
    # loss.py: `NeighbourExchange`: the backward sends the gradient back the other way.
    @staticmethod
    def forward(ctx, from_rank, to_rank, tensor):  # type: ignore[no-untyped-def]
        ctx.from_rank = from_rank
        ctx.to_rank = to_rank
        return _neighbour_exchange(from_rank, to_rank, tensor)

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        return None, None, _NeighbourExchange.apply(ctx.to_rank, ctx.from_rank, grad_output)  # type: ignore[no-untyped-call]


def open_clip_siglip_loss(
    image_features: Tensor,
    text_features: Tensor,
    logit_scale: Tensor | float,
    logit_bias: Tensor | float,
    *,
    dist_impl: str = "shift",
    rank: int = 0,
    world_size: int = 1,
) -> Tensor:
    """`SigLipLoss(rank, world_size, dist_impl)(image, text, logit_scale, logit_bias)`.

    `"shift"` passes the text features around the ring (each rank receives its left
    neighbour's, W − 1 times); `"gather"` all-gathers them. Both add the negatives-only terms of
    the other ranks' texts to this rank's own loss, divided by the local batch size.
    """
    loss = _siglip_part(image_features, text_features, logit_scale, logit_bias)
    if world_size > 1:
        if dist_impl == "shift":
            right_rank = (rank + 1) % world_size
            left_rank = (rank - 1 + world_size) % world_size
            text_features_to_right = text_features
            for _ in range(world_size - 1):
                text_features_from_left = _NeighbourExchange.apply(  # type: ignore[no-untyped-call]
                    left_rank, right_rank, text_features_to_right
                )
                loss = loss + _siglip_part(
                    image_features, text_features_from_left, logit_scale, logit_bias, True
                )
                text_features_to_right = text_features_from_left
        elif dist_impl == "gather":
            all_text = _all_gather_with_grad(text_features).chunk(world_size, dim=0)
            for i in range(world_size):
                loss = loss + float(i != rank) * _siglip_part(
                    image_features, all_text[i], logit_scale, logit_bias, True
                )
        else:
            raise ValueError(dist_impl)
    return loss
