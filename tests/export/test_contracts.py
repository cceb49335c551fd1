"""Contracts for the code CI cannot run: every call made by ``export``, ``bench`` and ``train`` into TensorRT,
ONNX Runtime's CUDA provider and CUDA-only torch APIs, made here against stand-ins that check argument names
and types (:mod:`tests.standins`), so that a call site and its callee cannot drift apart unnoticed.

Covered (call sites -> callee):

* ``export/tensorrt.py`` -> ``tensorrt``: ``build_engine`` with every precision, TF32 on / off, a timing cache
  (written, then read back) and a workspace limit; the profile it sets for every network input (checked against
  the ONNX file's static dimensions and its symbols: batch, queries, clips, words); ``save_engine`` /
  ``read_sidecar``; ``TensorRTRunner`` from memory and through ``TensorRTRunner.load`` (engine + sidecar):
  tensor names, modes and dtypes, ``set_input_shape`` (and
  the error outside the profile), ``set_tensor_address``, ``get_tensor_shape``, ``execute_async_v3`` on
  ``torch.cuda.current_stream(device).cuda_stream``; ``TensorRTLocalizer.predict``.  Fused engines: the
  plugins are registered before the parse and before the engine is deserialized.  The engine of a file exported
  before ``query_row`` existed: its query inputs are per row, whose shapes the context checks.
* ``export/trt_plugins.py`` -> ``tensorrt.plugin``: the decorated functions' signatures and hints as
  ``tensorrt.plugin`` validates them; the ``register`` functions' output descriptors (count, dtype, shape
  expressions against the MSLSTM / CQA node contracts); ``autotune`` type combinations (one type per I/O);
  the AOT implementation's answer -- real PTX cross-compiled for sm_90 in a subprocess -- whose entry point
  takes the inputs, extra int32 arguments and outputs TensorRT passes, and whose launch grid equals the JIT
  launcher's; the JIT implementations called with ``tensorrt.plugin.Tensor`` s (kernels in the interpreter).
* ``export/cli.py --format trt`` (``build_and_verify_engine``): every TensorRT option, both variants, and the
  verification running the engine (it refuses the stand-in engine, whose outputs are not the model's).
* ``export/runners.py`` (the deploy suite's runtimes): ``ExportedFiles.engine`` and ``tensorrt_runner`` (portable
  here, fused AOT in the subprocess), ``onnxruntime_runner`` with the CUDA provider list, ``onnxruntime_gpu_problem``.
* ``export/runtime.py`` -> ``onnxruntime``: ``OnnxGraph`` / ``OnnxLocalizer`` with CUDA providers and threads.
* ``train/distributed.py`` -> ``torch.cuda.set_device`` / ``init_process_group(backend="nccl")``;
  ``train/rng.py`` -> ``torch.cuda.get_rng_state_all`` / ``set_rng_state_all``.

CUDA-only torch calls are replaced by ``unittest.mock.create_autospec`` of the real functions (a wrong call
signature fails); tensors stay on the host: the runner is given ``device="cpu"``, so ``Tensor.to`` /
``torch.empty`` / ``torch.as_tensor`` run for real and check their own arguments.

Not covered: anything numerical (engine outputs are the stand-in's ones / zeros), TensorRT's real parser,
tactic selection and precision behaviour, the ONNX parser's handling of the ``aot`` / ``plugin_namespace``
node attributes beyond their documented meaning, ``torch.as_tensor(t, device="cuda")`` of a plugin tensor
(``__cuda_array_interface__``; replaced by a host view), device placement (``device="cuda"`` is never used),
and the bench's own CUDA timing / memory calls (``bench.timing``, ``bench.hardware``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torch.distributed as dist

from engine.models import build_model
from export.cli import EXIT_PARITY, main
from export.custom_nodes import SCRATCH_OUTPUTS, cqa_features_reference, recurrence_reference, valid_frames
from export.graph import random_inputs
from export.onnx_export import export_onnx, read_onnx_metadata
from export.runtime import OnnxGraph, OnnxLocalizer
from export.tensorrt import (
    ShapeProfile,
    TensorRTLocalizer,
    TensorRTRunner,
    build_engine,
    read_sidecar,
    save_engine,
    sidecar_path,
)
from tests.export.conftest import Exported
from tests.export.legacy import without_query_row
from tests.export.tiny import ITOS, MAX_CLIPS, MAX_WORDS, VIDEO_DIM, tiny_config, word_vectors, write_checkpoint
from tests.kernels import float32_matmul
from tests.standins import onnxruntime as ort_standin
from tests.standins import tensorrt as trt_standin

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ShapeProfile((1, 1, 1), (2, 16, 6), (4, MAX_CLIPS, MAX_WORDS))
STREAM_HANDLE = 0x5EED  # what the stand-in stream reports as its CUDA handle
CUDA_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
QUERY = "the person opens the door"
HAS_NLTK = importlib.util.find_spec("nltk") is not None
REAL_CURRENT_STREAM = torch.cuda.current_stream  # before any test replaces it


def cuda_stream() -> mock.NonCallableMagicMock:
    """What ``torch.cuda.current_stream()`` returns: a ``torch.cuda.Stream`` spec (``synchronize`` ...) plus the
    CUDA build's ``cuda_stream`` handle (this CPU build's Stream class lacks that attribute)."""
    stream = mock.create_autospec(torch.cuda.Stream, instance=True)
    stream.cuda_stream = STREAM_HANDLE
    return stream


def forget_trt_plugins() -> None:
    """Drop ``export.trt_plugins`` (module and package attribute): the next import runs it afresh, against
    whatever ``tensorrt`` is then (its registration flag is module state)."""
    import export

    sys.modules.pop("export.trt_plugins", None)
    export.__dict__.pop("trt_plugins", None)


@pytest.fixture
def trt(monkeypatch: pytest.MonkeyPatch):
    """``tensorrt`` / ``tensorrt.plugin`` are the stand-ins, CUDA is 'available', no plugin is registered yet."""
    trt_standin.plugin.reset()
    monkeypatch.setitem(sys.modules, "tensorrt", trt_standin)
    monkeypatch.setitem(sys.modules, "tensorrt.plugin", trt_standin.plugin)
    forget_trt_plugins()
    monkeypatch.setattr(torch.cuda, "is_available", mock.create_autospec(torch.cuda.is_available, return_value=True))
    monkeypatch.setattr(torch.cuda, "current_stream",
                        mock.create_autospec(torch.cuda.current_stream, return_value=cuda_stream()))
    yield trt_standin
    forget_trt_plugins()
    trt_standin.plugin.reset()


@pytest.fixture
def ort(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", ort_standin)
    return ort_standin


def graph_outputs(exported_onnx: Path) -> dict[str, tuple]:
    import onnx

    graph = onnx.load(str(exported_onnx)).graph
    return {o.name: tuple(d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim) for o in graph.output}


def expected_shapes(outputs: dict[str, tuple], batch: int, clips: int) -> dict[str, tuple[int, ...]]:
    sizes = {"batch": batch, "clips": clips}
    return {name: tuple(sizes.get(d, d) for d in dims) for name, dims in outputs.items()}


def inputs_for(name: str, batch: int, clips: int, words: int, seed: int = 0) -> dict[str, torch.Tensor]:
    return random_inputs(tiny_config(name).model, batch, clips, words, torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------ export.tensorrt
@pytest.mark.parametrize(
    "precision,tf32,workspace_gib,cached",
    [("fp32", False, None, False), ("fp16", False, 0.5, True), ("bf16", True, 2.0, True)],
)
def test_build_engine_hands_every_option_to_the_builder(
    trt, exported: Exported, tmp_path, precision, tf32, workspace_gib, cached
):
    cache = tmp_path / "timing.cache" if cached else None
    for build in (1, 2):  # the second build reads the timing cache the first one wrote
        engine, metadata = build_engine(exported.onnx, PROFILE, precision=precision, tf32=tf32, timing_cache=cache,
                                        workspace_gib=workspace_gib)
        assert isinstance(engine, bytes) and isinstance(metadata, dict)
        if cache is not None:
            assert cache.read_bytes().endswith(str(build).encode()), "timing cache not read back / rewritten"
    info = trt.engine_info(engine)
    assert ("FP16" in info["flags"], "BF16" in info["flags"], "TF32" in info["flags"]) == (
        precision == "fp16", precision == "bf16", tf32)
    assert info["pools"] == ({} if workspace_gib is None else {"WORKSPACE": int(workspace_gib * 2**30)})
    inputs = {t["name"]: t for t in info["tensors"] if t["mode"] == "INPUT"}
    assert inputs["video"]["profile"] == [[1, 1, VIDEO_DIM], [2, 16, VIDEO_DIM], [4, MAX_CLIPS, VIDEO_DIM]]
    assert inputs["word_mask"]["profile"] == [[1, 1], [2, 6], [4, MAX_WORDS]]  # queries: 1 .. the batch
    assert inputs["query_row"]["profile"] == [[1], [2], [4]]
    assert metadata["engine"] == {"profile": {"min": (1, 1, 1), "opt": (2, 16, 6), "max": (4, MAX_CLIPS, MAX_WORDS)},
                                  "precision": precision, "tf32": tf32, "tensorrt": trt.__version__}
    assert metadata["variant"] == "portable" and metadata["config"]["model"]["name"] == exported.name


def test_profile_that_contradicts_the_network_fails_the_build(trt, exported: Exported):
    """The builder rejects a profile whose video width differs from the graph's: here the graph is fixed at
    VIDEO_DIM and ``ShapeProfile.input_shape`` is asked for another width through a patched metadata."""
    metadata = read_onnx_metadata(exported.onnx)
    metadata["config"]["model"]["video_dim"] = VIDEO_DIM + 1
    with mock.patch("export.tensorrt.read_onnx_metadata", return_value=metadata):
        with pytest.raises(RuntimeError, match="could not build an engine"):
            build_engine(exported.onnx, PROFILE)


def test_saved_engine_runs_through_the_runner(trt, exported: Exported, tmp_path):
    engine, metadata = build_engine(exported.onnx, PROFILE)
    path = save_engine(engine, metadata, tmp_path / "model.engine")
    assert path.read_bytes() == engine and read_sidecar(path) == json.loads(json.dumps(metadata))
    runner = TensorRTRunner.load(path, "cpu")
    want = expected_shapes(graph_outputs(exported.onnx), 3, 10)
    assert runner.output_names == list(want)
    for inputs in (inputs_for(exported.name, 3, 10, 5), {k: v.numpy() for k, v in inputs_for(exported.name, 3, 10,
                                                                                                5).items()}):
        out = runner(inputs)
        assert {k: tuple(v.shape) for k, v in out.items()} == want
        assert out["start_prob"].dtype == torch.float32 and out["start_idx"].dtype == torch.int64
    torch.cuda.current_stream.assert_called_with(runner.device)
    assert torch.cuda.current_stream.return_value.synchronize.call_count == 2
    with pytest.raises(ValueError, match="outside the engine's profile"):
        runner(inputs_for(exported.name, PROFILE.max[0] + 1, 10, 5))


def test_engine_of_an_export_from_before_query_row_gets_each_rows_query(trt, exported: Exported, tmp_path):
    """An engine built from a file exported before ``query_row`` takes one query per row (its query inputs' first
    axis is the batch, which the engine's context checks): the runner picks each row's query for it."""
    legacy = without_query_row(exported.onnx, tmp_path / "legacy.onnx")
    runner = TensorRTRunner(*build_engine(legacy, PROFILE), "cpu")
    assert "query_row" not in runner.input_names and "words" in runner.input_names
    batch, clips, words = PROFILE.max
    inputs = inputs_for(exported.name, batch, clips, words)
    assert inputs["words"].shape[0] < batch
    out = runner(inputs)
    assert {k: tuple(v.shape) for k, v in out.items()} == expected_shapes(graph_outputs(legacy), batch, clips)


@pytest.mark.skipif(not HAS_NLTK, reason="query text processing needs nltk")
def test_engine_localizer_predicts_spans(trt, exported: Exported, tmp_path):
    path = save_engine(*build_engine(exported.onnx, PROFILE), tmp_path / "model.engine")
    features = np.random.default_rng(0).normal(size=(MAX_CLIPS - 3, VIDEO_DIM)).astype(np.float32)
    spans = TensorRTLocalizer(path, device="cpu").predict(features, QUERY, duration=20.0, k=3)
    assert 1 <= len(spans) <= 3 and all(len(span) == 3 for span in spans)


def fused_export(name: str, path: Path, plugin_impl: str) -> tuple[Path, dict]:
    config = tiny_config(name)
    torch.manual_seed(0)
    model = build_model(config, word_vectors(0)).eval()
    return export_onnx(model, config, ITOS, path, variant="fused", plugin_impl=plugin_impl), config


def test_fused_engine_registers_its_plugins_to_build_and_to_load(trt, tmp_path):
    onnx_path, _ = fused_export("eamat", tmp_path / "model.fused.onnx", "jit")
    engine, metadata = build_engine(onnx_path, PROFILE)
    plugins = trt.engine_info(engine)["plugins"]
    assert {p["id"] for p in plugins} == {"grounding::MSLSTM", "grounding::CQA"} and not any(p["aot"] for p in plugins)
    trt.plugin.reset()  # a fresh process: JIT plugins must be registered again before the engine loads
    forget_trt_plugins()
    assert trt.Runtime(trt.Logger()).deserialize_cuda_engine(engine) is None
    runner = TensorRTRunner(engine, metadata, "cpu")
    out = runner(inputs_for("eamat", 2, 9, 4))
    assert {k: tuple(v.shape) for k, v in out.items()} == expected_shapes(graph_outputs(onnx_path), 2, 9)


def test_unregistered_plugins_fail_the_parse(trt, tmp_path, monkeypatch):
    onnx_path, _ = fused_export("eamat", tmp_path / "model.fused.onnx", "jit")
    from export import trt_plugins  # against the stand-in; build_engine imports register_plugins from it

    monkeypatch.setattr(trt_plugins, "register_plugins", lambda: None)
    with pytest.raises(RuntimeError, match="no plugin creator for 'grounding::MSLSTM'"):
        build_engine(onnx_path, PROFILE)


# ------------------------------------------------------------------------------------------------ trt_plugins
def test_plugin_definitions_satisfy_tensorrt_plugin(trt):
    from export.trt_plugins import CQA_ID, MS_LSTM_ID, register_plugins

    register_plugins()
    register_plugins()  # once per process: a second registration raises in tensorrt.plugin
    ms_lstm, cqa = trt.plugin.registered(MS_LSTM_ID), trt.plugin.registered(CQA_ID)
    assert ms_lstm.tensors == ["gates", "w_hh", "lengths"] and ms_lstm.attrs == {"num_scales": int, "hidden_size": int}
    assert ms_lstm.num_outputs == 1 + SCRATCH_OUTPUTS and ms_lstm.impl_attrs == ["num_scales"]
    assert ms_lstm.aot_attrs == ["num_scales", "hidden_size"] and cqa.num_outputs == 1 and cqa.aot_impl is None

    E, B, T, S, H, d = 2, 5, 7, 3, 8, 16
    desc = trt.plugin.input_desc
    inputs = [desc("gates", trt.float16, 4), desc("w_hh", trt.float16, 3), desc("lengths", trt.int32, 1)]
    outputs = trt.plugin.run_register(MS_LSTM_ID, inputs, {"num_scales": S, "hidden_size": H})
    sizes = {"gates[0]": E, "gates[1]": B, "gates[2]": T, "video[0]": B, "video[1]": T, "video[2]": d}
    assert [e.evaluate(sizes) for e in outputs[0].shape_expr] == [E, B, T, S * 2 * H]
    assert all(o.dtype == trt.float16 for o in outputs) and all(len(o.shape_expr) == 1 for o in outputs[1:])
    assert trt.plugin.run_autotune(MS_LSTM_ID, inputs, {}, outputs)

    cqa_inputs = [desc("video", trt.float32, 3), desc("query", trt.float32, 3), desc("video_mask", trt.int32, 2),
                  desc("query_mask", trt.int32, 2), *(desc(w, trt.float32, 1) for w in ("w_c", "w_q", "w_m"))]
    (features,) = trt.plugin.run_register(CQA_ID, cqa_inputs, {})
    assert [e.evaluate(sizes) for e in features.shape_expr] == [B, T, 3 * d] and features.dtype == trt.float32
    assert trt.plugin.run_autotune(CQA_ID, cqa_inputs, {}, [features])


def host_tensor(tensor: torch.Tensor, registry: dict[int, torch.Tensor], stream: int):
    """A ``tensorrt.plugin.Tensor`` over ``tensor``'s memory (as TensorRT hands a JIT plugin its I/O)."""
    dtypes = {torch.float32: trt_standin.float32, torch.float16: trt_standin.float16, torch.int32: trt_standin.int32}
    registry[tensor.data_ptr()] = tensor
    return trt_standin.plugin.Tensor(tensor.data_ptr(), dtypes[tensor.dtype], tuple(tensor.shape), tensor.stride(),
                                     stream)


def test_jit_implementations_launch_the_kernels_with_the_arguments_tensorrt_passes(trt, monkeypatch, device):
    """The JIT plugins as the engine calls them at enqueue: ``tensorrt.plugin.Tensor`` I/O and a stream handle.
    On CPU the kernels run in the Triton interpreter on host memory (``_on_cuda``'s device import is replaced by a
    host view); with ``--device cuda`` the tensors are CUDA memory imported for real (``__cuda_array_interface__``)
    and the launch goes to a real stream."""
    from export import trt_plugins

    trt_plugins.register_plugins()
    registry: dict[int, torch.Tensor] = {}
    stream = torch.cuda.Stream(device) if device.type == "cuda" else None  # kept alive: TensorRT's enqueue stream
    if stream is not None:
        handle = stream.cuda_stream
        monkeypatch.setattr(torch.cuda, "current_stream", REAL_CURRENT_STREAM)  # torch.cuda.stream() needs it
        external = mock.create_autospec(torch.cuda.ExternalStream, side_effect=torch.cuda.ExternalStream)
    else:
        handle = STREAM_HANDLE
        external = mock.create_autospec(torch.cuda.ExternalStream)
        monkeypatch.setattr(torch.cuda, "stream", mock.create_autospec(torch.cuda.stream,
                                                                       return_value=contextlib.nullcontext()))

        def on_host(*tensors):
            for t in tensors:
                trt.expect("_on_cuda", "tensor", t, trt.plugin.Tensor)
            return [registry[t.data_ptr] for t in tensors]

        monkeypatch.setattr(trt_plugins, "_on_cuda", on_host)
    monkeypatch.setattr(torch.cuda, "ExternalStream", external)
    wrap = functools.partial(host_tensor, registry=registry, stream=handle)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)  # inputs ready before the launch

    E, B, T, S, H = 1, 2, 5, 2, 4
    gen = torch.Generator().manual_seed(0)
    gates = torch.randn(E, B, T, S * 8 * H, generator=gen).to(device)
    w_hh = (torch.randn(E * S * 2, 4 * H, H, generator=gen) * 0.5).to(device)
    lengths = torch.tensor([T, 2], dtype=torch.int32).to(device)
    y = torch.full((E, B, T, S * 2 * H), float("nan"), device=device)
    scratch = [torch.zeros(1, device=device) for _ in range(SCRATCH_OUTPUTS)]
    sync()
    trt.plugin.run_impl(trt_plugins.MS_LSTM_ID, [wrap(gates), wrap(w_hh), wrap(lengths)],
                        {"num_scales": S, "hidden_size": H}, [wrap(y), *map(wrap, scratch)], handle)
    external.assert_called_once_with(handle)

    Bc, Tc, Nc, d = 2, 6, 4, 8
    video, query = torch.randn(Bc, Tc, d, generator=gen).to(device), torch.randn(Bc, Nc, d, generator=gen).to(device)
    video_mask = (torch.arange(Tc) < torch.tensor([[Tc], [3]])).to(torch.int32).to(device)
    query_mask = (torch.arange(Nc) < torch.tensor([[2], [Nc]])).to(torch.int32).to(device)
    weights = [(torch.randn(d, generator=gen) * 0.5).to(device) for _ in range(3)]
    out = torch.full((Bc, Tc, 3 * d), float("nan"), device=device)
    sync()
    trt.plugin.run_impl(trt_plugins.CQA_ID, [wrap(t) for t in (video, query, video_mask, query_mask, *weights)], {},
                        [wrap(out)], handle)
    sync()
    with float32_matmul(False):
        valid = valid_frames(lengths, T)[None, :, :, None]
        want = recurrence_reference(gates, w_hh, lengths, S)
        torch.testing.assert_close(torch.where(valid, y, 0.0), want, atol=1e-5, rtol=1e-5)
        want = cqa_features_reference(video, query, video_mask, query_mask, *weights)
        torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


