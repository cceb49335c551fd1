"""The one parity rule (docs/design.md §8.5): the error measure and every tolerance the project checks against.

The kernels' one-time check (:mod:`kernels.probe`), their tests, the bench and export verification all import
from here; nothing else defines a tolerance.  ``kernels`` depends on nothing of the project, so the rule lives
in the package that needs it first.

**Measure.**  The error of ``got`` against ``want`` is ``max|got - want| / max|want|`` in float64 (norm-wise
relative error in the max norm: element-wise relative error is meaningless where the reference crosses zero).
Over a list of tensors (all outputs, or all gradients) the worst tensor counts, and each tensor's scale is at
least :data:`SCALE_FLOOR` times the largest magnitude of the list: a gradient that is mathematically zero holds
only rounding noise, and that noise must not be compared with itself.  A NaN or Inf anywhere makes the error
NaN, and NaN never passes.

**Tolerances** (outputs and gradients alike): fp32 :data:`FP32_TOL` with TF32 off, :data:`FP32_TF32_TOL` with
TF32 on; fp16 / bf16 :data:`LOW_PRECISION_TOL`.  A low-precision kernel may also be
:data:`REFERENCE_ERROR_RATIO` times less accurate than the reference's own error in that dtype (cuDNN's,
measured on the same inputs in the same run), never below :data:`LOW_PRECISION_FLOOR`
(:func:`tied_tolerance`).  Whole models and exported graphs have their own, looser bounds (below), because
their references are themselves further from exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FP32_TOL = 1e-5  # fp32 kernels, TF32 off
FP32_TF32_TOL = 1e-3  # fp32 kernels, TF32 on (CUDA)
LOW_PRECISION_TOL = 1e-2  # fp16 / bf16 kernels
SCALE_FLOOR = 1e-3  # each tensor's scale: at least this times the largest magnitude among those compared together

# fp16 / bf16: a kernel answers to the fp32 reference within this many times the reference's own error in the same
# dtype, never below bf16's unit roundoff (a baseline that rounds only once has an error near it, which no kernel
# keeping one low-precision intermediate can match; docs/design.md §8.6)
REFERENCE_ERROR_RATIO = 4.0
LOW_PRECISION_FLOOR = 2.0**-8

# Whole-model fp32 training step (TF32 off): through a whole EAMAT backward the fp32 *reference* itself is a few
# 1e-5 from a float64 run of the same model (docs/design.md §8.5), so two correct fp32 implementations may differ
# by that much.
MODEL_FP32_TOL = 1e-4

# Exported graphs (docs/design.md §9.3): absolute error on the output probabilities
EXPORT_FP32_ATOL = 1e-4  # fp32 engines
EXPORT_REDUCED_ATOL = 1e-2  # fp16 / bf16 engines (also the score margin within which a different span is a tie)

# Video features in bf16 against fp32, a whole 3D CNN deep (the video suite)
FEATURE_BF16_TOL = 5e-2

LOW_PRECISION = (torch.float16, torch.bfloat16)


def tolerance(dtype: torch.dtype, tf32: bool | None = None) -> float:
    """The kernel tolerance in ``dtype``; fp32 with TF32 when ``tf32`` (None: as torch's float32 matmul precision
    is set now -- anything but "highest" is TF32)."""
    if dtype in LOW_PRECISION:
        return LOW_PRECISION_TOL
    if dtype in (torch.float32, torch.float64):
        if tf32 is None:
            tf32 = torch.get_float32_matmul_precision() != "highest"
        return FP32_TF32_TOL if tf32 else FP32_TOL
    raise ValueError(f"no parity tolerance for dtype {dtype}")


def tied_tolerance(reference_err: float | None, documented: float | None = None) -> float:
    """The tolerance of a low-precision kernel against the fp32 oracle when the reference's own error against that
    oracle in the same dtype, in the same run, is ``reference_err``: :data:`REFERENCE_ERROR_RATIO` times it, never
    below :data:`LOW_PRECISION_FLOOR`.  When it is unknown or not a number (the reference failed), ``documented``
    (default :data:`LOW_PRECISION_TOL`) stands."""
    if reference_err is None or math.isnan(reference_err):
        return documented or LOW_PRECISION_TOL
    return max(LOW_PRECISION_FLOOR, REFERENCE_ERROR_RATIO * reference_err)


def _max_abs(t: torch.Tensor) -> float:
    return t.detach().abs().max().item() if t.numel() else 0.0


def rel_err(got: torch.Tensor, want: torch.Tensor, floor: float = 0.0) -> float:
    """``max|got - want| / max(max|want|, floor)`` in float64; NaN when either side is not finite."""
    if got.shape != want.shape:
        raise ValueError(f"parity: shape {tuple(got.shape)} does not match the reference's {tuple(want.shape)}")
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    if not (torch.isfinite(got).all() and torch.isfinite(want).all()):
        return math.nan
    scale, diff = max(_max_abs(want), floor), _max_abs(got - want)
    return diff / scale if scale > 0 else diff


def list_floor(want: Sequence[torch.Tensor]) -> float:
    """The scale floor of tensors compared together: :data:`SCALE_FLOOR` times their largest magnitude."""
    return SCALE_FLOOR * max((_max_abs(w.float()) for w in want), default=0.0)


def max_rel_err(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor]) -> float | None:
    """Worst :func:`rel_err` over paired tensors, each against :func:`list_floor` (NaN wins); None for empty lists."""
    if len(got) != len(want):
        raise ValueError(f"parity: {len(got)} tensors against the reference's {len(want)}")
    floor = list_floor(want)
    errs = [rel_err(g, w, floor) for g, w in zip(got, want, strict=True)]
    if not errs:
        return None
    return math.nan if any(math.isnan(e) for e in errs) else max(errs)


def passes(err: float | None, tol: float) -> bool:
    """``err`` within ``tol`` (None: nothing was compared); NaN never passes."""
    return err is None or (not math.isnan(err) and err <= tol)
