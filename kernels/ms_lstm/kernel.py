"""Triton kernels of the strided multi-scale bidirectional LSTM (recurrence forward, BPTT, weight grads).

Indexing shared by every kernel (all tensors contiguous, batch-first):

* ``E`` encoders x ``S`` scales x 2 directions = ``W`` weight sets, ``w = (e * S + s - 1) * 2 + dir``;
  ``slot = w % 2S`` is the set's column block inside its encoder.
* Frame rows: ``row = (e * B + b) * T + t`` flattens (encoder, sample, frame).
* ``gates`` (E, B, T, S*2*4H): per slot the i, f, g, o blocks of nn.LSTM (x W_ih^T + b_ih + b_hh on
  entry, the activated gates after the forward); ``y`` (E, B, T, S*2H) the hidden states (the op's
  output, zero on padding); ``cell`` (E, B, T, S*2H) the cell states in the accumulation dtype.
* Weight set of stride ``s`` owns ``B * s`` sequences ``q``: sample ``b = q // s``, offset ``j = q % s``,
  ``n_q = ceil((L_b - j) / s)`` steps (0 when ``L_b <= j``).  Visit ``k`` (0-based, in the direction's
  order) is frame ``j + k*s`` forward and ``j + (n_q-1-k)*s`` in reverse; the previous visit is the
  frame ``-s`` (forward) or ``+s`` (reverse) away.  Every row is active for a prefix of the visits, so a
  program loops ``max n_q`` times and no state needs freezing.

Limits: ``H <= 256`` (the four (BLOCK_B, H) gate accumulators live in registers), any ``D``;
fp16 / bf16 / fp32 operands with fp32 accumulation (fp64 with fp64 accumulation for gradcheck).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.device_fit import launch
from kernels.policy import accumulation_dtype, dot_precision

BLOCK_B = 16  # sequences per program: the smallest tl.dot M, so the most programs for small batches
FRAME_GRAD_STAGES = 3  # Triton's default pipelining depth for the weight-gradient GEMM (fewer where it does not fit)


@triton.jit
def _tanh(x):
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def _set_sequences(w, first_q, len_ptr, B, T, NUM_SCALES: tl.constexpr, BLOCK_B: tl.constexpr):
    """Sequences ``first_q + [0, BLOCK_B)`` of weight set w -> (slot, stride, direction, n_q, first row)."""
    e = w // (2 * NUM_SCALES)
    slot = w % (2 * NUM_SCALES)
    stride = slot // 2 + 1
    direction = slot % 2
    q = first_q + tl.arange(0, BLOCK_B)
    in_range = q < B * stride
    b = tl.where(in_range, q // stride, 0)
    j = q % stride
    length = tl.minimum(tl.maximum(tl.load(len_ptr + b, mask=in_range, other=0), 0), T)  # unchecked device lengths
    n_q = tl.where(in_range, (length - j + stride - 1) // stride, 0)  # numerator >= 0 as j < stride
    seq_row0 = (e * B + b).to(tl.int64) * T + j  # row of the sequence's frame j
    return slot, stride, direction, n_q, seq_row0


@triton.jit
def _program_sequences(len_ptr, B, T, NUM_SCALES: tl.constexpr, BLOCK_B: tl.constexpr):
    """This program's weight set and block of sequences -> (w, slot, stride, direction, n_q, first row)."""
    w = tl.program_id(0)
    slot, stride, direction, n_q, seq_row0 = _set_sequences(
        w, tl.program_id(1) * BLOCK_B, len_ptr, B, T, NUM_SCALES, BLOCK_B)
    return w, slot, stride, direction, n_q, seq_row0


@triton.jit
def _visit_rows(k, active, n_q, stride, direction, seq_row0):
    """Rows of visit k (per sequence) and of the visit before it; has_prev is False at k = 0."""
    pos = tl.where(direction == 0, k, n_q - 1 - k)
    row = seq_row0 + tl.where(active, pos, 0).to(tl.int64) * stride
    has_prev = active & (k > 0)
    prev_row = tl.where(has_prev, row + (2 * direction - 1) * stride, row)  # frame -s fwd, +s reverse
    return row, prev_row, has_prev


