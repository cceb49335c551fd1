"""Fused Triton kernels for the hot spots of the engine, each next to its PyTorch reference.

``kernels`` imports nothing from ``engine``; every op takes ``backend="auto"|"triton"|"reference"``.
"""

from kernels.cqa import cqa
from kernels.dispatch import BACKENDS, UnsupportedInput
from kernels.ms_lstm import ms_lstm

__all__ = ["BACKENDS", "UnsupportedInput", "cqa", "ms_lstm"]
