"""Fused MS-LSTM: autograd op over the Triton kernels, a drop-in for :func:`ms_lstm_reference`.

Design (docs/design.md §2.1, §8.3):

* **Input projection** for every frame, scale and direction of an encoder is one batched GEMM outside the
  recurrence: ``gates = x_e @ W_ih_stack^T + (b_ih + b_hh)`` -> (E, B, T, S*2*4H) (``torch.baddbmm``,
  cuBLAS).  The recurrent kernel reads the gates of frame t of a weight set with strides; no gather copies.
* **Recurrence**: one launch for all E x S x 2 weight sets; the ``s`` sub-sequences of every sample are
  separate sequences addressed by stride (see :mod:`.kernel`).  Critical path: T steps for stride 1 (T/s for
  stride s).  Two designs behind the same tensors, picked per call (``recurrence``, :data:`RECURRENCES`):
  "v1" (:mod:`.kernel`, the "triton" backend): grid (weight set, block of 16 sequences), c in fp32
  registers, h_t straight into the output and re-read in K-chunks as h_{t-1}, W_hh tiles streamed from L2
  every step.  "v2" (:mod:`.resident`, the "triton-v2" backend): a group of programs per weight set splits
  the hidden units, each keeps its slice of W_hh on chip for all steps and the group exchanges h_t through
  L2 with a per-group counter; v1 runs instead when the group cannot be co-resident on the device.
* **Saved for backward** (no recompute): the activated gates i, f, g, o (they overwrite the projected gates in
  place) and c in fp32 -- for fp16 / bf16 too: the backward differentiates ``1 - f``, ``1 - g^2``, ``1 - o``,
  which a bf16 gate near 1 would round to 0 or to a multiple of 2^-8 --, and the output y (= h).  Under
  ``torch.no_grad`` / inference mode (or with nothing requiring grad) nothing is stored or saved.
* **Backward**: one launch runs BPTT for all weight sets (reverse visit order), writing pre-activation gate
  grads dG (E, B, T, S*2*4H).  Then ``dx = dG @ W_ih`` (cuBLAS bmm), ``dW_ih = dG^T x`` and
  ``dW_hh = dG^T h_{t-1}`` (one Triton launch each, fp32 accumulation and fp32 output; h_{t-1} is y read
  at the frame +-s in place) and ``db = sum dG`` in fp32.
* Launches (none depends on T, S or E): forward = 1 Triton + 1 cuBLAS baddbmm + 7 small torch ops (stack x,
  cat W_ih, stack W_hh, 2 cats + add for the biases, lengths to int32, zero y; plus dtype casts when the
  parameters' dtype differs from the compute dtype, and the gates' cast to fp32 when an fp16 / bf16 call saves
  for backward); backward = 3 Triton (BPTT, dW_ih, dW_hh) + 1 cuBLAS bmm
  (dx) + zeroing dG + 1 sum (db) + the stack of the E output grads.  v2 with groups of G > 1 programs adds
  the zeroing of its group counters to each recurrence launch, and one host sync to read its error flag.

Precision, dtypes and autocast follow :mod:`kernels.policy` (fp16 / bf16 / fp32; fp64 only under
``TRITON_INTERPRET=1``, for gradcheck).  Weight gradients are accumulated and returned in fp32 (cast to the
parameter's dtype).

Limits (:func:`kernels.policy.ms_lstm_limits`): hidden size H <= 256, the same H and the same number of scales
for all encoders, parameters on the inputs' device.  Any D, B, T.

Status: parity and gradcheck pass under ``TRITON_INTERPRET=1``; the kernels compile offline for sm_80 / sm_90
(ptxas: no register spill up to H = 256 in fp16 / bf16 on sm_90, ~100-400 B of spill at H = 256 in fp32 and in
bf16 on sm_80).  Not yet run or timed on a GPU: block sizes in :func:`kernel._recurrent_config` are untuned.
v2 likewise: parity and gradcheck under the interpreter (one program per group), offline sm_90 compile (see
:mod:`.resident`); the group barrier (G > 1) has never run -- hence an explicit opt-in ("triton-v2").

FLOPs: :func:`kernels.policy.ms_lstm_flops`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from kernels.ms_lstm import kernel, resident
from kernels.ms_lstm.kernel import frame_weight_grad
from kernels.policy import accumulation_dtype, compute_dtype


@dataclass(frozen=True)
class Recurrence:
    """The recurrent kernels of the op: ``forward(gates, w_hh, lengths, y, cell, num_scales, save)`` and
    ``backward(gates, cell, dy, w_hh, lengths, dgates, num_scales)``, in place, same tensors for every design."""

    forward: Callable[..., None]
    backward: Callable[..., None]


RECURRENCES = {
    "v1": Recurrence(kernel.lstm_forward, kernel.lstm_backward),  # streamed W_hh, one program per 16 sequences
    "v2": Recurrence(resident.lstm_forward, resident.lstm_backward),  # resident W_hh, groups; v1 where none fits
}


def _recurrence(recurrence: str | Recurrence) -> Recurrence:
    if isinstance(recurrence, Recurrence):
        return recurrence
    try:
        return RECURRENCES[recurrence]
    except KeyError:
        raise ValueError(f"ms_lstm: recurrence must be one of {tuple(RECURRENCES)}, got {recurrence!r}") from None


class MsLstmFunction(torch.autograd.Function):
    """y (E, B, T, S*2H) = MS-LSTM of x (E, B, T, D) with stacked parameters (see :func:`ms_lstm_triton`)."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, lengths: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
        b_ih: torch.Tensor, b_hh: torch.Tensor, num_scales: int, dtype: torch.dtype, save: bool,
        recurrence: str | Recurrence = "v1",
    ) -> torch.Tensor:
        E, B, T, D = x.shape
        recurrence = _recurrence(recurrence)
        hidden = w_hh.shape[-1]
        with torch.autocast(x.device.type, enabled=False):
            x_c = x.to(dtype).contiguous()
            w_ih_c, w_hh_c = w_ih.to(dtype), w_hh.to(dtype).contiguous()
            bias = (b_ih + b_hh).to(dtype).unsqueeze(1)
            gates = torch.baddbmm(bias, x_c.view(E, B * T, D), w_ih_c.transpose(1, 2))
            gates = gates.view(E, B, T, -1)
            if save and gates.dtype != accumulation_dtype(dtype):
                gates = gates.to(accumulation_dtype(dtype))  # the activations the backward differentiates: fp32
            y = torch.zeros(E, B, T, num_scales * 2 * hidden, device=x.device, dtype=dtype)
            cell = torch.empty(y.shape if save else 0, device=x.device, dtype=accumulation_dtype(dtype))
            recurrence.forward(gates, w_hh_c, lengths, y, cell, num_scales, save)
        if save:
            ctx.save_for_backward(x_c, lengths, w_ih_c, w_hh_c, gates, cell, y)
            ctx.num_scales = num_scales
            ctx.recurrence = recurrence
            ctx.input_dtypes = (x.dtype, w_ih.dtype, w_hh.dtype, b_ih.dtype)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_c, lengths, w_ih_c, w_hh_c, gates, cell, y = ctx.saved_tensors
        E, B, T, D = x_c.shape
        x_dtype, w_ih_dtype, w_hh_dtype, bias_dtype = ctx.input_dtypes
        need_x, _, need_w_ih, need_w_hh, need_b_ih, need_b_hh = ctx.needs_input_grad[:6]
        dx = dw_ih = dw_hh = db = None
        with torch.autocast(x_c.device.type, enabled=False):
            dgates = torch.zeros(gates.shape, device=gates.device, dtype=x_c.dtype)  # padding frames keep dG = 0
            ctx.recurrence.backward(gates, cell, dy.to(y.dtype).contiguous(), w_hh_c, lengths, dgates, ctx.num_scales)
            if need_x:
                dx = torch.bmm(dgates.view(E, B * T, -1), w_ih_c).view(E, B, T, D).to(x_dtype)
            if need_w_ih:
                dw_ih = frame_weight_grad(dgates, x_c, sets_per_encoder=1, shift_by_scale=False).to(w_ih_dtype)
            if need_w_hh:
                dw_hh = frame_weight_grad(dgates, y, sets_per_encoder=2 * ctx.num_scales, shift_by_scale=True)
                dw_hh = dw_hh.to(w_hh_dtype)
            if need_b_ih or need_b_hh:
                db = dgates.sum(dim=(1, 2), dtype=accumulation_dtype(gates.dtype)).to(bias_dtype)
        # b_ih and b_hh get separate tensors: aliased .grad storage would be scaled twice by in-place
        # clip_grad_norm_ / GradScaler.unscale_
        return dx, None, dw_ih, dw_hh, db, None if db is None else db.clone(), None, None, None, None


