"""Kernel policy shared by every op: dtypes, precision, autocast, shape limits and FLOP counts.

Importable without Triton (the benchmark and the dispatch read limits and FLOPs from here).

* **dtypes** -- the fused kernels run fp32, fp16 and bf16 (the MS-LSTM also fp64 under ``TRITON_INTERPRET=1``,
  for ``gradcheck``); c, softmax statistics and weight gradients accumulate in fp32 (fp64 for fp64).
* **precision** -- one switch decides how fp32 ``tl.dot`` runs: torch's float32 matmul precision
  (``torch.set_float32_matmul_precision`` / ``torch.backends.cuda.matmul.allow_tf32``, which are the same
  setting): "highest" -> IEEE fp32, anything else -> TF32, as cuBLAS does for the reference.
* **autocast** -- under ``torch.autocast`` an op runs in the autocast dtype, whatever the float dtype of its
  inputs (fp64 excepted), exactly as torch's own matmuls do.
* **limits** -- what the kernels accept; ``"auto"`` falls back to the reference outside them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
AUTOCAST_ELIGIBLE = SUPPORTED_DTYPES  # float dtypes torch.autocast recasts (fp64 never)

MS_LSTM_MAX_HIDDEN = 256  # the four (block, H) gate accumulators of a program live in registers
CQA_MAX_T, CQA_MAX_N, CQA_MAX_D = 512, 32, 1024  # the word axis is one register tile; T and d are looped


def triton_interpreted() -> bool:
    """True when Triton kernels run on CPU tensors through ``TRITON_INTERPRET=1``."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 for fp16 / bf16 / fp32 operands, fp64 for fp64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision for operands of ``dtype``: "tf32" for fp32 unless torch's float32 matmul
    precision is "highest", "ieee" otherwise (fp16 / bf16 / fp64 dots are exact products anyway)."""
    tf32 = dtype == torch.float32 and torch.get_float32_matmul_precision() != "highest"
    return "tf32" if tf32 else "ieee"


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype an op runs in: the autocast dtype under ``torch.autocast`` (fp64 stays fp64), else ``x``'s."""
    if x.dtype in AUTOCAST_ELIGIBLE and torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def dtype_problem(dtype: torch.dtype, fp64_in_interpreter: bool = False) -> str | None:
    """Why a kernel cannot run in ``dtype``; ``fp64_in_interpreter``: the kernel also has an fp64 path that the
    interpreter runs (the MS-LSTM's, for gradcheck)."""
    allowed = SUPPORTED_DTYPES + ((torch.float64,) if fp64_in_interpreter and triton_interpreted() else ())
    if dtype not in allowed:
        return f"dtype {dtype} is not supported (float32, float16, bfloat16)"
    return None


# ------------------------------------------------------------------------------------------------ MS-LSTM
def ms_lstm_limits(xs: Sequence[torch.Tensor], encoders: Sequence[Sequence[nn.LSTM]]) -> str | None:
    """Why the fused MS-LSTM cannot run these (already shape-checked) arguments, or None when it can."""
    problem = dtype_problem(compute_dtype(xs[0]), fp64_in_interpreter=True)
    if problem:
        return problem
    for e, x in enumerate(xs):
        if x.dtype != xs[0].dtype:
            return f"xs[{e}] has dtype {x.dtype}, xs[0] has {xs[0].dtype} (all inputs must share one dtype)"
    num_scales, hidden = len(encoders[0]), encoders[0][0].hidden_size
    for e, lstms in enumerate(encoders):
        if len(lstms) != num_scales:
            return f"encoders[{e}] has {len(lstms)} scales, encoders[0] has {num_scales} (they must match)"
        for s, lstm in enumerate(lstms):
            if lstm.hidden_size != hidden:
                return f"encoders[{e}][{s}] has hidden size {lstm.hidden_size}, encoders[0][0] has {hidden}"
            if any(p.device != xs[0].device for p in lstm.parameters()):
                return f"encoders[{e}][{s}] has parameters off the inputs' device {xs[0].device}"
    if hidden > MS_LSTM_MAX_HIDDEN:
        return f"hidden size {hidden} exceeds the kernel's maximum {MS_LSTM_MAX_HIDDEN}"
    return None


def ms_lstm_flops(B: int, T: int, D: int, H: int, S: int, E: int, backward: bool = False) -> float:
    """Matmul FLOPs (2 per multiply-add) of the forward pass, or with ``backward=True`` of the backward alone.

    Each of the E*S*2 weight sets visits every one of the B*T frames once, ``8H(D + H)`` FLOPs per visit
    (input projection 4H x D, recurrence 4H x H); the backward does twice that (dx and dW_ih; dh and dW_hh).
    """
    forward = 16.0 * E * S * B * T * H * (D + H)
    return 2.0 * forward if backward else forward


# ------------------------------------------------------------------------------------------------ CQA
def cqa_limits(T: int, N: int, d: int, dtype: torch.dtype | None = None) -> str | None:
    """Why the fused CQA cannot take (T clips, N words, d features[, dtype]), or None when it can."""
    for name, size, cap in (("T (clips)", T, CQA_MAX_T), ("N (words)", N, CQA_MAX_N), ("d (features)", d, CQA_MAX_D)):
        if size > cap:
            return f"{name} = {size} exceeds the kernel limit of {cap}"
    return None if dtype is None else dtype_problem(dtype)


def cqa_flops(B: int, T: int, N: int, d: int, backward: bool = False) -> float:
    """Model FLOPs (2 per multiply-add) of the CQA block, d -> d projection.

    Forward: the four T x N x d contractions (bilinear scores, M = S_cᵀC, A = S_rQ, Bq = S_rM) and the
    4d -> d projection.  Backward (``backward=True``): twice the forward (two GEMMs per forward GEMM).
    Elementwise work, softmaxes, matrix-vector terms and recomputation are not counted.
    """
    forward = 2.0 * B * T * (4 * N * d + 4 * d * d)
    return 2.0 * forward if backward else forward
