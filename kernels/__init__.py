"""Fused Triton kernels for the hot spots of the engine, each next to its PyTorch reference.

``kernels`` imports nothing from ``engine``.  Every op takes ``backend=``: "auto" or a name registered in
:mod:`kernels.registry` ("reference", "triton", ...).  Triton itself is imported only when a kernel runs.
"""

from kernels import backends as _builtin_backends  # noqa: F401 -- registers "reference" and "triton"
from kernels.cqa import context_query_attention
from kernels.ms_lstm import multi_scale_lstm
from kernels.registry import (
    Backend,
    OpImpl,
    UnsupportedInput,
    backend_names,
    get_backend,
    kernel_choices,
    register_backend,
)

__all__ = [
    "Backend",
    "OpImpl",
    "UnsupportedInput",
    "backend_names",
    "context_query_attention",
    "get_backend",
    "kernel_choices",
    "multi_scale_lstm",
    "register_backend",
]
