"""The Triton kernels (`@triton.jit`); their launchers and autograd Functions are beside them.

Every kernel reads its inputs in their own dtype and computes in `ACC` (float32, or float64 for
float64 inputs) in registers; none writes an intermediate tensor of the input's size. They use
only long-stable `triton.language` operations (loads and stores with masks, `where`, `exp`,
`log`, `max`, `sum`), so that they run on Triton 3.x and under its interpreter
(`TRITON_INTERPRET=1`, on CPU tensors), which is how the tests check them.

Layouts: a class-scored tensor is seen as $(N, C, S)$ with explicit strides, its labels as
$(N, S)$; a program owns `BLOCK_S` positions $s$ of one $n$ (programs are numbered $n$-major)
and loads a `[BLOCK_C, BLOCK_S]` tile, its classes padded to a power of two. Per-(n, c) sums are
written as one partial sum per program to a buffer that a `torch.sum` finishes: no atomics, and
the same result at every run.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _log1p(x):
    # log(1 + x) to full relative precision for x > -1 (Goldberg's correction of log(1 + x)).
    u = 1.0 + x
    return tl.where(u == 1.0, x, tl.log(u) * (x / tl.where(u == 1.0, 1.0, u - 1.0)))


@triton.jit
def _sigmoid_pair(x):
    # sigma(x) and sigma(-x), each as 1 / (1 + exp(-x)) (torch.sigmoid's formula): each keeps its
    # relative precision, and where it would be subnormal it is 0 (exp overflows), as torch's
    # is, so that both paths agree on which predictions are exactly empty.
    return 1.0 / (1.0 + tl.exp(-x)), 1.0 / (1.0 + tl.exp(x))


@triton.jit
def _softmax_tile(x_ptr, n, cls, pos, in_c, in_s, sxn, sxc, sxs, ACC: tl.constexpr):
    # Probabilities of a [BLOCK_C, BLOCK_S] tile over its classes (axis 0); padded classes and
    # padded positions 0.
    offsets = n * sxn + cls[:, None] * sxc + pos[None, :] * sxs
    mask = in_c[:, None] & in_s[None, :]
    x = tl.load(x_ptr + offsets, mask=mask, other=float("-inf")).to(ACC)
    top = tl.where(in_s, tl.max(x, axis=0), 0.0)
    e = tl.exp(x - top[None, :])
    return e / tl.where(in_s, tl.sum(e, axis=0), 1.0)[None, :]


@triton.jit
def softmax_overlap_fwd(
    x_ptr,
    y_ptr,
    part_ptr,
    C,
    S,
    num_blocks,
    plane,
    ignore_index,
    sxn,
    sxc,
    sxs,
    syn,
    sys,
    ACC: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    # Partial sums of TP = sum p g, FP = sum p (1 - g), FN = sum (1 - p) g and the label count
    # sum g over the valid positions of one block, g = [y = c]: part[k, n, c, block].
    pid = tl.program_id(0)
    n = (pid // num_blocks).to(tl.int64)
    block = pid % num_blocks
    cls = tl.arange(0, BLOCK_C)
    pos = block * BLOCK_S + tl.arange(0, BLOCK_S)
    in_c = cls < C
    in_s = pos < S
    y = tl.load(y_ptr + n * syn + pos * sys, mask=in_s, other=0)
    valid = in_s & (y != ignore_index)
    p = _softmax_tile(x_ptr, n, cls, pos, in_c, in_s, sxn, sxc, sxs, ACC)
    # Ignored positions (whatever their logits, NaN included) and padding count nowhere.
    p = tl.where(valid[None, :], p, 0.0)
    # A label outside [0, C) matches no class (and no padded one: in_c).
    g = ((cls[:, None] == y[None, :]) & valid[None, :] & in_c[:, None]).to(ACC)
    pg = p * g
    out = part_ptr + (n * C + cls) * num_blocks + block
    tl.store(out, tl.sum(pg, axis=1), mask=in_c)
    tl.store(out + plane, tl.sum(p - pg, axis=1), mask=in_c)
    tl.store(out + 2 * plane, tl.sum(g - pg, axis=1), mask=in_c)
    tl.store(out + 3 * plane, tl.sum(g, axis=1), mask=in_c)


@triton.jit
def softmax_overlap_bwd(
    x_ptr,
    y_ptr,
    grad_ptr,
    dx_ptr,
    C,
    S,
    num_blocks,
    plane,
    ignore_index,
    sxn,
    sxc,
    sxs,
    syn,
    sys,
    ACC: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    # grad_ptr: (3, N, C) contiguous (plane = N C), the incoming gradients of TP, FP, FN. On a
    # valid position dL/dp_c = gTP - gFN at the label's class, gFP elsewhere; then the softmax's
    # backward dx = p (dp - sum_c p dp). dx: (N, C, S) contiguous, in the logits' dtype.
    pid = tl.program_id(0)
    n = (pid // num_blocks).to(tl.int64)
    block = pid % num_blocks
    cls = tl.arange(0, BLOCK_C)
    pos = block * BLOCK_S + tl.arange(0, BLOCK_S)
    in_c = cls < C
    in_s = pos < S
    y = tl.load(y_ptr + n * syn + pos * sys, mask=in_s, other=0)
    valid = in_s & (y != ignore_index)
    p = _softmax_tile(x_ptr, n, cls, pos, in_c, in_s, sxn, sxc, sxs, ACC)
    p = tl.where(valid[None, :], p, 0.0)
    g_tp = tl.load(grad_ptr + n * C + cls, mask=in_c, other=0.0).to(ACC)
    g_fp = tl.load(grad_ptr + plane + n * C + cls, mask=in_c, other=0.0).to(ACC)
    g_fn = tl.load(grad_ptr + 2 * plane + n * C + cls, mask=in_c, other=0.0).to(ACC)
    hit = (cls[:, None] == y[None, :]) & valid[None, :]
    dp = tl.where(hit, (g_tp - g_fn)[:, None], g_fp[:, None])
    dx = p * (dp - tl.sum(p * dp, axis=0)[None, :])
    offsets = n * C * S + cls[:, None] * S + pos[None, :]
    mask = in_c[:, None] & in_s[None, :]
    tl.store(dx_ptr + offsets, dx.to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit
def sigmoid_overlap_fwd(
    x_ptr,
    t_ptr,
    part_ptr,
    C,
    S,
    num_blocks,
    plane,
    sxn,
    sxc,
    sxs,
    stn,
    stc,
    sts,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # Partial sums over a block of positions of one (n, c): TP = sum min(p, g),
    # FP = sum max(p - g, 0), FN = sum max(g - p, 0), with g - p = g sigma(-x) - (1 - g) p.
    pid = tl.program_id(0)
    row = (pid // num_blocks).to(tl.int64)
    block = pid % num_blocks
    n = row // C
    c = row % C
    pos = block * BLOCK + tl.arange(0, BLOCK)
    in_s = pos < S
    x = tl.load(x_ptr + n * sxn + c * sxc + pos * sxs, mask=in_s, other=0.0).to(ACC)
    t = tl.load(t_ptr + n * stn + c * stc + pos * sts, mask=in_s, other=0.0).to(ACC)
    p, p_neg = _sigmoid_pair(x)
    shortfall = t * p_neg - (1.0 - t) * p
    excess = tl.where(in_s, tl.maximum(-shortfall, 0.0), 0.0)
    out = part_ptr + row * num_blocks + block
    tl.store(out, tl.sum(tl.where(in_s, p, 0.0) - excess, axis=0))
    tl.store(out + plane, tl.sum(excess, axis=0))
    tl.store(out + 2 * plane, tl.sum(tl.where(in_s, tl.maximum(shortfall, 0.0), 0.0), axis=0))


@triton.jit
def sigmoid_overlap_bwd(
    x_ptr,
    t_ptr,
    grad_ptr,
    dx_ptr,
    C,
    S,
    num_blocks,
    plane,
    sxn,
    sxc,
    sxs,
    stn,
    stc,
    sts,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # With d = g - p, d' = -p sigma(-x): TP' = [d >= 0] p', FP' = [d < 0] p', FN' = -[d > 0] p'
    # (relu's derivative is 0 at 0). grad_ptr: (3, N * C), dx: (N, C, S) contiguous.
    pid = tl.program_id(0)
    row = (pid // num_blocks).to(tl.int64)
    block = pid % num_blocks
    n = row // C
    c = row % C
    pos = block * BLOCK + tl.arange(0, BLOCK)
    in_s = pos < S
    x = tl.load(x_ptr + n * sxn + c * sxc + pos * sxs, mask=in_s, other=0.0).to(ACC)
    t = tl.load(t_ptr + n * stn + c * stc + pos * sts, mask=in_s, other=0.0).to(ACC)
    g_tp = tl.load(grad_ptr + row).to(ACC)
    g_fp = tl.load(grad_ptr + plane + row).to(ACC)
    g_fn = tl.load(grad_ptr + 2 * plane + row).to(ACC)
    p, p_neg = _sigmoid_pair(x)
    shortfall = t * p_neg - (1.0 - t) * p
    coef = tl.where(shortfall >= 0, g_tp, g_fp) - tl.where(shortfall > 0, g_fn, 0.0)
    dx = p * p_neg * coef
    tl.store(dx_ptr + row * S + pos, dx.to(dx_ptr.dtype.element_ty), mask=in_s)


@triton.jit
def softmax_focal_fwd(
    x_ptr,
    y_ptr,
    alpha_ptr,
    loss_ptr,
    part_ptr,
    stats_ptr,
    C,
    S,
    num_blocks,
    rows,
    ignore_index,
    gamma,
    sxn,
    sxc,
    sxs,
    syn,
    sys,
    HAS_ALPHA: tl.constexpr,
    REDUCE: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    # One pass over the classes, in chunks of BLOCK_C: online log-sum-exp over all classes and
    # over the classes other than the label, and the label's logit. Then per position
    # -log p_t, log(1 - p_t) = lse_other - lse, the loss (1 - p_t)^gamma (-log p_t), and for
    # the backward pass stats[0] = lse, stats[1] = the gradient's scale
    # s = (1 - p_t)^gamma (1 + gamma u), u = p_t (-log p_t) / (1 - p_t), stats[2] = 1 - p_t.
    # Both carry the position's weight w = alpha_y (or 1), 0 at ignored positions. REDUCE: the
    # block's sums of w l and of w go to part[0, pid] and part[1, pid]; else w l to loss.
    # A label outside [0, C) that is not ignored: NaN (garbage in, NaN out).
    pid = tl.program_id(0)
    n = (pid // num_blocks).to(tl.int64)
    block = pid % num_blocks
    pos = block * BLOCK_S + tl.arange(0, BLOCK_S)
    in_s = pos < S
    y = tl.load(y_ptr + n * syn + pos * sys, mask=in_s, other=0)
    valid = in_s & (y != ignore_index)
    top = tl.full([BLOCK_S], float("-inf"), ACC)
    total = tl.zeros([BLOCK_S], ACC)
    top_other = tl.full([BLOCK_S], float("-inf"), ACC)
    total_other = tl.zeros([BLOCK_S], ACC)
    at_label = tl.zeros([BLOCK_S], ACC)
    for start in range(0, C, BLOCK_C):
        cls = start + tl.arange(0, BLOCK_C)
        in_c = cls < C
        offsets = n * sxn + cls[:, None] * sxc + pos[None, :] * sxs
        mask = in_c[:, None] & in_s[None, :]
        x = tl.load(x_ptr + offsets, mask=mask, other=float("-inf")).to(ACC)
        is_label = cls[:, None] == y[None, :]
        at_label += tl.sum(tl.where(is_label, x, 0.0), axis=0)
        new_top = tl.maximum(top, tl.max(x, axis=0))
        shift = tl.where(new_top == float("-inf"), 0.0, new_top)
        total = total * tl.exp(top - shift) + tl.sum(tl.exp(x - shift[None, :]), axis=0)
        top = new_top
        other = tl.where(is_label, float("-inf"), x)
        new_top = tl.maximum(top_other, tl.max(other, axis=0))
        shift = tl.where(new_top == float("-inf"), 0.0, new_top)
        total_other = total_other * tl.exp(top_other - shift) + tl.sum(
            tl.exp(other - shift[None, :]), axis=0
        )
        top_other = new_top
    lse = tl.where(top == float("-inf"), 0.0, top) + tl.log(total)
    lse_other = tl.where(top_other == float("-inf"), 0.0, top_other) + tl.log(total_other)
    log_q = lse_other - lse
    q = tl.exp(log_q)
    # -log p_t: from 1 - p_t where that is small (log1p keeps its digits), else lse - x_t.
    neg_log_pt = tl.where(q < 0.5, -_log1p(-q), lse - at_label)
    factor = tl.where(gamma == 0.0, 1.0, tl.exp(gamma * log_q))
    p_t = tl.exp(-neg_log_pt)
    u = tl.where(q > 0.0, p_t * neg_log_pt / tl.where(q > 0.0, q, 1.0), 1.0)
    scale = factor * (1.0 + gamma * u)
    bad = valid & ((y < 0) | (y >= C))
    weight = valid.to(ACC)
    if HAS_ALPHA:
        weight = tl.load(alpha_ptr + y, mask=valid & ~bad, other=0.0).to(ACC)
    loss = tl.where(valid, weight * factor * neg_log_pt, 0.0)
    loss = tl.where(bad, float("nan"), loss)
    scale = tl.where(valid, weight * scale, 0.0)
    scale = tl.where(bad, float("nan"), scale)
    index = n * S + pos
    if REDUCE:
        tl.store(part_ptr + pid, tl.sum(loss, axis=0))
        tl.store(part_ptr + tl.num_programs(0) + pid, tl.sum(weight, axis=0))
    else:
        tl.store(loss_ptr + index, loss, mask=in_s)
    tl.store(stats_ptr + index, lse, mask=in_s)
    tl.store(stats_ptr + rows + index, scale, mask=in_s)
    tl.store(stats_ptr + 2 * rows + index, q, mask=in_s)


@triton.jit
def softmax_focal_bwd(
    x_ptr,
    y_ptr,
    stats_ptr,
    grad_ptr,
    dx_ptr,
    C,
    S,
    num_blocks,
    rows,
    ignore_index,
    sxn,
    sxc,
    sxs,
    syn,
    sys,
    sgn,
    sgs,
    sdn,
    sdc,
    sds,
    ACC: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    # dx_j = g s p_j for j != y, and g s (p_t - 1) = -g s (1 - p_t) at the label.
    pid = tl.program_id(0)
    n = (pid // num_blocks).to(tl.int64)
    block = pid % num_blocks
    pos = block * BLOCK_S + tl.arange(0, BLOCK_S)
    in_s = pos < S
    y = tl.load(y_ptr + n * syn + pos * sys, mask=in_s, other=0)
    valid = in_s & (y != ignore_index)
    index = n * S + pos
    lse = tl.load(stats_ptr + index, mask=in_s, other=0.0)
    scale = tl.load(stats_ptr + rows + index, mask=in_s, other=0.0)
    q = tl.load(stats_ptr + 2 * rows + index, mask=in_s, other=0.0)
    g = tl.load(grad_ptr + n * sgn + pos * sgs, mask=in_s, other=0.0).to(ACC)
    weight = scale * g
    for start in range(0, C, BLOCK_C):
        cls = start + tl.arange(0, BLOCK_C)
        in_c = cls < C
        mask = in_c[:, None] & in_s[None, :]
        x = tl.load(
            x_ptr + n * sxn + cls[:, None] * sxc + pos[None, :] * sxs, mask=mask, other=0.0
        ).to(ACC)
        p = tl.exp(x - lse[None, :])
        dx = tl.where(cls[:, None] == y[None, :], -(weight * q)[None, :], weight[None, :] * p)
        # Ignored positions may hold NaN or inf logits: their gradient is 0, not 0 * NaN.
        dx = tl.where(valid[None, :], dx, 0.0)
        offsets = n * sdn + cls[:, None] * sdc + pos[None, :] * sds
        tl.store(dx_ptr + offsets, dx.to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _sigmoid_focal_terms(x, t, gamma, alpha, tiny, HAS_ALPHA: tl.constexpr):
    # BCE = max(x, 0) - t x + log1p(exp(-|x|)); 1 - p_t = (1 - t) p + t sigma(-x) (clamped at
    # the smallest normal number); alpha_t (1 - p_t)^gamma.
    p, p_neg = _sigmoid_pair(x)
    bce = tl.maximum(x, 0.0) - t * x + _log1p(tl.exp(-tl.abs(x)))
    one_minus_pt = tl.maximum((1.0 - t) * p + t * p_neg, tiny)
    factor = tl.where(
        gamma == 2.0, one_minus_pt * one_minus_pt, tl.exp(gamma * tl.log(one_minus_pt))
    )
    factor = tl.where(gamma == 0.0, 1.0, factor)
    if HAS_ALPHA:
        factor = factor * ((1.0 - alpha) + (2.0 * alpha - 1.0) * t)
    return p, p_neg, bce, one_minus_pt, factor


@triton.jit
def sigmoid_focal_fwd(
    x_ptr,
    t_ptr,
    out_ptr,
    numel,
    gamma,
    alpha,
    tiny,
    HAS_ALPHA: tl.constexpr,
    REDUCE: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # REDUCE: out[pid] = the block's sum of the loss; else out = the unreduced loss.
    pid = tl.program_id(0)
    offsets = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(ACC)
    t = tl.load(t_ptr + offsets, mask=mask, other=0.0).to(ACC)
    _, _, bce, _, factor = _sigmoid_focal_terms(x, t, gamma, alpha, tiny, HAS_ALPHA)
    loss = factor * bce
    if REDUCE:
        tl.store(out_ptr + pid, tl.sum(tl.where(mask, loss, 0.0), axis=0))
    else:
        tl.store(out_ptr + offsets, loss.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def sigmoid_focal_bwd(
    x_ptr,
    t_ptr,
    grad_ptr,
    dx_ptr,
    numel,
    grad_stride,
    grad_scale,
    gamma,
    alpha,
    tiny,
    HAS_ALPHA: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # dl/dx = alpha_t (1 - p_t)^gamma [p - t + gamma (1 - 2t) p sigma(-x) / (1 - p_t) BCE],
    # times the incoming gradient (grad_stride 0: one number for every element).
    pid = tl.program_id(0)
    offsets = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(ACC)
    t = tl.load(t_ptr + offsets, mask=mask, other=0.0).to(ACC)
    g = tl.load(grad_ptr + offsets * grad_stride, mask=mask, other=0.0).to(ACC) * grad_scale
    p, p_neg, bce, one_minus_pt, factor = _sigmoid_focal_terms(x, t, gamma, alpha, tiny, HAS_ALPHA)
    bracket = p - t + gamma * (1.0 - 2.0 * t) * (p * p_neg / one_minus_pt) * bce
    dx = factor * bracket * g
    tl.store(dx_ptr + offsets, dx.to(dx_ptr.dtype.element_ty), mask=mask)
