"""TensorRT plugins for the fused export's custom nodes, with TensorRT's ``tensorrt.plugin`` API.

Imported only when TensorRT is needed (it imports ``tensorrt`` at module level).  No
``from __future__ import annotations`` here: ``tensorrt.plugin`` reads the decorated functions' type
hints as objects.  Node contracts: :mod:`export.custom_nodes`.

* ``grounding::MSLSTM``: ahead-of-time implementation (``@trtp.aot_impl``): the Triton kernel
  :func:`export.plugin_kernels.ms_lstm_plugin_kernel` compiled to PTX at engine build time, with its grid
  (E*S*2, cdiv(B*S, 16)), warps, shared memory and the int32 scalars B, T as launch parameters; the
  engine then runs without Python.  A JIT implementation (``@trtp.impl``, the same kernel through Triton's
  launcher) serves nodes exported with ``--plugin-impl jit``.
* ``grounding::CQA``: JIT implementation only: ``kernels.cqa``'s forward is three Triton launches with
  workspaces between them (scores, column softmax statistics, rows), and an AOT plugin is one kernel.

Triton (>= 3.3) appends global / profile scratch-pointer parameters to every compiled kernel; the MSLSTM
node's two placeholder outputs fill them (the kernel uses no scratch memory: checked at build time), and
the AOT implementation checks the compiled parameter count.

Unverified: written against the TensorRT 10.8+ documentation and samples; this project's CI has no GPU
and no TensorRT (the kernel's AOT compilation for sm_90 is tested on CPU).  If TensorRT rejects the AOT
kernel, export with ``--plugin-impl jit``.
"""

import tensorrt as trt
import tensorrt.plugin as trtp
import torch

from export.custom_nodes import CQA_OP, DOMAIN, MS_LSTM_OP, SCRATCH_OUTPUTS
from export.plugin_kernels import BLOCK_B, KERNEL_PARAMETERS, compile_recurrence, launch_recurrence

MS_LSTM_ID, CQA_ID = f"{DOMAIN}::{MS_LSTM_OP}", f"{DOMAIN}::{CQA_OP}"
_TORCH_TYPES = {trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16}
_registered = False


def register_plugins() -> None:
    """Register both plugins with TensorRT (once per process; needed to build and to load fused engines)."""
    global _registered
    if not _registered:
        _register_ms_lstm()
        _register_cqa()
        _registered = True


def _on_cuda(*tensors: "trtp.Tensor") -> list[torch.Tensor]:
    return [torch.as_tensor(t, device="cuda") for t in tensors]


def _register_ms_lstm() -> None:
    @trtp.register(MS_LSTM_ID)
    def ms_lstm_desc(
        gates: trtp.TensorDesc, w_hh: trtp.TensorDesc, lengths: trtp.TensorDesc, num_scales: int, hidden_size: int
    ) -> tuple[trtp.TensorDesc, trtp.TensorDesc, trtp.TensorDesc]:
        E, B, T = gates.shape_expr[0], gates.shape_expr[1], gates.shape_expr[2]
        y = trtp.from_shape_expr((E, B, T, 2 * num_scales * hidden_size), dtype=gates.dtype)
        scratch = [trtp.from_shape_expr((1,), dtype=gates.dtype) for _ in range(SCRATCH_OUTPUTS)]
        return (y, *scratch)

    @trtp.autotune(MS_LSTM_ID)
    def ms_lstm_autotune(gates, w_hh, lengths, outputs):
        io_types = ["FP32|FP16", "FP32|FP16", "INT32"] + ["FP32|FP16"] * (1 + SCRATCH_OUTPUTS)
        return [trtp.AutoTuneCombination(", ".join(io_types))]

    @trtp.impl(MS_LSTM_ID)
    def ms_lstm_jit(gates, w_hh, lengths, num_scales: int, outputs, stream):
        with torch.cuda.stream(torch.cuda.ExternalStream(stream)):
            gates_t, w_hh_t, lengths_t, y = _on_cuda(gates, w_hh, lengths, outputs[0])
            launch_recurrence(gates_t, w_hh_t, lengths_t, num_scales, y)

    # tensorrt.plugin requires this return hint on an AOT implementation (it rejects the function without it)
    @trtp.aot_impl(MS_LSTM_ID)
    def ms_lstm_aot(
        gates, w_hh, lengths, num_scales: int, hidden_size: int, outputs, tactic
    ) -> tuple[str | bytes, str | bytes, trtp.KernelLaunchParams, trtp.SymIntExprs]:
        kernel = compile_recurrence(hidden_size, num_scales, _TORCH_TYPES[gates.dtype])
        # TensorRT passes inputs (3), scalars (2), outputs (y + placeholders): Triton's signature must agree
        if kernel.parameters != KERNEL_PARAMETERS + SCRATCH_OUTPUTS:
            raise RuntimeError(
                f"the compiled MSLSTM kernel takes {kernel.parameters} parameters, the plugin passes "
                f"{KERNEL_PARAMETERS + SCRATCH_OUTPUTS} (this Triton's scratch parameters differ): "
                "export with --plugin-impl jit"
            )
        E, B, T = gates.shape_expr[0], gates.shape_expr[1], gates.shape_expr[2]
        launch = trtp.KernelLaunchParams()
        launch.grid_x = E * (2 * num_scales)  # weight sets (encoder, scale, direction)
        launch.grid_y = trtp.cdiv(B * num_scales, BLOCK_B)  # blocks of sub-sequences
        launch.block_x = kernel.num_warps * 32
        launch.shared_mem = kernel.shared_mem
        scalars = trtp.SymIntExprs.from_tuple([trtp.SymInt32(B), trtp.SymInt32(T)])
        return kernel.name, kernel.ptx, launch, scalars


def _register_cqa() -> None:
    @trtp.register(CQA_ID)
    def cqa_desc(
        video: trtp.TensorDesc, query: trtp.TensorDesc, video_mask: trtp.TensorDesc, query_mask: trtp.TensorDesc,
        w_c: trtp.TensorDesc, w_q: trtp.TensorDesc, w_m: trtp.TensorDesc,
    ) -> trtp.TensorDesc:
        B, T, d = video.shape_expr[0], video.shape_expr[1], video.shape_expr[2]
        return trtp.from_shape_expr((B, T, d * 3), dtype=video.dtype)

    @trtp.autotune(CQA_ID)
    def cqa_autotune(video, query, video_mask, query_mask, w_c, w_q, w_m, outputs):
        io_types = ["FP32|FP16", "FP32|FP16", "INT32", "INT32", "FP32|FP16", "FP32|FP16", "FP32|FP16", "FP32|FP16"]
        return [trtp.AutoTuneCombination(", ".join(io_types))]

    @trtp.impl(CQA_ID)
    def cqa_jit(video, query, video_mask, query_mask, w_c, w_q, w_m, outputs, stream):
        from kernels.cqa.op import cqa_features_triton

        with torch.cuda.stream(torch.cuda.ExternalStream(stream)):
            c, q, cm, qm, wc, wq, wm, out = _on_cuda(video, query, video_mask, query_mask, w_c, w_q, w_m, outputs[0])
            out.copy_(cqa_features_triton(c, q, cm != 0, qm != 0, wc, wq, wm))
