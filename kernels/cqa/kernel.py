"""Triton kernels of context-query attention (docs/design.md §2.4, §8.4): three forward and three backward launches.

Math, per sample b (C (T, d) clips, Q (N, d) words, cm (T,), qm (N,) validity, w_c, w_q, w_m (d,)):

    S   = (C w_c) 1ᵀ + 1 (Q w_q)ᵀ + (C ⊙ w_m) Qᵀ                      (T, N) scores
    S_r = softmax over words of S, qm-masked;  S_c = softmax over clips of S, cm-masked
    M   = S_cᵀ C  (N, d) "word context";  A = S_r Q;  Bq = S_r M        (T, d), never S_r S_cᵀ (T, T)
    X   = [A | C ⊙ A | C ⊙ Bq]                                          (T, 3d), what the kernels emit

Masked logits become -1e30 (the reference's ``masked_fill``, so an all-masked row would be uniform);
tile padding outside the tensors becomes -inf, which weighs exactly 0 next to any finite logit.
Softmaxes and all accumulators are float32; ``tl.dot`` operands are cast to the input dtype (fp32 dots
run as ``PRECISION``: "ieee" with TF32 off, "tf32" otherwise).

Layout: every tensor is contiguous, batch-first: C (B, T, d), Q (B, N, d), X and dX (B, T, 3d), masks
uint8 (B, T) / (B, N).  Workspaces (float32): S and dS (B, T, BLOCK_N), per-block column stats
(B, n_t_blocks, BLOCK_N), column max / 1/sum (B, BLOCK_N), M, dM and S_rᵀ dA' (B, BLOCK_N, d).

Tiles: BLOCK_T clips x BLOCK_N words x BLOCK_D features.  The word axis is one tile, so N <= BLOCK_N;
T and d are looped over in tiles (the limits enforced by ``kernels.policy.cqa_limits``).

Forward:  scores (B, T-blocks) -> column (B, d-chunks) -> rows (B, T-blocks).
Backward: bwd_column (B, d-chunks) -> bwd_rows (B, T-blocks) -> bwd_query (B, d-chunks).
S is the only T x N tensor the forward writes (once, float32, kept for the backward), dS the only one the
backward writes; S_r, S_c, A and Bq are recomputed from S wherever they are needed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from kernels.cqa.reference import MASK_VALUE
from kernels.device_fit import launch
from kernels.policy import dot_precision

MASK = tl.constexpr(MASK_VALUE)
MAX_BLOCK_T = 64
MAX_BLOCK_D = 32
MIN_DOT = 16  # tl.dot needs every tile dimension >= 16
# Launch shapes picked from the offline compile report's registers / shared memory per architecture
# (python -m compile_report --arch ...; figures in bench/results/compile-*/report.md), not yet from GPU timings.
NUM_STAGES = 2
NUM_WARPS = {"scores": 4, "column": 4, "rows": 8, "bwd_column": 8, "bwd_rows": 8, "bwd_query": 4}


# ---------------------------------------------------------------------------------------------------------
# Shared device helpers
# ---------------------------------------------------------------------------------------------------------


@triton.jit
def _load_tile(base, rows, n_rows, cols, n_cols, row_stride):
    """A rows x cols tile of a row-major matrix, zero outside (n_rows, n_cols)."""
    mask = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]
    return tl.load(base + rows[:, None] * row_stride + cols[None, :], mask=mask, other=0.0)


@triton.jit
def _store_tile(base, rows, n_rows, cols, n_cols, row_stride, value):
    mask = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]
    tl.store(base + rows[:, None] * row_stride + cols[None, :], value, mask=mask)


@triton.jit
def _load_valid(mask_base, idx, n):
    """Validity flags (uint8 mask row) as bool, False past n."""
    return tl.load(mask_base + idx, mask=idx < n, other=0) != 0


@triton.jit
def _masked_logits(s, in_bounds, valid):
    return tl.where(in_bounds, tl.where(valid, s, MASK), float("-inf"))


@triton.jit
def _row_probs(s, cols, n_words, word_valid):
    """S_r tile: softmax over the words (axis 1) of a (BLOCK_T, BLOCK_N) score tile."""
    logits = _masked_logits(s, (cols < n_words)[None, :], word_valid[None, :])
    p = tl.exp(logits - tl.max(logits, axis=1)[:, None])
    return p / tl.sum(p, axis=1)[:, None]


@triton.jit
def _col_logits(s, rows, n_clips, clip_valid):
    return _masked_logits(s, (rows < n_clips)[:, None], clip_valid[:, None])


@triton.jit
def _col_probs(s, rows, n_clips, clip_valid, col_max, col_inv_sum):
    """S_c tile from the column statistics of the whole sample."""
    return tl.exp(_col_logits(s, rows, n_clips, clip_valid) - col_max[None, :]) * col_inv_sum[None, :]


@triton.jit
def _attention_grads(dx_base, rows, n_clips, dims, D, c):
    """Gradients reaching A and Bq through X = [A | C⊙A | C⊙Bq]: (dA + dX2 ⊙ C, dX3 ⊙ C), float32."""
    cf = c.to(tl.float32)
    d_a = _load_tile(dx_base, rows, n_clips, dims, D, 3 * D).to(tl.float32)
    d_ca = _load_tile(dx_base + D, rows, n_clips, dims, D, 3 * D).to(tl.float32)
    d_cb = _load_tile(dx_base + 2 * D, rows, n_clips, dims, D, 3 * D).to(tl.float32)
    return d_a + d_ca * cf, d_cb * cf


# ---------------------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------------------


@triton.jit
def _scores_kernel(
    c_ptr, q_ptr, wc_ptr, wq_ptr, wm_ptr, cm_ptr, s_ptr, blk_max_ptr, blk_sum_ptr,
    T, N, D, n_t_blocks,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    """Program (t-block, b): S tile (BLOCK_T, BLOCK_N) -> S, and this block's column max and sum of exp."""
    pid_t, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    rows = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_N)
    c_base, q_base = c_ptr + b * T * D, q_ptr + b * N * D
    bilinear = tl.zeros((BLOCK_T, BLOCK_N), tl.float32)
    c_lin = tl.zeros((BLOCK_T,), tl.float32)
    q_lin = tl.zeros((BLOCK_N,), tl.float32)
    for d0 in range(0, D, BLOCK_D):
        dims = d0 + tl.arange(0, BLOCK_D)
        c = _load_tile(c_base, rows, T, dims, D, D)
        q = _load_tile(q_base, cols, N, dims, D, D)
        w_c = tl.load(wc_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
        w_q = tl.load(wq_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
        w_m = tl.load(wm_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
        c_lin += tl.sum(c.to(tl.float32) * w_c[None, :], axis=1)
        q_lin += tl.sum(q.to(tl.float32) * w_q[None, :], axis=1)
        c_wm = (c.to(tl.float32) * w_m[None, :]).to(c.dtype)
        bilinear = tl.dot(c_wm, tl.trans(q), bilinear, input_precision=PRECISION)
    s = bilinear + c_lin[:, None] + q_lin[None, :]
    _store_tile(s_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N, s)
    logits = _col_logits(s, rows, T, _load_valid(cm_ptr + b * T, rows, T))
    blk_max = tl.max(logits, axis=0)
    blk_sum = tl.sum(tl.exp(logits - blk_max[None, :]), axis=0)
    stat = (b * n_t_blocks + pid_t) * BLOCK_N + cols
    tl.store(blk_max_ptr + stat, blk_max)
    tl.store(blk_sum_ptr + stat, blk_sum)


@triton.jit
def _column_kernel(
    c_ptr, cm_ptr, s_ptr, blk_max_ptr, blk_sum_ptr, col_max_ptr, col_inv_ptr, ctx_ptr,
    T, D, n_t_blocks,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    """Program (d-chunk, b): merges the block column stats, then M[:, chunk] = S_cᵀ C[:, chunk]."""
    pid_d, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    col_max = tl.full((BLOCK_N,), float("-inf"), tl.float32)
    col_sum = tl.zeros((BLOCK_N,), tl.float32)
    for k in range(0, n_t_blocks):  # online merge of (max, sum of exp) pairs
        stat = (b * n_t_blocks + k) * BLOCK_N + cols
        blk_max = tl.load(blk_max_ptr + stat)
        new_max = tl.maximum(col_max, blk_max)
        col_sum = col_sum * tl.exp(col_max - new_max) + tl.load(blk_sum_ptr + stat) * tl.exp(blk_max - new_max)
        col_max = new_max
    col_inv = 1.0 / col_sum
    if pid_d == 0:
        tl.store(col_max_ptr + b * BLOCK_N + cols, col_max)
        tl.store(col_inv_ptr + b * BLOCK_N + cols, col_inv)
    dims = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    ctx = tl.zeros((BLOCK_N, BLOCK_D), tl.float32)
    for t0 in range(0, T, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        s = _load_tile(s_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N)
        c = _load_tile(c_ptr + b * T * D, rows, T, dims, D, D)
        p_c = _col_probs(s, rows, T, _load_valid(cm_ptr + b * T, rows, T), col_max, col_inv)
        ctx = tl.dot(tl.trans(p_c.to(c.dtype)), c, ctx, input_precision=PRECISION)
    _store_tile(ctx_ptr + b * BLOCK_N * D, cols, BLOCK_N, dims, D, D, ctx)


@triton.jit
def _rows_kernel(
    c_ptr, q_ptr, qm_ptr, s_ptr, ctx_ptr, x_ptr,
    T, N, D,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    """Program (t-block, b): S_r tile, then X = [A | C⊙A | C⊙Bq] with A = S_r Q, Bq = S_r M."""
    pid_t, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    rows = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_N)
    s = _load_tile(s_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N)
    p_r = _row_probs(s, cols, N, _load_valid(qm_ptr + b * N, cols, N))
    x_base = x_ptr + b * T * 3 * D
    for d0 in range(0, D, BLOCK_D):
        dims = d0 + tl.arange(0, BLOCK_D)
        c = _load_tile(c_ptr + b * T * D, rows, T, dims, D, D)
        q = _load_tile(q_ptr + b * N * D, cols, N, dims, D, D)
        ctx = _load_tile(ctx_ptr + b * BLOCK_N * D, cols, BLOCK_N, dims, D, D).to(c.dtype)
        p_lo = p_r.to(c.dtype)
        a = tl.dot(p_lo, q, input_precision=PRECISION).to(c.dtype)
        bq = tl.dot(p_lo, ctx, input_precision=PRECISION).to(c.dtype)
        _store_tile(x_base, rows, T, dims, D, 3 * D, a)
        _store_tile(x_base + D, rows, T, dims, D, 3 * D, c * a)
        _store_tile(x_base + 2 * D, rows, T, dims, D, 3 * D, c * bq)


# ---------------------------------------------------------------------------------------------------------
# Backward.  With dA' = dA + dX2⊙C and dBq' = dX3⊙C (the gradients reaching A and Bq):
#   dQ = S_rᵀ dA' + colsum(dS) w_qᵀ + (dSᵀ C)⊙w_m          dM = S_rᵀ dBq'
#   dC = dX2⊙A + dX3⊙Bq + S_c dM + rowsum(dS) w_cᵀ + (dS Q)⊙w_m
#   dS = S_r⊙(dS_r - rowsum(S_r⊙dS_r)) + S_c⊙(dS_c - D_c),  dS_r = dA' Qᵀ + dBq' Mᵀ,  dS_c = C dMᵀ,
#   D_c[j] = Σ_i S_c[i,j] dS_c[i,j] = M_j·dM_j;  masked / padded entries of each part get 0 (masked_fill).
#   dw_c = Σ_i rowsum(dS)_i C_i,  dw_q = Σ_j colsum(dS)_j Q_j,  dw_m = Σ_j Q_j ⊙ (dSᵀ C)_j.
# ---------------------------------------------------------------------------------------------------------


@triton.jit
def _bwd_column_kernel(
    c_ptr, qm_ptr, s_ptr, dx_ptr, dq_att_ptr, dctx_ptr,
    T, N, D,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    """Program (d-chunk, b): S_rᵀ dA' and dM = S_rᵀ dBq' for its feature chunk (float32)."""
    pid_d, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    dims = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    word_valid = _load_valid(qm_ptr + b * N, cols, N)
    dq_att = tl.zeros((BLOCK_N, BLOCK_D), tl.float32)
    dctx = tl.zeros((BLOCK_N, BLOCK_D), tl.float32)
    for t0 in range(0, T, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        s = _load_tile(s_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N)
        c = _load_tile(c_ptr + b * T * D, rows, T, dims, D, D)
        d_a, d_bq = _attention_grads(dx_ptr + b * T * 3 * D, rows, T, dims, D, c)
        p_t = tl.trans(_row_probs(s, cols, N, word_valid).to(c.dtype))
        dq_att = tl.dot(p_t, d_a.to(c.dtype), dq_att, input_precision=PRECISION)
        dctx = tl.dot(p_t, d_bq.to(c.dtype), dctx, input_precision=PRECISION)
    _store_tile(dq_att_ptr + b * BLOCK_N * D, cols, BLOCK_N, dims, D, D, dq_att)
    _store_tile(dctx_ptr + b * BLOCK_N * D, cols, BLOCK_N, dims, D, D, dctx)


@triton.jit
def _bwd_rows_kernel(
    c_ptr, q_ptr, wc_ptr, wm_ptr, cm_ptr, qm_ptr, s_ptr, col_max_ptr, col_inv_ptr, ctx_ptr, dctx_ptr,
    dx_ptr, ds_ptr, dc_ptr,
    T, N, D,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    """Program (t-block, b): dS tile (stored, float32) and the finished dC rows of its clips."""
    pid_t, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    rows = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_N)
    c_base, q_base, dx_base = c_ptr + b * T * D, q_ptr + b * N * D, dx_ptr + b * T * 3 * D
    ctx_base, dctx_base = ctx_ptr + b * BLOCK_N * D, dctx_ptr + b * BLOCK_N * D
    dtype = c_ptr.dtype.element_ty
    ds_r = tl.zeros((BLOCK_T, BLOCK_N), tl.float32)
    ds_c = tl.zeros((BLOCK_T, BLOCK_N), tl.float32)
    d_c = tl.zeros((BLOCK_N,), tl.float32)
    for d0 in range(0, D, BLOCK_D):
        dims = d0 + tl.arange(0, BLOCK_D)
        c = _load_tile(c_base, rows, T, dims, D, D)
        q = _load_tile(q_base, cols, N, dims, D, D)
        ctx = _load_tile(ctx_base, cols, BLOCK_N, dims, D, D)
        dctx = _load_tile(dctx_base, cols, BLOCK_N, dims, D, D)
        d_a, d_bq = _attention_grads(dx_base, rows, T, dims, D, c)
        ds_r = tl.dot(d_a.to(dtype), tl.trans(q), ds_r, input_precision=PRECISION)
        ds_r = tl.dot(d_bq.to(dtype), tl.trans(ctx.to(dtype)), ds_r, input_precision=PRECISION)
        ds_c = tl.dot(c, tl.trans(dctx.to(dtype)), ds_c, input_precision=PRECISION)
        d_c += tl.sum(ctx * dctx, axis=1)
    # The probabilities are only needed from here on (keeps them out of the first loop's registers).
    s = _load_tile(s_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N)
    word_valid = _load_valid(qm_ptr + b * N, cols, N)
    clip_valid = _load_valid(cm_ptr + b * T, rows, T)
    p_r = _row_probs(s, cols, N, word_valid)
    col_max = tl.load(col_max_ptr + b * BLOCK_N + cols)
    col_inv = tl.load(col_inv_ptr + b * BLOCK_N + cols)
    p_c = _col_probs(s, rows, T, clip_valid, col_max, col_inv)
    in_tile = (rows < T)[:, None] & (cols < N)[None, :]
    row_part = p_r * (ds_r - tl.sum(p_r * ds_r, axis=1)[:, None])
    col_part = p_c * (ds_c - d_c[None, :])
    ds = tl.where(in_tile & word_valid[None, :], row_part, 0.0) + tl.where(in_tile & clip_valid[:, None], col_part, 0.0)
    _store_tile(ds_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N, ds)

    ds_rowsum = tl.sum(ds, axis=1)
    p_r_lo, p_c_lo, ds_lo = p_r.to(dtype), p_c.to(dtype), ds.to(dtype)
    for d0 in range(0, D, BLOCK_D):
        dims = d0 + tl.arange(0, BLOCK_D)
        q = _load_tile(q_base, cols, N, dims, D, D)
        ctx = _load_tile(ctx_base, cols, BLOCK_N, dims, D, D).to(dtype)
        dctx = _load_tile(dctx_base, cols, BLOCK_N, dims, D, D).to(dtype)
        d_ca = _load_tile(dx_base + D, rows, T, dims, D, 3 * D).to(tl.float32)
        d_cb = _load_tile(dx_base + 2 * D, rows, T, dims, D, 3 * D).to(tl.float32)
        w_c = tl.load(wc_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
        w_m = tl.load(wm_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
        a = tl.dot(p_r_lo, q, input_precision=PRECISION).to(dtype).to(tl.float32)  # A, Bq recomputed
        bq = tl.dot(p_r_lo, ctx, input_precision=PRECISION).to(dtype).to(tl.float32)
        dc = d_ca * a + d_cb * bq + tl.dot(p_c_lo, dctx, input_precision=PRECISION)
        dc += ds_rowsum[:, None] * w_c[None, :] + tl.dot(ds_lo, q, input_precision=PRECISION) * w_m[None, :]
        _store_tile(dc_ptr + b * T * D, rows, T, dims, D, D, dc.to(dtype))


@triton.jit
def _bwd_query_kernel(
    c_ptr, q_ptr, wq_ptr, wm_ptr, ds_ptr, dq_att_ptr, dq_ptr, dw_ptr,
    B, T, N, D,
    BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    """Program (d-chunk, b): dQ[:, chunk] and this sample's dw_c, dw_q, dw_m (stored (3, B, d), float32)."""
    pid_d, b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    dims = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    dtype = c_ptr.dtype.element_ty
    ds_t_c = tl.zeros((BLOCK_N, BLOCK_D), tl.float32)  # dSᵀ C
    dw_c = tl.zeros((BLOCK_D,), tl.float32)
    ds_colsum = tl.zeros((BLOCK_N,), tl.float32)
    for t0 in range(0, T, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        ds = _load_tile(ds_ptr + b * T * BLOCK_N, rows, T, cols, BLOCK_N, BLOCK_N)
        c = _load_tile(c_ptr + b * T * D, rows, T, dims, D, D)
        ds_t_c = tl.dot(tl.trans(ds.to(dtype)), c, ds_t_c, input_precision=PRECISION)
        dw_c += tl.sum(tl.sum(ds, axis=1)[:, None] * c.to(tl.float32), axis=0)
        ds_colsum += tl.sum(ds, axis=0)
    q = _load_tile(q_ptr + b * N * D, cols, N, dims, D, D).to(tl.float32)
    w_q = tl.load(wq_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
    w_m = tl.load(wm_ptr + dims, mask=dims < D, other=0.0).to(tl.float32)
    dq = _load_tile(dq_att_ptr + b * BLOCK_N * D, cols, BLOCK_N, dims, D, D)
    dq += ds_colsum[:, None] * w_q[None, :] + ds_t_c * w_m[None, :]
    _store_tile(dq_ptr + b * N * D, cols, N, dims, D, D, dq.to(dtype))
    dw_base = dw_ptr + b * D + dims  # (3, B, D): dw_c, dw_q, dw_m
    tl.store(dw_base, dw_c, mask=dims < D)
    tl.store(dw_base + B * D, tl.sum(ds_colsum[:, None] * q, axis=0), mask=dims < D)
    tl.store(dw_base + 2 * B * D, tl.sum(q * ds_t_c, axis=0), mask=dims < D)


# ---------------------------------------------------------------------------------------------------------
# Launchers (contiguous tensors in; see the module docstring for layouts)
# ---------------------------------------------------------------------------------------------------------


class Tiles(NamedTuple):
    t: int
    n: int
    d: int


class ForwardState(NamedTuple):
    """What the forward leaves for the backward (float32 workspaces)."""

    scores: torch.Tensor  # S (B, T, BLOCK_N)
    col_max: torch.Tensor  # (B, BLOCK_N)
    col_inv_sum: torch.Tensor  # (B, BLOCK_N)
    word_context: torch.Tensor  # M = S_cᵀ C (B, BLOCK_N, d)


def tiles_for(T: int, N: int, D: int) -> Tiles:
    def fit(n: int, cap: int | None) -> int:
        size = max(MIN_DOT, triton.next_power_of_2(n))
        return size if cap is None else min(cap, size)

    return Tiles(t=fit(T, MAX_BLOCK_T), n=fit(N, None), d=fit(D, MAX_BLOCK_D))


def _meta(tiles: Tiles, kernel: str, dtype: torch.dtype) -> dict:
    return dict(
        BLOCK_T=tiles.t, BLOCK_N=tiles.n, BLOCK_D=tiles.d, PRECISION=dot_precision(dtype),
        num_warps=NUM_WARPS[kernel], num_stages=NUM_STAGES,
    )


def cqa_forward(
    video: torch.Tensor, query: torch.Tensor, video_valid: torch.Tensor, query_valid: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor,
) -> tuple[torch.Tensor, ForwardState]:
    """X = [A | C⊙A | C⊙Bq] (B, T, 3d) in the input dtype, plus the state the backward needs."""
    B, T, D = video.shape
    N = query.shape[1]
    tiles = tiles_for(T, N, D)
    n_t, n_d = triton.cdiv(T, tiles.t), triton.cdiv(D, tiles.d)
    f32 = dict(device=video.device, dtype=torch.float32)
    scores = torch.empty(B, T, tiles.n, **f32)
    blk_max, blk_sum = torch.empty(2, B, n_t, tiles.n, **f32)
    col_max, col_inv = torch.empty(2, B, tiles.n, **f32)
    ctx = torch.empty(B, tiles.n, D, **f32)
    x = torch.empty(B, T, 3 * D, device=video.device, dtype=video.dtype)
    meta = functools.partial(_meta, tiles, dtype=video.dtype)
    launch(_scores_kernel, (n_t, B), (video, query, w_c, w_q, w_m, video_valid, scores, blk_max, blk_sum, T, N,
                                      D, n_t), meta("scores"))
    launch(_column_kernel, (n_d, B), (video, video_valid, scores, blk_max, blk_sum, col_max, col_inv, ctx, T, D,
                                      n_t), meta("column"))
    launch(_rows_kernel, (n_t, B), (video, query, query_valid, scores, ctx, x, T, N, D), meta("rows"))
    return x, ForwardState(scores, col_max, col_inv, ctx)


def cqa_backward(
    grad_x: torch.Tensor, video: torch.Tensor, query: torch.Tensor, video_valid: torch.Tensor,
    query_valid: torch.Tensor, w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor, state: ForwardState,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dC (B, T, d), dQ (B, N, d) in the input dtype and per-sample dw (3, B, d) float32 [dw_c, dw_q, dw_m]."""
    B, T, D = video.shape
    N = query.shape[1]
    tiles = tiles_for(T, N, D)
    n_t, n_d = triton.cdiv(T, tiles.t), triton.cdiv(D, tiles.d)
    f32 = dict(device=video.device, dtype=torch.float32)
    dq_att, dctx = torch.empty(2, B, tiles.n, D, **f32)
    ds = torch.empty(B, T, tiles.n, **f32)
    dw = torch.empty(3, B, D, **f32)
    d_video, d_query = torch.empty_like(video), torch.empty_like(query)
    meta = functools.partial(_meta, tiles, dtype=video.dtype)
    launch(_bwd_column_kernel, (n_d, B), (video, query_valid, state.scores, grad_x, dq_att, dctx, T, N, D),
           meta("bwd_column"))
    launch(_bwd_rows_kernel, (n_t, B), (
        video, query, w_c, w_m, video_valid, query_valid, state.scores, state.col_max, state.col_inv_sum,
        state.word_context, dctx, grad_x, ds, d_video, T, N, D), meta("bwd_rows"))
    launch(_bwd_query_kernel, (n_d, B), (video, query, w_q, w_m, ds, dq_att, d_query, dw, B, T, N, D),
           meta("bwd_query"))
    return d_video, d_query, dw
