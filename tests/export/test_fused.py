"""The fused variant: custom MSLSTM / CQA nodes wired into the graph correctly, and the plugin's kernel.

ONNX Runtime cannot run the custom nodes, so the fused EAMAT graph is evaluated with ONNX's reference
evaluator, the nodes implemented by their PyTorch semantics (:mod:`export.custom_nodes`); the MSLSTM
plugin's Triton kernel runs against the reference MS-LSTM on ``--device`` (the Triton interpreter on CPU; on CUDA
the compiled kernel, plus bf16 and the benchmark shapes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from engine.models import build_model
from export import OnnxLocalizer, export_onnx
from export.custom_nodes import (
    DOMAIN,
    SCRATCH_OUTPUTS,
    cqa_features_reference,
    recurrence_reference,
    stack_lstm_weights,
    valid_frames,
)
from export.graph import InferenceGraph
from export.verify import assert_parity, check_parity
from kernels.ms_lstm.reference import ms_lstm_reference
from kernels.parity import EXPORT_FP32_ATOL, rel_err, tolerance
from tests.export.tiny import ITOS, tiny_config, word_vectors
from tests.kernels import float32_matmul, ragged_lengths

SHAPES = [(2, 7, 3), (3, 13, 5)]  # (batch, clips, words), neither the tracing example
# the plugin-kernel check: dtype, encoders E, scales S, input width D (hidden D/2), ragged lengths (B of them, T the
# first); CUDA adds fp16 / bf16 and the benchmark's shapes (B = 16, T = 256, D = 512, S = 3, Q/K/V)
cuda_only = pytest.mark.cuda_only
PLUGIN_CASES = [
    pytest.param(torch.float32, 2, 2, 8, [7, 1], id="fp32-E2-S2-D8"),
    pytest.param(torch.float16, 2, 2, 8, [7, 1], id="fp16-E2-S2-D8", marks=cuda_only),
    pytest.param(torch.bfloat16, 2, 2, 8, [7, 1], id="bf16-E2-S2-D8", marks=cuda_only),
    pytest.param(torch.float32, 3, 3, 512, ragged_lengths(16, 256, seed=0), id="fp32-bench", marks=cuda_only),
    pytest.param(torch.bfloat16, 3, 3, 512, ragged_lengths(16, 256, seed=0), id="bf16-bench", marks=cuda_only),
]


@pytest.fixture(autouse=True)
def tf32_off():
    with float32_matmul(False):
        yield


def torch_inputs(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(np.array(a)) for a in arrays]


class MSLSTM(OpRun):
    op_domain = DOMAIN

    def _run(self, gates, w_hh, lengths, num_scales=None, hidden_size=None, plugin_namespace=None, aot=None):
        with torch.no_grad():
            y = recurrence_reference(*torch_inputs(gates, w_hh, lengths), num_scales).numpy()
        return (y, *(np.zeros(1, y.dtype) for _ in range(SCRATCH_OUTPUTS)))


class CQA(OpRun):
    op_domain = DOMAIN

    def _run(self, *inputs, plugin_namespace=None, aot=None):
        with torch.no_grad():
            return (cqa_features_reference(*torch_inputs(*inputs)).numpy(),)


def fused_model(name: str, tmp_path):
    config = tiny_config(name)
    torch.manual_seed(0)
    model = build_model(config, word_vectors(0)).eval()
    return model, config, export_onnx(model, config, ITOS, tmp_path / f"{name}.fused.onnx", variant="fused")


def test_fused_eamat_graph_matches_pytorch(tmp_path):
    model, config, path = fused_model("eamat", tmp_path)
    evaluator = ReferenceEvaluator(str(path), new_ops=[MSLSTM, CQA])
    graph = InferenceGraph(model)

    def run(inputs):
        feed = {k: v.numpy() for k, v in inputs.items() if k in evaluator.input_names}
        return dict(zip(graph.output_names, evaluator.run(None, feed), strict=True))

    assert_parity(check_parity(graph, run, config.model, SHAPES, seed=3), EXPORT_FP32_ATOL, "fused EAMAT")
    ops = Counter((n.domain, n.op_type) for n in onnx.load(str(path)).graph.node)
    lstm_blocks = 1 + 1 + config.eamat.motion_blocks  # query encoder, motion video block, motion blocks
    assert ops[(DOMAIN, "MSLSTM")] == lstm_blocks and ops[(DOMAIN, "CQA")] == 2 and ops[("", "LSTM")] == 0


def test_fused_dp_graph_has_plugin_nodes_with_their_attributes(tmp_path):
    model, config, path = fused_model("dp", tmp_path)
    nodes = [n for n in onnx.load(str(path)).graph.node if n.domain == DOMAIN]
    attrs = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in nodes}
    ms_lstm = [attrs[n.name] for n in nodes if n.op_type == "MSLSTM"]
    assert len(ms_lstm) == 4 and sum(n.op_type == "CQA" for n in nodes) == 2  # 2 GoL/TeN per pathway
    hidden = config.model.dim // 2
    assert all(a == {"num_scales": config.own.num_scales, "hidden_size": hidden, "plugin_namespace": b"grounding",
                     "aot": 1} for a in ms_lstm)
    with pytest.raises(ValueError, match="fused"):  # ONNX Runtime cannot run it: say so
        OnnxLocalizer(path)


@pytest.mark.parametrize("dtype,E,S,D,lengths", PLUGIN_CASES)
def test_plugin_kernel_matches_the_reference_ms_lstm(dtype, E, S, D, lengths, device):
    """MSLSTM node data path as the plugin runs it: stacked weights -> input projection -> Triton kernel
    == ``kernels.ms_lstm`` reference, on ragged lengths; the node's PyTorch semantics too.  Low precision: the
    kernel's gates and weights are rounded to ``dtype``, the fp32 reference runs on the rounded inputs."""
    from export.plugin_kernels import launch_recurrence

    H, B, T = D // 2, len(lengths), lengths[0]
    torch.manual_seed(0)
    encoders = [[torch.nn.LSTM(D, H, bidirectional=True, batch_first=True) for _ in range(S)] for _ in range(E)]
    xs = [torch.randn(B, T, D).to(dtype).float().to(device) for _ in range(E)]
    encoders = [[lstm.to(device) for lstm in lstms] for lstms in encoders]
    lengths = torch.tensor(lengths).to(device)
    with torch.no_grad():
        w_ih, bias, w_hh = stack_lstm_weights(encoders)
        w_hh = w_hh.to(dtype)
        for lstms in encoders:  # the reference sees the kernel's recurrent weights
            for lstm in lstms:
                for name in ("weight_hh_l0", "weight_hh_l0_reverse"):
                    getattr(lstm, name).copy_(getattr(lstm, name).to(dtype).float())
        want = torch.stack(ms_lstm_reference(xs, lengths, encoders))
        gates = (torch.einsum("ebtd,egd->ebtg", torch.stack(xs), w_ih) + bias[:, None, None]).to(dtype).contiguous()
        y = torch.full((E, B, T, S * 2 * H), float("nan"), dtype=dtype, device=device)  # frames past a length stay
        launch_recurrence(gates, w_hh.contiguous(), lengths.to(torch.int32), S, y)  # unwritten
        y = torch.where(valid_frames(lengths, T)[None, :, :, None], y, 0.0)
        if dtype == torch.float32:
            semantics = recurrence_reference(gates, w_hh, lengths.to(torch.int32), S)
    if dtype == torch.float32:
        torch.testing.assert_close(y, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(semantics, want, atol=1e-5, rtol=1e-5)
    else:
        assert y.dtype == dtype and torch.isfinite(y).all()
        err = rel_err(y, want)
        assert err <= tolerance(dtype), f"rel err {err:.2e}"


AOT_CHECK = """
from triton.backends.compiler import GPUTarget
import torch
from export.custom_nodes import SCRATCH_OUTPUTS
from export.plugin_kernels import KERNEL_PARAMETERS, compile_recurrence
kernel = compile_recurrence(hidden=32, num_scales=2, dtype=torch.float16, target=GPUTarget("cuda", 90, 32))
assert kernel.parameters == KERNEL_PARAMETERS + SCRATCH_OUTPUTS, kernel.parameters
assert ".entry " + kernel.name in kernel.ptx and kernel.num_warps * 32 >= 128
print("compiled", kernel.name, kernel.parameters, kernel.shared_mem)
"""


def test_mslstm_plugin_kernel_compiles_ahead_of_time_with_the_plugins_parameter_list():
    """What the AOT plugin returns to TensorRT, cross-compiled for sm_90 on CPU (outside the interpreter):
    PTX whose entry point takes exactly the node's inputs, B, T and its outputs (placeholders included)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", AOT_CHECK], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr[-2000:]
