"""The Triton kernel behind the MSLSTM TensorRT plugin, and its launch parameters.

TensorRT launches an ahead-of-time plugin kernel with its parameters in the order (input pointers, extra
int32 scalars, output pointers).  :func:`ms_lstm_plugin_kernel` is the MS-LSTM forward recurrence of
``kernels.ms_lstm.kernel`` (one launch for every encoder, scale and direction) behind that signature::

    ms_lstm_plugin_kernel(gates, w_hh, lengths, B, T, y)      grid (E*S*2, cdiv(B*S, BLOCK_B))

with the MSLSTM node's layouts (:mod:`export.custom_nodes`); frames past a sample's length are left
unwritten.  :func:`compile_recurrence` compiles it ahead of time (the plugin's AOT implementation);
:func:`launch_recurrence` runs it through Triton's own launcher (the plugin's JIT implementation, and the
CPU tests under ``TRITON_INTERPRET=1``); both take their constexprs and warps from
:func:`recurrence_launch_config`.  Limits: those of the kernel (H <= 256).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from kernels.ms_lstm.kernel import BLOCK_B, _recurrent_config, ms_lstm_forward_kernel
from kernels.policy import MS_LSTM_MAX_HIDDEN, SUPPORTED_DTYPES

TRITON_TYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
KERNEL_PARAMETERS = 6  # gates, w_hh, lengths, B, T, y
COMPILE_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg")  # launch options, not kernel arguments
PRECISION = "ieee"  # no TF32: an fp32 engine is verified at 1e-4 against PyTorch fp32


@triton.jit
def ms_lstm_plugin_kernel(
    gates_ptr, w_hh_ptr, len_ptr, B, T, y_ptr,
    NUM_SCALES: tl.constexpr, H: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
):
    """The forward recurrence without saved state (``y`` doubles as the unused cell pointer)."""
    ms_lstm_forward_kernel(
        gates_ptr, w_hh_ptr, y_ptr, y_ptr, len_ptr, B, T,
        NUM_SCALES, H, BLOCK_B, BLOCK_H, BLOCK_K, ACC, PRECISION, False,
    )


def recurrence_launch_config(hidden: int, num_scales: int, dtype: torch.dtype) -> tuple[dict, dict]:
    """(constexprs, compile options such as num_warps) of :func:`ms_lstm_plugin_kernel` for H and S, from
    the kernel module's own tile choice."""
    if hidden > MS_LSTM_MAX_HIDDEN:
        raise ValueError(f"MSLSTM plugin: hidden size {hidden} exceeds the kernel's maximum {MS_LSTM_MAX_HIDDEN}")
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"MSLSTM plugin: dtype {dtype} is not supported (float32, float16, bfloat16)")
    config = _recurrent_config(hidden)
    options = {key: config.pop(key) for key in COMPILE_OPTIONS if key in config}
    constexprs = dict(NUM_SCALES=num_scales, H=hidden, BLOCK_B=BLOCK_B, ACC=tl.float32, PRECISION=PRECISION)
    return {**constexprs, **config}, options


def launch_recurrence(
    gates: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor, num_scales: int, y: torch.Tensor
) -> None:
    """Fill ``y`` (E, B, T, S*2H) on valid frames from ``gates`` (E, B, T, S*8H), ``w_hh`` (E*S*2, 4H, H) and
    int32 ``lengths`` (B,) -- the MSLSTM node's semantics."""
    E, B, T, _ = gates.shape
    constexprs, options = recurrence_launch_config(w_hh.shape[-1], num_scales, gates.dtype)
    grid = (w_hh.shape[0], triton.cdiv(B * num_scales, BLOCK_B))  # (weight sets, blocks of sequences)
    ms_lstm_plugin_kernel[grid](gates, w_hh, lengths, B, T, y, **constexprs, **options)


@dataclass
class CompiledKernel:
    name: str
    ptx: str
    num_warps: int
    shared_mem: int
    parameters: int  # of the compiled entry point, Triton's trailing scratch pointers included


def compile_recurrence(hidden: int, num_scales: int, dtype: torch.dtype, target: object = None) -> CompiledKernel:
    """PTX of :func:`ms_lstm_plugin_kernel` for H, S and the float dtype (``target``: a
    ``triton.backends.compiler.GPUTarget``, default the current GPU).  Refuses kernels that need Triton's
    global scratch memory, which a TensorRT AOT launch cannot provide."""
    constexprs, options = recurrence_launch_config(hidden, num_scales, dtype)
    ptr = f"*{TRITON_TYPES[dtype]}"
    signature = {"gates_ptr": ptr, "w_hh_ptr": ptr, "len_ptr": "*i32", "B": "i32", "T": "i32", "y_ptr": ptr,
                 **dict.fromkeys(constexprs, "constexpr")}
    source = triton.compiler.ASTSource(fn=ms_lstm_plugin_kernel, signature=signature, constexprs=constexprs)
    compiled = triton.compile(source, target=target, options=options)
    if getattr(compiled.metadata, "global_scratch_size", 0):
        raise RuntimeError("the MSLSTM kernel needs Triton global scratch memory, which an AOT plugin cannot pass")
    ptx = compiled.asm["ptx"]
    name = compiled.metadata.name
    entry = re.search(rf"\.entry\s+{re.escape(name)}\s*\((.*?)\)", ptx, re.DOTALL)
    parameters = entry.group(1).count(".param") if entry else 0
    return CompiledKernel(name, ptx, compiled.metadata.num_warps, compiled.metadata.shared, parameters)
