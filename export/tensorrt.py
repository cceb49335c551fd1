"""TensorRT engines from an exported ONNX file: build, run, localize.

Needs TensorRT >= 10.8 (``pip install tensorrt``) and a CUDA GPU; ``tensorrt`` is imported on first use
and its absence raises :class:`TensorRTUnavailable` saying so.  The engine is built from the ONNX file
with the documented Python API (``trt.Builder``, ``trt.OnnxParser``, one optimization profile over
batch / queries / clips / words, optional FP16 / BF16, a timing cache file), can be run and verified from memory,
and is written atomically with its sidecar ``<engine>.json``: the export metadata (config, vocabulary)
:class:`TensorRTLocalizer` needs.
A fused export's MSLSTM / CQA nodes become plugins (:mod:`export.trt_plugins`), registered before the
network is parsed and before an engine is loaded.

Status: written against the TensorRT documentation; this project's CI has neither a GPU nor TensorRT,
so these paths are unverified there (their tests skip, saying why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from engine.atomic import atomic_output
from export.graph import AXES
from export.onnx_export import METADATA_KEY, read_metadata, read_onnx_metadata
from export.runtime import ExportedLocalizer, Inputs, graph_inputs

PRECISIONS = ("fp32", "fp16", "bf16")
Shape = tuple[int, int, int]  # (batch, clips, words)


class TensorRTUnavailable(RuntimeError):
    """TensorRT or a CUDA GPU is missing (the message says which and how to get it)."""


def tensorrt_module() -> ModuleType:
    """``import tensorrt``, or :class:`TensorRTUnavailable` naming what is missing."""
    try:
        import tensorrt
    except ImportError as err:
        raise TensorRTUnavailable(
            "TensorRT is not installed: `pip install tensorrt` (>= 10.8) on a machine with an NVIDIA GPU"
        ) from err
    if not torch.cuda.is_available():
        raise TensorRTUnavailable("no CUDA GPU: TensorRT engines are built and run on an NVIDIA GPU")
    return tensorrt


@dataclass(frozen=True)
class ShapeProfile:
    """The optimization profile: smallest, tuned-for and largest (batch, clips, words) an engine accepts.

    The queries of a batch (the first axis of ``words``, ``word_mask``, ``word_class``: :mod:`export.graph`) range
    from 1 (every row asks the same query: the windows of one video) to the batch (each row its own), tuned for
    the batch."""

    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self) -> None:
        for name, shape in asdict(self).items():
            if len(shape) != 3 or min(shape) < 1:
                raise ValueError(f"profile {name} must be 3 sizes >= 1 (batch, clips, words), got {shape}")
        if not all(a <= b <= c for a, b, c in zip(self.min, self.opt, self.max, strict=True)):
            raise ValueError(f"profile needs min <= opt <= max per axis, got {self.min}, {self.opt}, {self.max}")

    def input_shape(self, name: str, which: str, video_dim: int) -> tuple[int, ...]:
        """The shape of model input ``name`` at profile point ``which`` ("min" | "opt" | "max")."""
        batch, clips, words = getattr(self, which)
        sizes = {"batch": batch, "queries": 1 if which == "min" else batch, "clips": clips, "words": words}
        axes = AXES[name]
        return tuple(sizes[axes[axis]] for axis in range(len(axes))) + ((video_dim,) if name == "video" else ())

    def clamp(self, shape: Shape) -> Shape:
        """The nearest (batch, clips, words) the profile accepts."""
        return tuple(min(max(n, lo), hi) for lo, n, hi in zip(self.min, shape, self.max, strict=True))


def build_engine(
    onnx_path: str | Path,
    profile: ShapeProfile,
    *,
    precision: str = "fp32",
    tf32: bool = False,
    timing_cache: str | Path | None = None,
    workspace_gib: float | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Build a TensorRT engine from an exported ONNX file -> (serialized engine, metadata for its sidecar).

    ``precision`` "fp32" | "fp16" | "bf16" allows that reduced precision (layers may still run fp32);
    TF32 is off unless ``tf32`` (the fp32 parity bound is 1e-4).  ``timing_cache`` is read when it exists
    and rewritten (atomically) after the build.  Nothing else is written: see :func:`save_engine`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    trt = tensorrt_module()
    onnx_path = Path(onnx_path)
    metadata = read_onnx_metadata(onnx_path)
    if metadata["variant"] == "fused":
        from export.trt_plugins import register_plugins

        register_plugins()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}:\n{errors}")

    config = builder.create_builder_config()
    shapes = builder.create_optimization_profile()
    video_dim = metadata["config"]["model"]["video_dim"]
    for i in range(network.num_inputs):
        name = network.get_input(i).name
        shapes.set_shape(name, *(profile.input_shape(name, which, video_dim) for which in ("min", "opt", "max")))
    config.add_optimization_profile(shapes)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "bf16":
        config.set_flag(trt.BuilderFlag.BF16)
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    if workspace_gib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    cache_path = Path(timing_cache) if timing_cache else None
    cached = cache_path.read_bytes() if cache_path and cache_path.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(cached), ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path} (see the TensorRT log above)")
    if cache_path:
        with atomic_output(cache_path) as tmp:
            tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
    engine_info = {"profile": asdict(profile), "precision": precision, "tf32": tf32, "tensorrt": trt.__version__}
    return bytes(memoryview(serialized)), {**metadata, "engine": engine_info}


def sidecar_path(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json`` (the engine's export metadata)."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def save_engine(engine: bytes, metadata: dict[str, Any], path: str | Path) -> Path:
    """Write the sidecar, then the engine, each atomically (an interrupted save leaves no partial engine)."""
    path = Path(path)
    with atomic_output(sidecar_path(path)) as tmp:
        tmp.write_text(json.dumps(metadata))
    with atomic_output(path) as tmp:
        tmp.write_bytes(engine)
    return path


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} (the engine's metadata, written by `python -m export`) does not exist")
    return read_metadata({METADATA_KEY: path.read_text()}, str(path))


class TensorRTRunner:
    """An engine ready to run: ``runner(inputs) -> {output name: CUDA tensor}``.

    Inputs are moved to the GPU in the engine's dtypes; each call sets the input shapes (which must lie
    inside the engine's profile), allocates the outputs as torch CUDA tensors and runs
    ``execute_async_v3`` on the current torch stream.  The engine of a file exported before ``query_row``
    existed gets one query per row (:func:`export.runtime.graph_inputs`).
    """

    def __init__(self, engine: bytes, metadata: dict[str, Any], device: str | torch.device = "cuda") -> None:
        trt = tensorrt_module()
        self.metadata = metadata
        if metadata["variant"] == "fused":
            from export.trt_plugins import register_plugins

            register_plugins()
        self.device = torch.device(device)
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine)
        if self.engine is None:
            raise ValueError("not a TensorRT engine this TensorRT version and GPU can load (see the log above)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        torch_dtypes = {
            trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16,
            trt.int32: torch.int32, trt.int64: torch.int64, trt.bool: torch.bool, trt.int8: torch.int8,
            trt.uint8: torch.uint8,
        }
        self.dtypes = {n: torch_dtypes[self.engine.get_tensor_dtype(n)] for n in names}

    @classmethod
    def load(cls, engine_path: str | Path, device: str | torch.device = "cuda") -> TensorRTRunner:
        """A saved engine and its sidecar metadata."""
        metadata = read_sidecar(engine_path)
        return cls(Path(engine_path).read_bytes(), metadata, device)

    def __call__(self, inputs: Inputs) -> dict[str, torch.Tensor]:
        inputs = graph_inputs(inputs, self.input_names)
        held = []  # keep the device copies alive until the engine has run
        for name in self.input_names:
            tensor = torch.as_tensor(inputs[name]).to(self.device, self.dtypes[name]).contiguous()
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                profile = self.metadata["engine"]["profile"]
                raise ValueError(f"input {name} of shape {tuple(tensor.shape)} lies outside the engine's profile "
                                 f"{profile}")
            self.context.set_tensor_address(name, tensor.data_ptr())
            held.append(tensor)
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            outputs[name] = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        stream.synchronize()
        return outputs


class TensorRTLocalizer(ExportedLocalizer):
    """``TensorRTLocalizer(engine_path).predict(features, query, duration=None, k=5)`` on a TensorRT engine."""

    def __init__(self, engine_path: str | Path, device: str | torch.device = "cuda") -> None:
        self.runner = TensorRTRunner.load(engine_path, device)
        super().__init__(self.runner.metadata, str(sidecar_path(engine_path)))

    def run(self, inputs: Inputs) -> Mapping[str, torch.Tensor]:
        return self.runner(inputs)