@triton.jit
def _load_gates(g_ptrs, tile_ok, H, ACC: tl.constexpr):
    """The four gate tiles i, f, g, o of a visit (``g_ptrs`` points at gate i; the others follow H apart)."""
    i = tl.load(g_ptrs, mask=tile_ok, other=0.0).to(ACC)
    f = tl.load(g_ptrs + H, mask=tile_ok, other=0.0).to(ACC)
    g = tl.load(g_ptrs + 2 * H, mask=tile_ok, other=0.0).to(ACC)
    o = tl.load(g_ptrs + 3 * H, mask=tile_ok, other=0.0).to(ACC)
    return i, f, g, o


@triton.jit
def _store_gates(g_ptrs, tile_ok, H, i, f, g, o):
    """Store four gate tiles in the layout :func:`_load_gates` reads, cast to the buffer's dtype."""
    dt = g_ptrs.dtype.element_ty
    tl.store(g_ptrs, i.to(dt), mask=tile_ok)
    tl.store(g_ptrs + H, f.to(dt), mask=tile_ok)
    tl.store(g_ptrs + 2 * H, g.to(dt), mask=tile_ok)
    tl.store(g_ptrs + 3 * H, o.to(dt), mask=tile_ok)


@triton.jit
def _cell_forward(acc_i, acc_f, acc_g, acc_o, c):
    """One LSTM step from the pre-activation gates: i, f, o = sigmoid, g = tanh, ``c' = f*c + i*g``,
    ``h = o*tanh(c')`` -> (i, f, g, o, c', h)."""
    gi = tl.sigmoid(acc_i)
    gf = tl.sigmoid(acc_f)
    gg = _tanh(acc_g)
    go = tl.sigmoid(acc_o)
    c = gf * c + gi * gg
    return gi, gf, gg, go, c, go * _tanh(c)


@triton.jit
def _cell_backward(dh, dc_next, gi, gf, gg, go, c, c_prev):
    """BPTT through one step: ``dc = dc_next + dh*o*(1 - tanh(c)^2)`` -> (the dc_next of the step before,
    ``dc * f``; the pre-activation gate grads [dc*g*i(1-i), dc*c_prev*f(1-f), dc*i*(1-g^2), dh*tanh(c)*o(1-o)])."""
    tanh_c = _tanh(c)
    dc = dc_next + dh * go * (1.0 - tanh_c * tanh_c)
    return (dc * gf, dc * gg * gi * (1.0 - gi), dc * c_prev * gf * (1.0 - gf), dc * gi * (1.0 - gg * gg),
            dh * tanh_c * go * (1.0 - go))


