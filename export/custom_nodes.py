"""The fused export variant: MS-LSTM recurrences and CQA attention as custom nodes run by TensorRT plugins.

The nodes hold what the Triton kernels compute; the GEMMs around them (the MS-LSTM input projection,
the CQA output projection) stay standard ONNX ``MatMul`` / ``Add`` for TensorRT to run -- the same split
as the kernel ops (``kernels/ms_lstm/op.py``, ``kernels/cqa/op.py``).  Domain and plugin namespace
``grounding``; every node carries ``plugin_namespace = "grounding"`` (how TensorRT's ONNX parser finds a
plugin) and ``aot`` (1: the ahead-of-time compiled kernel, 0: the Python-callback implementation)::

    MSLSTM(gates (E, B, T, S*8H) float, w_hh (E*S*2, 4H, H) float, lengths (B,) int32)
        -> y (E, B, T, S*2H), scratch_0 (1,), scratch_1 (1,)
        attributes num_scales = S, hidden_size = H.  ``gates = x W_ih^T + b_ih + b_hh`` for every frame, with the
        [s=1 fwd | s=1 bwd | s=2 fwd | ...] blocks of i, f, g, o gates (``torch.nn.LSTM`` order);
        w_hh row w = (e*S + s-1)*2 + direction.  y: the hidden states of docs/design.md §2.1 on valid frames;
        frames past a sample's length are unspecified (the graph replaces them with zeros).  The two
        1-element outputs are placeholders, unused by the graph: Triton (>= 3.3) compiles every kernel with
        two trailing scratch-pointer parameters, and TensorRT fills an AOT kernel's parameters with the
        node's inputs, then its extra scalars, then its outputs -- the placeholders make those lists agree.

    CQA(video (B, T, d), query (B, N, d), video_mask (B, T) int32, query_mask (B, N) int32,
        w_c (d,), w_q (d,), w_m (d,)) -> X (B, T, 3d) = [A | C ⊙ A | C ⊙ Bq]   (docs/design.md §2.4)

The emitters are registered as kernel backends (:data:`BACKENDS`: ``"onnx-nodes-aot"`` and
``"onnx-nodes-jit"``, by the MSLSTM plugin implementation they request); an export selects one with
``engine.set_kernels`` like any other backend.  :func:`recurrence_reference` and
:func:`cqa_features_reference` state the nodes' semantics in PyTorch: what the plugins reproduce, and what
the tests evaluate the fused graph with on CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kernels.cqa.reference import cqa_attend
from kernels.ms_lstm.reference import strided_bilstm
from kernels.registry import Backend, OpImpl, register_backend

DOMAIN = "grounding"
MS_LSTM_OP, CQA_OP = "MSLSTM", "CQA"
OPSET_VERSION = 1
PLUGIN_IMPLS = ("aot", "jit")
BACKENDS = {impl: f"onnx-nodes-{impl}" for impl in PLUGIN_IMPLS}  # plugin implementation -> backend name
SCRATCH_OUTPUTS = 2  # MSLSTM's placeholder outputs for the compiled kernel's scratch-pointer parameters


def valid_frames(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on the first ``lengths[b]`` frames."""
    return torch.arange(T, device=lengths.device) < lengths[:, None]


def recurrence_reference(
    gates: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor, num_scales: int
) -> torch.Tensor:
    """The MSLSTM node in PyTorch: per scale a cuDNN ``nn.LSTM`` whose input weights are the identity reads
    the precomputed gates ([I | 0] forward, [0 | I] backward), run by ``strided_bilstm``; zero on padding."""
    E, T, H = (int(n) for n in (gates.shape[0], gates.shape[2], w_hh.shape[-1]))  # ints, also while tracing
    like = dict(dtype=gates.dtype, device=gates.device)
    eye, zero = torch.eye(4 * H, **like), torch.zeros(4 * H, 4 * H, **like)
    out = []
    for e in range(E):
        scales = []
        for s in range(num_scales):
            lstm = nn.LSTM(8 * H, H, bidirectional=True, batch_first=True, bias=False).to(gates.device, gates.dtype)
            with torch.no_grad():
                lstm.weight_ih_l0.copy_(torch.cat([eye, zero], 1))
                lstm.weight_ih_l0_reverse.copy_(torch.cat([zero, eye], 1))
                lstm.weight_hh_l0.copy_(w_hh[(e * num_scales + s) * 2])
                lstm.weight_hh_l0_reverse.copy_(w_hh[(e * num_scales + s) * 2 + 1])
            scale_gates = gates[e, :, :, s * 8 * H : (s + 1) * 8 * H]
            scales.append(strided_bilstm(scale_gates, lengths.long(), lstm, s + 1))
        out.append(torch.cat(scales, -1))
    return torch.stack(out) * valid_frames(lengths, T)[None, :, :, None].to(gates.dtype)


def cqa_features_reference(
    video: torch.Tensor, query: torch.Tensor, video_mask: torch.Tensor, query_mask: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor,
) -> torch.Tensor:
    """The CQA node in PyTorch: X = [A | C ⊙ A | C ⊙ Bq] from ``cqa_attend``."""
    A, Bq = cqa_attend(video, query, video_mask != 0, query_mask != 0, w_c, w_q, w_m)
    return torch.cat([A, video * A, video * Bq], dim=-1)