AOT_CONTRACT = r"""
import functools, json, sys
from unittest import mock
import torch
import triton
from triton.backends.compiler import GPUTarget
from tests.standins import tensorrt as trt
sys.modules["tensorrt"], sys.modules["tensorrt.plugin"] = trt, trt.plugin
torch.cuda.is_available = mock.create_autospec(torch.cuda.is_available, return_value=True)
stream = mock.create_autospec(torch.cuda.Stream, instance=True)
stream.cuda_stream = 1
torch.cuda.current_stream = mock.create_autospec(torch.cuda.current_stream, return_value=stream)
from export import plugin_kernels, trt_plugins
TARGET = GPUTarget("cuda", 90, 32)  # no GPU to ask: compile for sm_90, as an H100 / H200 build would
trt_plugins.compile_recurrence = functools.partial(plugin_kernels.compile_recurrence, target=TARGET)

# 1. the AOT implementation as the builder calls it, and its launch against the JIT launcher's grid
trt_plugins.register_plugins()
E, B, T, S, H = 3, 5, 11, 3, 16
desc = trt.plugin.input_desc
inputs = [desc("gates", trt.float16, 4), desc("w_hh", trt.float16, 3), desc("lengths", trt.int32, 1)]
attrs = {"num_scales": S, "hidden_size": H}
outputs = trt.plugin.run_register(trt_plugins.MS_LSTM_ID, inputs, attrs)
kernel = trt.plugin.run_aot_impl(trt_plugins.MS_LSTM_ID, inputs, attrs, outputs)
sizes = {"gates[0]": E, "gates[1]": B, "gates[2]": T}
compiled = plugin_kernels.compile_recurrence(H, S, torch.float16, target=TARGET)
launch = {f: getattr(kernel.launch, f).evaluate(sizes) for f in kernel.launch.FIELDS}
assert (launch["grid_x"], launch["grid_y"]) == (E * S * 2, triton.cdiv(B * S, plugin_kernels.BLOCK_B)), launch
assert (launch["grid_z"], launch["block_y"], launch["block_z"]) == (1, 1, 1), launch
assert launch["block_x"] == compiled.num_warps * 32 and launch["shared_mem"] == compiled.shared_mem, launch
assert [e.evaluate(sizes) for e in kernel.extra_args] == [B, T]
assert kernel.name == compiled.name and kernel.parameters == len(inputs) + 2 + len(outputs) == compiled.parameters

# 2. a fused AOT engine through the deploy suite's runners (ExportedFiles.engine -> build_engine, tensorrt_runner)
from engine.models import build_model
from export.graph import random_inputs
from export.runners import ExportedFiles, tensorrt_runner
from export.tensorrt import ShapeProfile
from tests.export.tiny import ITOS, tiny_config, word_vectors
cpu = torch.device("cpu")
config = tiny_config("eamat")
batch, clips, words = 2, 12, 6
profile = ShapeProfile(min=(1, 1, 1), opt=(batch, clips, words), max=(batch, clips, words))
exports = ExportedFiles(build_model(config, word_vectors(0)).eval(), len(ITOS), profile)
path = exports.engine("fused")
info = trt.engine_info(path.read_bytes())
assert {p["id"] for p in info["plugins"]} == {"grounding::MSLSTM", "grounding::CQA"}, info["plugins"]
assert [p["aot"] for p in info["plugins"] if p["id"] == "grounding::MSLSTM"] == [True] * 3, info["plugins"]
inputs = random_inputs(config.model, batch, clips, words, torch.Generator().manual_seed(0))
out = tensorrt_runner(exports, "fused", cpu)(inputs)
assert [tuple(o.shape) for o in out] == [(batch, clips)] * 2 + [(batch,)], [o.shape for o in out]
print("AOT contract ok", json.dumps(launch))
"""