@triton.jit
def ms_lstm_forward_kernel(
    gates_ptr, w_hh_ptr, y_ptr, cell_ptr, len_ptr, B, T,
    NUM_SCALES: tl.constexpr, H: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr, SAVE: tl.constexpr,
):
    """Recurrence of every weight set: grid (W, cdiv(B*S, BLOCK_B)).

    Per visit: ``a = gates_x[t] + h_prev @ W_hh^T`` (4 fp32 (BLOCK_B, H) accumulators, W_hh (W, 4H, H)
    streamed in (BLOCK_K, H) tiles, h_prev re-read from ``y`` in K-chunks), ``c = f*c + i*g`` (c kept in
    registers), ``h = o*tanh(c)`` stored into ``y``.  With SAVE the activated gates overwrite ``gates``
    and c goes to ``cell`` for the backward.
    """
    G_ROW: tl.constexpr = NUM_SCALES * 8 * H
    Y_ROW: tl.constexpr = NUM_SCALES * 2 * H
    w, slot, stride, direction, n_q, seq_row0 = _program_sequences(len_ptr, B, T, NUM_SCALES, BLOCK_B)
    n = tl.arange(0, BLOCK_H)
    n_ok = n < H
    kk0 = tl.arange(0, BLOCK_K)
    w_base = w_hh_ptr + w.to(tl.int64) * (4 * H * H)
    gate_col = slot * 4 * H
    y_col = slot * H
    c = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    for k in range(0, tl.max(n_q, axis=0)):
        active = k < n_q
        row, prev_row, has_prev = _visit_rows(k, active, n_q, stride, direction, seq_row0)
        tile_ok = active[:, None] & n_ok[None, :]
        g_ptrs = gates_ptr + row[:, None] * G_ROW + gate_col + n[None, :]
        acc_i, acc_f, acc_g, acc_o = _load_gates(g_ptrs, tile_ok, H, ACC)
        for k0 in range(0, H, BLOCK_K):
            kk = k0 + kk0
            h_prev = tl.load(y_ptr + prev_row[:, None] * Y_ROW + y_col + kk[None, :],
                             mask=has_prev[:, None] & (kk < H)[None, :], other=0.0)
            w_ptrs = w_base + n[None, :] * H + kk[:, None]  # W_hh[gate*H + n, kk] as a (BLOCK_K, BLOCK_H) tile
            w_ok = (kk < H)[:, None] & n_ok[None, :]
            acc_i = tl.dot(h_prev, tl.load(w_ptrs, mask=w_ok, other=0.0), acc_i,
                           input_precision=PRECISION, out_dtype=ACC)
            acc_f = tl.dot(h_prev, tl.load(w_ptrs + H * H, mask=w_ok, other=0.0), acc_f,
                           input_precision=PRECISION, out_dtype=ACC)
            acc_g = tl.dot(h_prev, tl.load(w_ptrs + 2 * H * H, mask=w_ok, other=0.0), acc_g,
                           input_precision=PRECISION, out_dtype=ACC)
            acc_o = tl.dot(h_prev, tl.load(w_ptrs + 3 * H * H, mask=w_ok, other=0.0), acc_o,
                           input_precision=PRECISION, out_dtype=ACC)
        gi, gf, gg, go, c, h = _cell_forward(acc_i, acc_f, acc_g, acc_o, c)
        tl.store(y_ptr + row[:, None] * Y_ROW + y_col + n[None, :], h.to(y_ptr.dtype.element_ty), mask=tile_ok)
        if SAVE:
            tl.store(cell_ptr + row[:, None] * Y_ROW + y_col + n[None, :], c, mask=tile_ok)
            _store_gates(g_ptrs, tile_ok, H, gi, gf, gg, go)
        tl.debug_barrier()  # h of this visit, written by other threads, is read as h_prev by the next


