"""Numerical parity: the error measure, the tolerances (docs/design.md §8.5), the perturbation that proves they bite.

Error of a tensor ``got`` against ``want``: ``max|got - want| / max|want|`` (norm-wise relative error in
the max norm; element-wise relative error is meaningless where the reference crosses zero).  Over a
list of tensors (all outputs, or all gradients) the worst tensor counts, and each tensor's scale is at
least ``SCALE_FLOOR`` times the largest magnitude of the list: a gradient that is mathematically zero
(a bias before a softmax, whose outputs do not depend on it) holds only rounding noise, and that noise
must not be compared with itself.  A NaN or Inf anywhere makes the error NaN, and NaN never passes.

Tolerances (docs/design.md §8.5): fp32 1e-5 with TF32 off, 1e-3 with TF32 on; fp16 / bf16 1e-2; gradients alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

FP32_TOL = 1e-5
FP32_TF32_TOL = 1e-3
HALF_TOL = 1e-2
SCALE_FLOOR = 1e-3  # relative to the largest magnitude among the tensors compared together


def tolerance(dtype: torch.dtype, tf32: bool = False) -> float:
    if dtype in (torch.float16, torch.bfloat16):
        return HALF_TOL
    if dtype in (torch.float32, torch.float64):
        return FP32_TF32_TOL if tf32 else FP32_TOL
    raise ValueError(f"no parity tolerance for dtype {dtype}")


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


def max_rel_err(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor]) -> float | None:
    """Worst :func:`rel_err` over paired tensors (NaN wins); None for empty lists."""
    if len(got) != len(want):
        raise ValueError(f"parity: {len(got)} tensors against the reference's {len(want)}")
    floor = SCALE_FLOOR * max((_max_abs(w.float()) for w in want), default=0.0)
    errs = [rel_err(g, w, floor) for g, w in zip(got, want, strict=True)]
    if not errs:
        return None
    return math.nan if any(math.isnan(e) for e in errs) else max(errs)


def passes(err: float | None, tol: float) -> bool:
    return err is None or (not math.isnan(err) and err <= tol)


def perturb_(module: nn.Module, rel: float) -> str:
    """Scale the first trainable weight matrix of ``module`` by ``1 + rel`` in place; returns its name.

    The bench's ``--perturb`` applies this to the copy a candidate variant runs with, so the parity
    table has something it must catch.
    """
    for name, param in module.named_parameters():
        if param.requires_grad and param.dim() >= 2:
            with torch.no_grad():
                param.mul_(1.0 + rel)
            return name
    raise ValueError(f"perturb: {type(module).__name__} has no trainable weight matrix")