def ms_lstm_triton(
    xs: Sequence[torch.Tensor], lengths: torch.Tensor, encoders: Sequence[Sequence[nn.LSTM]],
    recurrence: str | Recurrence = "v1",
) -> list[torch.Tensor]:
    """Same contract as :func:`kernels.multi_scale_lstm`, all encoders in one launch set; the arguments are
    already checked against the op's limits (:func:`kernels.policy.ms_lstm_limits`).  ``recurrence``: a name of
    :data:`RECURRENCES` ("v1" streamed, "v2" resident weights) or a :class:`Recurrence`.

    Parameters are stacked per call (differentiably, so gradients reach every ``nn.LSTM`` parameter):
    ``w_ih`` (E, S*2*4H, D) and ``b_ih``, ``b_hh`` (E, S*2*4H) in [s=1 fwd | s=1 reverse | s=2 fwd | ...] order,
    ``w_hh`` (E*S*2, 4H, H) in the same order.
    """
    E, num_scales = len(encoders), len(encoders[0])
    lstms = [lstm for lstm_list in encoders for lstm in lstm_list]
    x = torch.stack(list(xs))
    w_ih = torch.cat([w for m in lstms for w in (m.weight_ih_l0, m.weight_ih_l0_reverse)]).view(E, -1, x.shape[-1])
    w_hh = torch.stack([w for m in lstms for w in (m.weight_hh_l0, m.weight_hh_l0_reverse)])
    b_ih = torch.cat([b for m in lstms for b in (m.bias_ih_l0, m.bias_ih_l0_reverse)]).view(E, -1)
    b_hh = torch.cat([b for m in lstms for b in (m.bias_hh_l0, m.bias_hh_l0_reverse)]).view(E, -1)
    lengths = lengths.to(device=x.device, dtype=torch.int32).contiguous()
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (x, w_ih, w_hh, b_ih, b_hh))
    y = MsLstmFunction.apply(x, lengths, w_ih, w_hh, b_ih, b_hh, num_scales, compute_dtype(xs[0]), save,
                             _recurrence(recurrence))
    return list(y.unbind(0))