@triton.jit
def ms_lstm_backward_kernel(
    gates_ptr, cell_ptr, dy_ptr, w_hh_ptr, dgates_ptr, len_ptr, B, T,
    NUM_SCALES: tl.constexpr, H: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
):
    """BPTT of every weight set, same grid as the forward, visits in reverse order.

    ``dh = dy_t + dh_rec``; ``dc = dc_next + dh*o*(1 - tanh(c)^2)`` (dc_next = dc_{t+1} * f_{t+1});
    pre-activation gate grads ``dG = [dc*g*i(1-i), dc*c_prev*f(1-f), dc*i*(1-g^2), dh*tanh(c)*o(1-o)]``
    are stored to ``dgates`` (same layout as ``gates``), then re-read in K-chunks for
    ``dh_rec = dG @ W_hh`` with W_hh tiles (BLOCK_K, H) streamed.  dh_rec and dc stay in registers.
    """
    G_ROW: tl.constexpr = NUM_SCALES * 8 * H
    Y_ROW: tl.constexpr = NUM_SCALES * 2 * H
    w, slot, stride, direction, n_q, seq_row0 = _program_sequences(len_ptr, B, T, NUM_SCALES, BLOCK_B)
    n = tl.arange(0, BLOCK_H)
    n_ok = n < H
    kk0 = tl.arange(0, BLOCK_K)
    w_base = w_hh_ptr + w.to(tl.int64) * (4 * H * H)
    gate_col = slot * 4 * H
    y_col = slot * H
    dh_rec = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    dc_next = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    for it in range(0, tl.max(n_q, axis=0)):
        active = it < n_q
        k = n_q - 1 - it
        row, prev_row, has_prev = _visit_rows(k, active, n_q, stride, direction, seq_row0)
        tile_ok = active[:, None] & n_ok[None, :]
        gi, gf, gg, go = _load_gates(gates_ptr + row[:, None] * G_ROW + gate_col + n[None, :], tile_ok, H, ACC)
        c = tl.load(cell_ptr + row[:, None] * Y_ROW + y_col + n[None, :], mask=tile_ok, other=0.0)
        c_prev = tl.load(cell_ptr + prev_row[:, None] * Y_ROW + y_col + n[None, :],
                         mask=has_prev[:, None] & n_ok[None, :], other=0.0)
        dh = tl.load(dy_ptr + row[:, None] * Y_ROW + y_col + n[None, :], mask=tile_ok, other=0.0).to(ACC) + dh_rec
        dc_next, dgi, dgf, dgg, dgo = _cell_backward(dh, dc_next, gi, gf, gg, go, c, c_prev)
        _store_gates(dgates_ptr + row[:, None] * G_ROW + gate_col + n[None, :], tile_ok, H, dgi, dgf, dgg, dgo)
        tl.debug_barrier()  # dG of this visit, written by other threads, is re-read in K-chunks below
        dh_rec = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
        for gate in tl.static_range(4):
            for k0 in range(0, H, BLOCK_K):
                kk = k0 + kk0
                dg = tl.load(dgates_ptr + row[:, None] * G_ROW + gate_col + gate * H + kk[None, :],
                             mask=active[:, None] & (kk < H)[None, :], other=0.0)
                w_tile = tl.load(w_base + (gate * H + kk)[:, None] * H + n[None, :],
                                 mask=(kk < H)[:, None] & n_ok[None, :], other=0.0)
                dh_rec = tl.dot(dg, w_tile, dh_rec, input_precision=PRECISION, out_dtype=ACC)