class _MSLSTMNode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gates, w_hh, lengths, num_scales, hidden_size, aot):
        scratch = [gates.new_zeros(1) for _ in range(SCRATCH_OUTPUTS)]
        if torch.jit.is_tracing():  # the symbolic replaces the value; the reference's own LSTMs cannot be traced
            E, B, T = gates.shape[:3]
            return gates.new_zeros(E, B, T, num_scales * 2 * hidden_size), *scratch
        return recurrence_reference(gates, w_hh, lengths, num_scales), *scratch

    @staticmethod
    def symbolic(g, gates, w_hh, lengths, num_scales, hidden_size, aot):
        return g.op(
            f"{DOMAIN}::{MS_LSTM_OP}", gates, w_hh, lengths, num_scales_i=num_scales, hidden_size_i=hidden_size,
            plugin_namespace_s=DOMAIN, aot_i=int(aot), outputs=1 + SCRATCH_OUTPUTS,
        )


class _CQANode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, video, query, video_mask, query_mask, w_c, w_q, w_m):
        return cqa_features_reference(video, query, video_mask, query_mask, w_c, w_q, w_m)

    @staticmethod
    def symbolic(g, video, query, video_mask, query_mask, w_c, w_q, w_m):
        inputs = (video, query, video_mask, query_mask, w_c, w_q, w_m)
        return g.op(f"{DOMAIN}::{CQA_OP}", *inputs, plugin_namespace_s=DOMAIN, aot_i=0)


def stack_lstm_weights(encoders: Sequence[Sequence[nn.LSTM]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> w_ih (E, S*8H, D), bias (E, S*8H) = b_ih + b_hh, w_hh (E*S*2, 4H, H), in the MSLSTM node's order."""

    def params(name: str) -> list[list[torch.Tensor]]:
        return [[p for m in lstms for p in (getattr(m, f"{name}_l0"), getattr(m, f"{name}_l0_reverse"))]
                for lstms in encoders]

    w_ih = torch.stack([torch.cat(ws) for ws in params("weight_ih")])
    b_ih, b_hh = (torch.stack([torch.cat(bs) for bs in params(name)]) for name in ("bias_ih", "bias_hh"))
    bias = b_ih + b_hh
    w_hh = torch.stack([w for ws in params("weight_hh") for w in ws])
    return w_ih, bias, w_hh


def ms_lstm_node(
    xs: Sequence[torch.Tensor],
    lengths: torch.Tensor,
    encoders: Sequence[Sequence[nn.LSTM]],
    *,
    aot: bool = True,
) -> list[torch.Tensor]:
    """The MS-LSTM op of the node backends: input projection (MatMul + Add), one MSLSTM node, padding zeroed."""
    x = torch.stack(list(xs))
    E, B, T, D = x.shape
    w_ih, bias, w_hh = stack_lstm_weights(encoders)
    gates = torch.baddbmm(bias.unsqueeze(1), x.reshape(E, B * T, D), w_ih.transpose(1, 2)).view(E, B, T, -1)
    num_scales, hidden = len(encoders[0]), encoders[0][0].hidden_size
    y = _MSLSTMNode.apply(gates, w_hh, lengths.to(torch.int32), num_scales, hidden, aot)[0]
    y = torch.where(valid_frames(lengths, T)[None, :, :, None], y, torch.zeros((), dtype=y.dtype))
    return list(y.unbind(0))


def cqa_node(
    video: torch.Tensor, query: torch.Tensor, video_mask: torch.Tensor, query_mask: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor, proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """The CQA op of the node backends: one CQA node, then ``(C W1ᵀ + X W234ᵀ + b) * cm`` with W = [W1 | W234]."""
    d = video.shape[-1]
    masks = ((video_mask != 0).to(torch.int32), (query_mask != 0).to(torch.int32))
    x = _CQANode.apply(video, query, *masks, w_c, w_q, w_m)
    out = F.linear(x, proj_weight[:, d:], proj_bias) + F.linear(video, proj_weight[:, :d])
    return out * (video_mask != 0).unsqueeze(-1).to(out.dtype)


def node_backend(plugin_impl: str) -> str:
    """The backend name whose ops emit custom nodes requesting the ``plugin_impl`` ("aot" | "jit") MSLSTM plugin."""
    if plugin_impl not in PLUGIN_IMPLS:
        raise ValueError(f"plugin_impl must be one of {PLUGIN_IMPLS}, got {plugin_impl!r}")
    return BACKENDS[plugin_impl]


for _impl, _name in BACKENDS.items():
    register_backend(Backend(
        _name, f"ONNX export: custom MSLSTM ({_impl} plugin) and CQA nodes for TensorRT",
        {"ms_lstm": OpImpl(functools.partial(ms_lstm_node, aot=_impl == "aot")), "cqa": OpImpl(cqa_node)},
        user_choice=False,  # selected by the exporter, never by a user's config
    ))
