"""Choosing between a fused Triton kernel and its PyTorch reference.

Every op in :mod:`kernels` takes ``backend``:

* ``"reference"`` -- the plain PyTorch oracle, on any device;
* ``"triton"``    -- the fused kernel; raises :class:`UnsupportedInput` when the kernel cannot run
  (no CUDA tensors and no ``TRITON_INTERPRET=1``, Triton missing, or a shape outside its limits);
* ``"auto"``      -- the kernel when every tensor is on CUDA and the kernel accepts the shapes, the
  reference otherwise (silently).  The Triton interpreter is never picked by ``"auto"``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

import torch

Backend = Literal["auto", "triton", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "reference")


class UnsupportedInput(ValueError):
    """The fused kernel cannot handle these inputs (the message says why)."""


def triton_interpreted() -> bool:
    """True when Triton kernels run on CPU tensors through ``TRITON_INTERPRET=1``."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _device_problem(tensors: tuple[torch.Tensor, ...]) -> str | None:
    if not triton_available():
        return "Triton is not installed"
    if triton_interpreted():
        return None
    if not all(t.is_cuda for t in tensors):
        return "the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 for CPU testing)"
    return None


def use_triton(
    backend: str,
    op: str,
    tensors: tuple[torch.Tensor, ...],
    limits: Callable[[], str | None],
) -> bool:
    """Return True to run the fused kernel of ``op``, False to run its reference.

    ``limits`` returns why the kernel cannot take these inputs, or None when it can.
    """
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "reference":
        return False
    if backend == "auto":
        on_cuda = all(t.is_cuda for t in tensors)
        return on_cuda and triton_available() and limits() is None
    problem = _device_problem(tensors) or limits()
    if problem is None:
        return True
    raise UnsupportedInput(f"{op}: backend='triton' cannot run: {problem}")
