"""Cross-entropy of a linear layer's logits, token chunk by token chunk: the (tokens × vocabulary)
logits of a language model's head are never held whole."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from deeplossdive._about import P_T, TWO_CLASSES, Leaf, Plot, class0, describe
from deeplossdive._base import Loss
from deeplossdive._numerics import LOW_PRECISION, compute_dtype
from deeplossdive._reduction import Reduction, check_reduction, weighted_mean
from deeplossdive._validation import (
    NON_NEGATIVE_FINITE,
    check_class_indices,
    check_floating,
    check_integer,
    check_interval,
    check_min_ndim,
    check_ndim,
    check_same_dtype,
    check_shape,
)

CHUNK_ENTRIES = 2**24
"""The default chunk holds at most this many logits: 64 MiB in float32."""


def default_chunk_size(num_classes: int) -> int:
    """The largest power of two $c$ with $c \\cdot V \\le 2^{24}$ (at least 1): the number of
    tokens whose float32 logits over `num_classes` $= V$ classes take at most 64 MiB."""
    budget = CHUNK_ENTRIES // max(num_classes, 1)
    return 1 << max(budget.bit_length() - 1, 0)


def check_chunk_size(function: str, chunk_size: object) -> int | None:
    """`None` or a positive `int` (not a bool)."""
    if chunk_size is None:
        return None
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise TypeError(
            f"{function}: chunk_size must be a positive integer or None, "
            f"got {type(chunk_size).__name__}"
        )
    if chunk_size < 1:
        raise ValueError(
            f"{function}: chunk_size must be a positive integer or None, got {chunk_size}"
        )
    return chunk_size


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    target: Tensor,
    /,
    *,
    bias: Tensor | None = None,
    ignore_index: int = -100,
    z_loss: float = 0.0,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross-entropy of the logits $x = h W^\top + b$ of a linear layer, computed chunk by chunk.

    With hidden states $h_n \in \mathbb{R}^H$, the weight $W \in \mathbb{R}^{V \times H}$ of the
    output layer (as [`torch.nn.Linear`](https://pytorch.org/docs/stable/generated/torch.nn.Linear.html)
    holds it), an optional bias $b$, logits $x_n = W h_n + b$ and
    $z_n = \operatorname{logsumexp}_c x_{n,c}$, the unreduced loss is

    $$
    \ell_n = m_n \bigl( z_n - x_{n, y_n} + \zeta z_n^2 \bigr),
    $$

    with $m_n = 0$ for a token whose target is `ignore_index` and 1 otherwise; `"mean"` is
    $\sum_n \ell_n / \sum_n m_n$ (0 when every token is ignored). That is
    [`cross_entropy`][deeplossdive.functional.cross_entropy]`(F.linear(hidden, weight, bias),
    target, ignore_index=..., z_loss=..., reduction=...)` in value and in the gradients of
    `hidden`, `weight` and `bias`, without the $(N, V)$ logits: tokens are taken `chunk_size` at
    a time, and each chunk's logits, their log-sum-exp and their gradient
    $g_n = m_n s_n \bigl((1 + 2\zeta z_n)\, \operatorname{softmax}(x_n) - e_{y_n}\bigr)$ (computed
    in place over the logits) give $\partial/\partial h_n = g_n W$, and add $g_n^\top h_n$ to the
    gradient of $W$ and $g_n$ to that of $b$. $s_n$ is $1 / \sum_n m_n$ for `"mean"`, 1 for
    `"sum"`. This is the chunking of Liger-Kernel's fused linear cross-entropy
    ([Hsu et al., 2024](https://arxiv.org/abs/2410.10989)), written with torch's operations.
    For `"mean"` and `"sum"` the gradients are computed during the forward pass (one
    matrix product of the logits instead of two) and scaled by the incoming gradient in the
    backward pass. For `"none"` the incoming gradient is one number per token and must scale
    $g_n$ before it is summed into the gradient of $W$: the forward pass keeps $z_n$ and the
    backward pass computes the logits again (one more matrix product).

    float16 and bfloat16 `hidden` and `weight` are multiplied in their dtype; the logits, the
    log-sum-exp, the loss and the sums of the gradients of `weight` and `bias` are float32; the
    result and the gradients have the input dtype. The derivative of the backward pass is not
    implemented: double backward raises.

    Args:
        hidden: Hidden states, shape $(N, H)$ or $(\dots, H)$, floating point.
        weight: The output layer's weight, shape $(V, H)$, $V \ge 2$, the dtype of `hidden`.
        target: Class indices in $[0, V)$ or `ignore_index`, an integer tensor of shape
            `hidden.shape[:-1]`. The shift by one token of next-token prediction is the
            caller's: `hidden[:, :-1]` against `labels[:, 1:]`.
        bias: Optional bias, shape $(V)$, the dtype of `hidden`.
        ignore_index: Target value whose tokens contribute nothing, neither to the sum nor to
            the mean's denominator.
        z_loss: $\zeta \ge 0$, PaLM's auxiliary loss on $z_n^2$ (see
            [`cross_entropy`][deeplossdive.functional.cross_entropy]).
        chunk_size: Tokens per chunk; by default the largest power of two $c$ with
            $c \cdot V \le 2^{24}$ (float32 logits of at most 64 MiB per chunk: 128 tokens for
            $V = 128\,256$, 512 for $V = 32\,000$).
        reduction: `"none"`, `"mean"` or `"sum"`.

    Returns:
        The loss: shape `hidden.shape[:-1]` for `"none"`, a scalar otherwise, in the dtype of
        `hidden`.

    Raises:
        TypeError: `hidden`, `weight` or `bias` is not floating point or not of `hidden`'s
            dtype, `target` is not integer, `chunk_size` is not an integer.
        ValueError: Shapes disagree, $V < 2$, `z_loss` negative or not finite, `chunk_size`
            below 1, an unknown `reduction`, or (with value checks on) a label outside
            $[0, V)$ that is not `ignore_index`.

    Examples:
        Two tokens, three classes, $H = 2$: the first token's logits are $(0, 0, 0)$, the
        second's $(\log 3, 0, 0)$:

        >>> import math
        >>> import torch
        >>> from deeplossdive.functional import linear_cross_entropy
        >>> hidden = torch.tensor([[0.0, 1.0], [math.log(3.0), 1.0]])
        >>> weight = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        >>> linear_cross_entropy(hidden, weight, torch.tensor([2, 0]), reduction="none")
        tensor([1.0986, 0.5108])

        That is $\log 3$ and $-\log 0.6$, as in `cross_entropy`; one token per chunk gives the
        same.
    """
    fn = "linear_cross_entropy"
    check_floating(fn, "hidden", hidden)
    check_min_ndim(fn, "hidden", hidden, 2, "(N, H) or (..., H)")
    check_floating(fn, "weight", weight)
    check_same_dtype(fn, "weight", weight, "hidden", hidden)
    check_ndim(fn, "weight", weight, 2, "(V, H)")
    num_classes, features = weight.shape
    if features != hidden.shape[-1]:
        raise ValueError(
            f"{fn}: weight must have shape (V, {hidden.shape[-1]}) (one row of hidden's "
            f"{hidden.shape[-1]} features per class), got {tuple(weight.shape)}"
        )
    if num_classes < 2:
        raise ValueError(f"{fn}: weight must have at least 2 rows (classes), got {num_classes}")
    check_integer(fn, "target", target)
    check_shape(fn, "target", target, tuple(hidden.shape[:-1]), "hidden's shape without H")
    if bias is not None:
        check_floating(fn, "bias", bias)
        check_same_dtype(fn, "bias", bias, "hidden", hidden)
        check_shape(fn, "bias", bias, (num_classes,), "one entry per row of weight")
    check_interval(fn, "z_loss", z_loss, NON_NEGATIVE_FINITE)
    chunk = check_chunk_size(fn, chunk_size) or default_chunk_size(num_classes)
    check_reduction(fn, reduction)
    check_class_indices(fn, target, num_classes, ignore_index)

    flat = hidden.reshape(-1, features)
    labels = target.reshape(-1)
    if labels.dtype != torch.long:
        labels = labels.long()
    loss: Tensor = _ChunkedLinearCrossEntropy.apply(  # type: ignore[no-untyped-call]
        flat, weight, bias, labels, ignore_index, z_loss, chunk, reduction
    )
    return loss.reshape(target.shape) if reduction == "none" else loss