def test_aot_plugin_and_fused_deploy_engine_in_a_compiling_process():
    """The MSLSTM AOT implementation with its real PTX (cross-compiled for sm_90: Triton's compiler, not the
    interpreter, so in a process without TRITON_INTERPRET) and a fused AOT engine built by the deploy suite."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", AOT_CONTRACT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0 and "AOT contract ok" in result.stdout, (result.stdout + result.stderr)[-4000:]


# ------------------------------------------------------------------------------------------------ export.cli
@pytest.mark.parametrize(
    "extra,flags,pools",
    [
        (["--fp16", "--timing-cache", "{tmp}/timing.cache", "--workspace-gib", "0.25"], {"FP16"},
         {"WORKSPACE": 2**28}),
        (["--bf16", "--tf32", "--fused", "--plugin-impl", "jit", "--min-shape", "1,2,2", "--opt-shape", "2,8,4",
          "--max-shape", "3,16,6"], {"BF16", "TF32"}, {}),
    ],
    ids=["portable-fp16-cache-workspace", "fused-jit-bf16-tf32-shapes"],
)
def test_cli_builds_and_writes_an_engine(trt, tmp_path, capsys, extra, flags, pools):
    checkpoint = write_checkpoint(tmp_path / "best.pt", "eamat")
    out = tmp_path / "model.engine"
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    code = main(["--ckpt", str(checkpoint), "--format", "trt", "--out", str(out), "--no-verify", *args])
    assert code == 0, capsys.readouterr().err
    assert out.is_file() and sidecar_path(out).is_file() and out.with_suffix(".onnx").is_file()
    info = trt.engine_info(out.read_bytes())
    assert set(info["flags"]) == flags and info["pools"] == pools
    if "--timing-cache" in args:
        assert (tmp_path / "timing.cache").is_file()
    video = next(t for t in info["tensors"] if t["name"] == "video")
    if "--max-shape" in args:
        assert video["profile"] == [[1, 2, VIDEO_DIM], [2, 8, VIDEO_DIM], [3, 16, VIDEO_DIM]]
    else:
        assert video["profile"] == [[1, 1, VIDEO_DIM], [1, MAX_CLIPS, VIDEO_DIM], [32, MAX_CLIPS, VIDEO_DIM]]
    runner = TensorRTRunner.load(out, "cpu")
    assert runner(inputs_for("eamat", 2, 7, 3)).keys() == set(runner.output_names)


def test_cli_verification_runs_the_engine_and_refuses_a_wrong_one(trt, tmp_path, capsys, monkeypatch):
    """With verification on, the CLI runs the engine on its parity inputs and writes nothing when it disagrees
    with PyTorch -- which the stand-in engine (outputs of ones) always does."""
    monkeypatch.setattr(TensorRTRunner.__init__, "__defaults__", ("cpu",))  # host memory instead of the GPU's
    checkpoint = write_checkpoint(tmp_path / "best.pt", "dp")
    out = tmp_path / "model.engine"
    code = main(["--ckpt", str(checkpoint), "--format", "trt", "--out", str(out), "--seed", "0", "--fused",
                 "--plugin-impl", "jit"])
    captured = capsys.readouterr()
    assert code == EXIT_PARITY, captured.err
    assert "parity vs PyTorch eval, TensorRT (fp32)" in captured.err and "parity check FAILED" in captured.err
    assert not out.exists() and not sidecar_path(out).exists()


# ------------------------------------------------------------------------------------------------ export runners
DEPLOY_BATCH = 3


@pytest.fixture
def deploy_exports(exported: Exported):
    """``ExportedFiles`` (the deploy suite's) of a tiny model whose portable ONNX file is the session's export
    (its own ``ExportedFiles.onnx`` is plain ``export_onnx``, exercised by the export tests)."""
    from export.runners import ExportedFiles

    shape = (DEPLOY_BATCH, MAX_CLIPS - 4, MAX_WORDS - 2)
    exports = ExportedFiles(None, len(ITOS), ShapeProfile(min=(1, 1, 1), opt=shape, max=shape))
    exports.onnx = {"portable": exported.onnx}.__getitem__  # instead of the cached method: the same file
    exports.name = exported.name
    return exports


def deploy_inputs(exports) -> tuple[dict[str, torch.Tensor], int, int]:
    batch, clips, words = exports.profile.max
    return inputs_for(exports.name, batch, clips, words), batch, clips


def test_deploy_suite_builds_saves_and_runs_a_tensorrt_engine(trt, deploy_exports):
    from export.runners import tensorrt_runner

    path = deploy_exports.engine("portable")
    assert Path(path).is_file() and sidecar_path(path).is_file()
    inputs, batch, clips = deploy_inputs(deploy_exports)
    out = tensorrt_runner(deploy_exports, "portable", torch.device("cpu"))(inputs)
    assert [tuple(o.shape) for o in out] == [(batch, clips), (batch, clips), (batch,)]


def test_deploy_suite_onnxruntime_gpu_runtime(ort, deploy_exports):
    from export.runners import onnxruntime_gpu_problem, onnxruntime_runner

    assert onnxruntime_gpu_problem(torch.device("cuda")) is None
    assert onnxruntime_gpu_problem(torch.device("cpu")) == "no CUDA device"
    inputs, batch, clips = deploy_inputs(deploy_exports)
    out = onnxruntime_runner(deploy_exports, CUDA_PROVIDERS)(inputs)
    assert [tuple(o.shape) for o in out] == [(batch, clips), (batch, clips), (batch,)]


# ------------------------------------------------------------------------------------------------ onnxruntime-gpu
def test_onnx_graph_and_localizer_on_the_cuda_provider(ort, exported: Exported):
    graph = OnnxGraph(exported.onnx, CUDA_PROVIDERS, threads=2)
    assert graph.session.get_providers() == CUDA_PROVIDERS and graph.session._options.intra_op_num_threads == 2
    out = graph(inputs_for(exported.name, 2, 9, 4))
    assert {k: v.shape for k, v in out.items()} == expected_shapes(graph_outputs(exported.onnx), 2, 9)
    localizer = OnnxLocalizer(exported.onnx, providers=CUDA_PROVIDERS, threads=1)
    assert localizer.graph.session.get_providers() == CUDA_PROVIDERS


# ------------------------------------------------------------------------------------------------ train
def test_training_binds_its_cuda_device_and_joins_nccl(monkeypatch):
    from train import distributed

    monkeypatch.setattr(torch.cuda, "is_available", mock.create_autospec(torch.cuda.is_available, return_value=True))
    set_device = mock.create_autospec(torch.cuda.set_device)
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    device = distributed.resolve_device("auto", distributed.Process(rank=1, world_size=2, local_rank=1))
    assert device == torch.device("cuda", 1)
    set_device.assert_called_once_with(device)

    init = mock.create_autospec(dist.init_process_group)
    monkeypatch.setattr(dist, "init_process_group", init)
    monkeypatch.setattr(dist, "is_initialized", mock.create_autospec(dist.is_initialized, return_value=False))
    for key, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(key, value)
    process, device = distributed.start("cuda")
    assert process.distributed and device == torch.device("cuda", 1)
    init.assert_called_once_with(backend="nccl")


def test_checkpoint_rng_state_carries_the_cuda_generators(monkeypatch):
    from train.rng import capture_rng, restore_rng

    states = [torch.zeros(16, dtype=torch.uint8)]
    for name, value in (("is_available", True), ("is_initialized", True), ("get_rng_state_all", states)):
        monkeypatch.setattr(torch.cuda, name, mock.create_autospec(getattr(torch.cuda, name), return_value=value))
    set_all = mock.create_autospec(torch.cuda.set_rng_state_all)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", set_all)
    state = capture_rng()
    assert state["cuda"] is states
    restore_rng(state)
    set_all.assert_called_once_with(states)