@triton.jit
def frame_weight_grad_kernel(
    dgates_ptr, src_ptr, out_ptr, B, T, G_ROW, SRC_ROW, M, N,
    SETS_PER_ENCODER: tl.constexpr, SHIFT_BY_SCALE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr, ACC: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """``out[w, m, n] = sum_{b, t} dG[e, b, t, slot*M + m] * src[e, b, t + shift, slot*N + n]`` (0 outside [0, T)).

    Grid (E * SETS_PER_ENCODER, cdiv(M, BLOCK_M), cdiv(N, BLOCK_N)); reduction over the B*T frame rows.
    dW_ih: one set per encoder, src = x, shift 0.  dW_hh: 2S sets per encoder, src = y, shift = the
    previous visit's frame offset (-s forward, +s reverse), so src is h_{t-1} read in place (y is zero on
    padding, where dG is zero too).  out is in ACC (fp32): the weight grads never round to fp16/bf16.
    """
    w = tl.program_id(0)
    e = w // SETS_PER_ENCODER
    slot = w % SETS_PER_ENCODER
    shift = 0
    if SHIFT_BY_SCALE:
        shift = (slot // 2 + 1) * (2 * (slot % 2) - 1)
    m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    nn = tl.program_id(2) * BLOCK_N + tl.arange(0, BLOCK_N)
    r0 = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for start in range(0, B * T, BLOCK_R):
        r = start + r0
        t = r % T
        src_t = t + shift
        r_ok = r < B * T
        src_ok = r_ok & (src_t >= 0) & (src_t < T)
        row = e.to(tl.int64) * B * T + r
        src_row = tl.where(src_ok, row + shift, row)
        dg = tl.load(dgates_ptr + row[None, :] * G_ROW + slot * M + m[:, None],
                     mask=r_ok[None, :] & (m < M)[:, None], other=0.0)
        src = tl.load(src_ptr + src_row[:, None] * SRC_ROW + slot * N + nn[None, :],
                      mask=src_ok[:, None] & (nn < N)[None, :], other=0.0)
        acc = tl.dot(dg, src, acc, input_precision=PRECISION, out_dtype=ACC)
    out_ptrs = out_ptr + w.to(tl.int64) * M * N + m[:, None] * N + nn[None, :]
    tl.store(out_ptrs, acc, mask=(m < M)[:, None] & (nn < N)[None, :])


def _tl_dtype(dtype: torch.dtype) -> tl.dtype:
    return tl.float64 if dtype == torch.float64 else tl.float32


def _recurrent_config(hidden: int) -> dict[str, int]:
    """Block sizes of the recurrent kernels: 8 warps and 3 pipeline stages of the W_hh K-chunks at H = 256, chosen
    for fewer registers and no spill in the offline compile report (``python -m compile_report``; its figures:
    bench/results/compile-sm90/report.md)."""
    block_h = max(16, triton.next_power_of_2(hidden))
    return {"BLOCK_H": block_h, "BLOCK_K": 16, "num_warps": 4 if block_h <= 32 else 8, "num_stages": 3}


def _recurrent_grid(num_sets: int, batch: int, num_scales: int) -> tuple[int, int]:
    return (num_sets, triton.cdiv(batch * num_scales, BLOCK_B))


def lstm_forward(
    gates: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor, cell: torch.Tensor,
    num_scales: int, save: bool,
) -> None:
    """Run the recurrence in place: fills ``y`` (and, with ``save``, ``cell`` and activated ``gates``).  The compute
    dtype is ``w_hh``'s; ``gates`` may be wider (fp32 for fp16 / bf16 weights: the op keeps the activations the
    backward differentiates in fp32)."""
    E, B, T, _ = gates.shape
    hidden = w_hh.shape[-1]
    launch(ms_lstm_forward_kernel, _recurrent_grid(w_hh.shape[0], B, num_scales),
           (gates, w_hh, y, cell, lengths, B, T),
           dict(NUM_SCALES=num_scales, H=hidden, BLOCK_B=BLOCK_B, ACC=_tl_dtype(w_hh.dtype),
                PRECISION=dot_precision(w_hh.dtype), SAVE=save, **_recurrent_config(hidden)))


def lstm_backward(
    gates: torch.Tensor, cell: torch.Tensor, dy: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor,
    dgates: torch.Tensor, num_scales: int,
) -> None:
    """BPTT in place: fills ``dgates`` (pre-activation gate grads, in its own dtype) on every visited frame; ``gates``
    holds the activated gates the forward saved (fp32 for fp16 / bf16 weights)."""
    E, B, T, _ = gates.shape
    hidden = w_hh.shape[-1]
    launch(ms_lstm_backward_kernel, _recurrent_grid(w_hh.shape[0], B, num_scales),
           (gates, cell, dy, w_hh, dgates, lengths, B, T),
           dict(NUM_SCALES=num_scales, H=hidden, BLOCK_B=BLOCK_B, ACC=_tl_dtype(w_hh.dtype),
                PRECISION=dot_precision(w_hh.dtype), **_recurrent_config(hidden)))


def frame_weight_grad(
    dgates: torch.Tensor, src: torch.Tensor, sets_per_encoder: int, shift_by_scale: bool
) -> torch.Tensor:
    """(E, B, T, sets*M) x (E, B, T, sets*N) -> (E*sets, M, N) in the accumulation dtype (see the kernel)."""
    E, B, T, g_row = dgates.shape
    src_row = src.shape[-1]
    M, N = g_row // sets_per_encoder, src_row // sets_per_encoder
    out = torch.empty(E * sets_per_encoder, M, N, device=dgates.device, dtype=accumulation_dtype(dgates.dtype))
    block_m, block_n = 64, max(16, min(64, triton.next_power_of_2(N)))
    grid = (E * sets_per_encoder, triton.cdiv(M, block_m), triton.cdiv(N, block_n))
    launch(frame_weight_grad_kernel, grid, (dgates, src, out, B, T, g_row, src_row, M, N),
           dict(SETS_PER_ENCODER=sets_per_encoder, SHIFT_BY_SCALE=shift_by_scale, BLOCK_M=block_m, BLOCK_N=block_n,
                BLOCK_R=32, ACC=_tl_dtype(dgates.dtype), PRECISION=dot_precision(dgates.dtype), num_warps=4,
                num_stages=FRAME_GRAD_STAGES))
    return out