def _logits(hidden: Tensor, weight: Tensor, bias: Tensor | None, wide: torch.dtype) -> Tensor:
    """A chunk's logits $h W^\\top + b$ in `wide` (float32 for float16/bfloat16 inputs, which are
    multiplied in their dtype: on CUDA straight into float32, on the CPU rounded first)."""
    if hidden.dtype == wide:
        if bias is None:
            return hidden @ weight.t()
        return torch.addmm(bias, hidden, weight.t())
    if hidden.is_cuda:
        logits = torch.mm(hidden, weight.t(), out_dtype=wide)
    else:
        logits = (hidden @ weight.t()).to(wide)
    return logits if bias is None else logits.add_(bias)


def _to_gradient(logits: Tensor, lse: Tensor, labels: Tensor, scale: Tensor, z_loss: float) -> None:
    r"""Turn a chunk's logits into the gradient of its loss, in place:
    $s_n \bigl((1 + 2\zeta z_n) \operatorname{softmax}(x_n) - e_{y_n}\bigr)$."""
    logits.sub_(lse[:, None]).exp_()
    factor = scale * (1 + 2 * z_loss * lse) if z_loss else scale
    logits.mul_(factor[:, None])
    # One write per row: no contended atomics.
    logits.scatter_add_(1, labels[:, None], -scale[:, None])


