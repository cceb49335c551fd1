"""Kernel backends: a name -> one implementation per op, picked per call by the op's ``backend=`` argument.

Built in (:mod:`kernels.backends`):

* ``"reference"`` -- the plain PyTorch oracle of every op, on any device;
* ``"triton"``    -- the fused Triton kernels (the default recurrence of each op);
* ``"auto"``      -- not a backend but a choice: ``"triton"`` when every tensor is on CUDA and the kernels take
  the shapes, ``"reference"`` otherwise (silently).  It never picks the Triton interpreter.

A backend marked ``needs_triton`` raises :class:`UnsupportedInput` when it cannot run (no CUDA tensors and no
``TRITON_INTERPRET=1``, Triton missing, or a shape outside the op's limits) instead of falling back.  Other
packages add backends with :func:`register_backend` (``export`` registers the ONNX custom-node emitters) and
select them like any other, e.g. with ``engine.set_kernels(model, name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from kernels.policy import triton_available, triton_interpreted

AUTO = "auto"
OPS = ("ms_lstm", "cqa")


class UnsupportedInput(ValueError):
    """The chosen kernel cannot handle these inputs (the message says why)."""


def _no_limits(*args: Any) -> str | None:
    return None


@dataclass(frozen=True)
class OpImpl:
    """One op of a backend: ``run(*args)``, and ``limits(*args)`` saying why it cannot take these (already
    checked) arguments, or None when it can."""

    run: Callable[..., Any]
    limits: Callable[..., str | None] = _no_limits


@dataclass(frozen=True)
class Backend:
    name: str
    summary: str  # one line for --help and docs
    ops: Mapping[str, OpImpl]
    needs_triton: bool = False  # runs Triton kernels: CUDA tensors, or the interpreter


_REGISTRY: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    """Add (or replace) a backend; it must implement every op of :data:`OPS`."""
    missing = [op for op in OPS if op not in backend.ops]
    if missing:
        raise ValueError(f"backend {backend.name!r} lacks the op(s) {missing}")
    if backend.name == AUTO:
        raise ValueError(f"{AUTO!r} is the automatic choice, not a backend name")
    _REGISTRY[backend.name] = backend


def backend_names() -> tuple[str, ...]:
    """``"auto"`` and every registered backend, in registration order."""
    return (AUTO, *_REGISTRY)


def get_backend(name: str) -> Backend:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"kernel backend must be one of {backend_names()}, got {name!r}") from None


def check_backend_name(name: str) -> str:
    """``name`` itself when it is "auto" or a registered backend, else ValueError listing the choices."""
    if name != AUTO:
        get_backend(name)
    return name


def _device_problem(tensors: tuple[torch.Tensor, ...]) -> str | None:
    if not triton_available():
        return "Triton is not installed"
    if triton_interpreted():
        return None
    if not all(t.is_cuda for t in tensors):
        return "the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 for CPU testing)"
    return None


def resolve(name: str, op: str, tensors: tuple[torch.Tensor, ...], *args: Any) -> OpImpl:
    """The implementation of ``op`` that backend ``name`` runs on ``args`` (``tensors``: those whose device
    decides); raises :class:`UnsupportedInput` when a Triton backend cannot take them."""
    if name == AUTO:
        fused = _REGISTRY["triton"].ops[op]
        on_cuda = all(t.is_cuda for t in tensors)
        chosen = "triton" if on_cuda and triton_available() and fused.limits(*args) is None else "reference"
        return _REGISTRY[chosen].ops[op]
    backend = get_backend(name)
    impl = backend.ops[op]
    problem = (_device_problem(tensors) if backend.needs_triton else None) or impl.limits(*args)
    if problem is not None:
        raise UnsupportedInput(f"{op}: backend={name!r} cannot run: {problem}")
    return impl
