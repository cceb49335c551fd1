"""Argument checks that name the argument at fault (shared by the ops and the engine)."""

from __future__ import annotations

import torch


def check_tensor(
    name: str, t: object, rank: int, *, shape: tuple[int | None, ...] | None = None
) -> torch.Tensor:
    """Raise ValueError unless ``t`` is a tensor of ``rank`` dims matching ``shape`` (None = any)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != rank:
        raise ValueError(f"{name} must have {rank} dims, got shape {tuple(t.shape)}")
    if shape is not None:
        for axis, (want, got) in enumerate(zip(shape, t.shape, strict=True)):
            if want is not None and want != got:
                raise ValueError(
                    f"{name} has shape {tuple(t.shape)}: expected size {want} on axis {axis} "
                    f"(wanted {tuple('*' if s is None else s for s in shape)})"
                )
    return t


def _inspect_values() -> bool:
    """Value checks read tensor contents (a host sync): skip them while tracing or compiling a graph."""
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export())


def on_host(t: torch.Tensor) -> bool:
    """Whether reading ``t``'s values costs no device-to-host sync (the ops check values of host tensors only)."""
    return not t.is_cuda


def check_mask(name: str, mask: object, batch: int, length: int, values: bool = True) -> torch.Tensor:
    """A (batch, length) mask, 1/True = valid, with at least one valid entry per row; returns bool.
    ``values=False``: shape and dtype only (the ops pass it for device tensors: a value check is a host sync)."""
    check_tensor(name, mask, 2, shape=(batch, length))
    valid = mask if mask.dtype == torch.bool else mask != 0
    if values and _inspect_values() and not bool(valid.any(dim=1).all()):  # one host sync for a device mask
        empty = (~valid.any(dim=1)).nonzero().flatten().tolist()
        raise ValueError(f"{name} has no valid entry in batch row(s) {empty[:8]}")
    return valid


def check_lengths(name: str, lengths: object, batch: int, max_len: int, values: bool = True) -> torch.Tensor:
    """A (batch,) integer tensor with every value in [1, max_len].  ``values=False``: shape and dtype only (the ops
    pass it for device tensors, whose min / max would be two host syncs per call)."""
    check_tensor(name, lengths, 1, shape=(batch,))
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {lengths.dtype}")
    if not (values and _inspect_values()):
        return lengths
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > max_len:
        raise ValueError(f"{name} must lie in [1, {max_len}] (the padded length), got min {lo}, max {hi}")
    return lengths