class _Gradients:
    """The gradients of hidden, weight and bias, accumulated chunk by chunk (weight's and bias's
    in the wide dtype), or None for those not needed."""

    def __init__(
        self, hidden: Tensor, weight: Tensor, bias: Tensor | None, needs: tuple[bool, ...]
    ) -> None:
        wide = compute_dtype(hidden)
        self.hidden = torch.empty_like(hidden) if needs[0] else None
        self.weight = torch.zeros_like(weight, dtype=wide) if needs[1] else None
        self.bias = None if bias is None or not needs[2] else torch.zeros_like(bias, dtype=wide)

    def add(self, grad: Tensor, hidden: Tensor, weight: Tensor, start: int) -> None:
        """Add the chunk of `hidden` at `start` whose logits' gradient is `grad` (wide dtype)."""
        low = grad.to(hidden.dtype)
        if self.hidden is not None:
            torch.mm(low, weight, out=self.hidden[start : start + grad.shape[0]])
        if self.weight is not None:
            if hidden.dtype not in LOW_PRECISION:
                self.weight.addmm_(grad.t(), hidden)
            elif hidden.is_cuda:
                torch.addmm(
                    self.weight, low.t(), hidden, out_dtype=self.weight.dtype, out=self.weight
                )
            else:
                self.weight.addmm_(grad.t(), hidden.to(grad.dtype))
        if self.bias is not None:
            self.bias.add_(grad.sum(dim=0))

    def result(self, weight: Tensor, bias: Tensor | None) -> tuple[Tensor | None, ...]:
        """In the dtypes of the inputs."""
        grad_weight = None if self.weight is None else self.weight.to(weight.dtype)
        grad_bias = None if self.bias is None or bias is None else self.bias.to(bias.dtype)
        return self.hidden, grad_weight, grad_bias


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        labels: Tensor,
        ignore_index: int,
        z_loss: float,
        chunk: int,
        reduction: str,
    ) -> Tensor:
        wide = compute_dtype(hidden)
        counted = labels != ignore_index
        safe = torch.where(counted, labels, torch.zeros_like(labels))
        count = torch.count_nonzero(counted)
        scale = counted.to(wide)
        if reduction == "mean":
            scale = scale / count.clamp(min=1).to(wide)
        needs: tuple[bool, ...] = tuple(ctx.needs_input_grad[:3])  # type: ignore[attr-defined]
        now = reduction != "none" and any(needs)
        grads = _Gradients(hidden, weight, bias, needs) if now else None
        later = reduction == "none" and any(needs)
        losses = torch.empty(hidden.shape[0], dtype=wide, device=hidden.device)
        lses = torch.empty_like(losses) if later else None
        for start in range(0, hidden.shape[0], chunk):
            part = hidden[start : start + chunk]
            rows = slice(start, start + part.shape[0])
            logits = _logits(part, weight, bias, wide)
            lse = torch.logsumexp(logits, dim=1)
            loss = lse - logits.gather(1, safe[rows, None]).squeeze(1)
            if z_loss:
                loss = loss + z_loss * lse.square()
            losses[rows] = torch.where(counted[rows], loss, torch.zeros_like(loss))
            if grads is not None:
                _to_gradient(logits, lse, safe[rows], scale[rows], z_loss)
                grads.add(logits, part, weight, start)
            elif lses is not None:
                lses[rows] = lse
        ctx.reduction = reduction  # type: ignore[attr-defined]
        ctx.chunk = chunk  # type: ignore[attr-defined]
        ctx.z_loss = z_loss  # type: ignore[attr-defined]
        if grads is not None:
            ctx.save_for_backward(*grads.result(weight, bias))  # type: ignore[arg-type]  # None is kept
        elif lses is not None:
            ctx.save_for_backward(hidden, weight, bias, safe, scale, lses)  # type: ignore[arg-type]
        if reduction == "none":
            return losses.to(hidden.dtype)
        total = losses.sum()
        if reduction == "mean":
            total = weighted_mean(total, count)
        return total.to(hidden.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        nothing = (None,) * 5
        if ctx.reduction != "none":
            # Not in place, so that a graph kept with retain_graph=True can run backward again
            # (gradcheck does): one transient copy of each gradient.
            scaled = tuple(g if g is None else g * grad_output for g in ctx.saved_tensors)
            return (*scaled, *nothing)
        hidden, weight, bias, safe, scale, lses = ctx.saved_tensors
        wide = lses.dtype
        grads = _Gradients(hidden, weight, bias, tuple(ctx.needs_input_grad[:3]))
        row_scale = scale * grad_output.to(wide)
        for start in range(0, hidden.shape[0], ctx.chunk):
            part = hidden[start : start + ctx.chunk]
            rows = slice(start, start + part.shape[0])
            logits = _logits(part, weight, bias, wide)
            _to_gradient(logits, lses[rows], safe[rows], row_scale[rows], ctx.z_loss)
            grads.add(logits, part, weight, start)
        return (*grads.result(weight, bias), *nothing)


class LinearCrossEntropyLoss(Loss[Reduction], function=linear_cross_entropy):
    """Module form of [`linear_cross_entropy`][deeplossdive.functional.linear_cross_entropy].

    It holds no parameters: like `F.linear`, it takes the output layer's weight (and bias) at
    each call, `criterion(hidden, model.lm_head.weight, target)`, so that the layer stays in the
    model (and tied embeddings stay tied).

    Shape:
        hidden $(\\dots, H)$, weight $(V, H)$, target $(\\dots)$, optional bias $(V)$ as a fourth
        argument; the output is a scalar, or of the target's shape for `"none"`.
    """

    def __init__(
        self,
        *,
        ignore_index: int = -100,
        z_loss: float = 0.0,
        chunk_size: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(locals(), z_loss=NON_NEGATIVE_FINITE)
        check_chunk_size(type(self).__name__, chunk_size)

    def forward(  # type: ignore[override]
        self, hidden: Tensor, weight: Tensor, target: Tensor, bias: Tensor | None = None
    ) -> Tensor:
        return linear_cross_entropy(hidden, weight, target, bias=bias, **self.options())


def _two_class(**options: Any) -> Any:
    """Hidden state $(z_t)$, $H = 1$, and weight $(1, 0)^\\top$: logits $(z_t, 0)$, class 0."""

    def loss(z: Tensor) -> Tensor:
        weight = torch.tensor([[1.0], [0.0]], dtype=z.dtype)
        return linear_cross_entropy(z[:, None], weight, class0(z), reduction="none", **options)

    return loss


describe(
    linear_cross_entropy,
    family="Language models",
    task="Next-token prediction over a large vocabulary",
    torch="`F.linear_cross_entropy`",
    plot=Plot(
        P_T,
        TWO_CLASSES + " Hidden state $z_t$, weight $(1, 0)^\\top$.",
        {"linear_cross_entropy": _two_class(), "z_loss = 0.1": _two_class(z_loss=0.1)},
    ),
    chart=Leaf(
        "Train a language model", "hidden states, the output layer's weight", "large vocabulary"
    ),
)
