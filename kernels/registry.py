"""Kernel backends: a name -> one implementation per op, picked per call by the op's ``backend=`` argument.

Built in (:mod:`kernels.backends`):

* ``"reference"`` -- the plain PyTorch oracle of every op, on any device (:data:`REFERENCE`);
* ``"triton"``    -- the fused Triton kernels (the default recurrence of each op);
* ``"auto"``      -- not a backend but a choice: the backend that declares the highest ``auto_priority`` when it
  can run here (a ``needs_triton`` backend: every tensor on CUDA, Triton installed -- never the interpreter), its
  limits take the shapes and the op passed its one-time check on this device, dtype and shape class
  (:mod:`kernels.probe`: compiled, run on a small case, compared with the reference; cached per process), the
  reference otherwise -- silently, except for one line when a check fails.  A backend without a priority is
  never picked by ``auto``; only one candidate is considered (the probe's verdicts are per op and class).

The choices a user is offered (``model.kernels``, every ``--kernels``) are :func:`kernel_choices`: ``"auto"`` and
the registered backends marked ``user_choice``.

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
REFERENCE = "reference"  # the oracle every backend is checked against, and auto's fallback
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
    auto_priority: int | None = None  # "auto" picks the backend with the highest priority (None: never)
    user_choice: bool = True  # offered as a config / command-line choice (False: an internal backend, e.g. export's)


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


def kernel_choices() -> tuple[str, ...]:
    """``"auto"`` and every registered backend marked ``user_choice``, in registration order."""
    return (AUTO, *(name for name, backend in _REGISTRY.items() if backend.user_choice))


def auto_candidate() -> Backend | None:
    """The backend ``"auto"`` considers: the highest ``auto_priority`` (the first registered among equals)."""
    ranked = [b for b in _REGISTRY.values() if b.auto_priority is not None]
    return max(ranked, key=lambda b: b.auto_priority, default=None)


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


def _auto_device(tensors: tuple[torch.Tensor, ...]) -> bool:
    """Where "auto" considers a Triton backend: CUDA tensors only (never the interpreter)."""
    return all(t.is_cuda for t in tensors)


def _auto_runs(backend: Backend, tensors: tuple[torch.Tensor, ...]) -> bool:
    """Whether "auto" considers ``backend`` on these tensors."""
    return not backend.needs_triton or (_auto_device(tensors) and triton_available())


def resolve(name: str, op: str, tensors: tuple[torch.Tensor, ...], *args: Any) -> OpImpl:
    """The implementation of ``op`` that backend ``name`` runs on ``args`` (``tensors``: those whose device
    decides); raises :class:`UnsupportedInput` when a Triton backend cannot take them."""
    if name == AUTO:
        reference, candidate = _REGISTRY[REFERENCE].ops[op], auto_candidate()
        if candidate is None or candidate.name == REFERENCE or not _auto_runs(candidate, tensors):
            return reference
        fused = candidate.ops[op]
        if fused.limits(*args) is None:
            from kernels.probe import verified  # the one-time check of this class on this device

            if verified(op, fused.run, reference.run, args):
                return fused
        return reference
    backend = get_backend(name)
    impl = backend.ops[op]
    problem = (_device_problem(tensors) if backend.needs_triton else None) or impl.limits(*args)
    if problem is not None:
        raise UnsupportedInput(f"{op}: backend={name!r} cannot run: {problem}")
    return impl
