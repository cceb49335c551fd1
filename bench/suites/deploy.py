"""Deployment suite: the exported inference graph through every runtime this machine has.

The computation is :class:`export.graph.InferenceGraph` -- model, boundary probabilities and best-span
decoding, exactly what ``python -m export`` writes -- on the model suite's dataset-like shapes, fp32.
Runtimes (``eager`` is the baseline; the others run a copy of the same weights, perturbed under
``--perturb``):

* ``eager``            -- PyTorch, reference kernels;
* ``compiled``         -- ``torch.compile`` of the same graph;
* ``triton``           -- the engine's fused kernels (``set_kernels("triton")``), CUDA only;
* ``onnxruntime-cpu`` / ``onnxruntime-gpu`` -- the portable ONNX export in ONNX Runtime (inputs are
  fed as numpy arrays, so host/device copies are part of the time, as for a real caller);
* ``tensorrt`` / ``tensorrt-fused`` -- TensorRT engines of the portable and the fused (plugin) export.

Parity compares ``start_prob``, ``end_prob`` and ``score``.  ONNX and engine files live in a temporary
directory, built once per model and shape and shared by the batch sizes.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.cases import Case, Result, Settings, Tensors, Variant
from bench.records import SkipRecord
from bench.suites import candidate_copy, compiled
from bench.suites.model import (
    CPU_SHAPES,
    GPU_SHAPES,
    MODELS,
    QUICK_SHAPES,
    ModelShapes,
    Workload,
    build,
    random_batch,
    shape_info,
    triton_reason,
)
from engine.models import MODEL_INPUTS

SUITE = "deploy"
COMPARED = ("start_prob", "end_prob", "score")  # float outputs of the graph; indices follow from them
# torch.compile of a whole model costs minutes on CPU (a graph break at every packed LSTM call): one workload,
# one LSTM Transformer block after EAMAT's motion CQA instead of three
CPU_DEPLOY_SHAPES = replace(CPU_SHAPES, workloads=CPU_SHAPES.workloads[:1], motion_blocks=1)
Runner = Callable[[dict[str, torch.Tensor]], Tensors]


def _export_reason() -> str | None:
    """Why the ``export`` package cannot be used, or None."""
    try:
        import export.graph  # noqa: F401
        import export.onnx_export  # noqa: F401
        import export.runtime  # noqa: F401
    except Exception as err:  # noqa: BLE001 -- any import failure means the deploy paths are unusable
        return f"the export package cannot be imported ({type(err).__name__}: {err})"
    return None


def _tensorrt_reason() -> str | None:
    try:
        from export.tensorrt import TensorRTUnavailable, tensorrt_module
    except Exception as err:  # noqa: BLE001
        return f"export.tensorrt cannot be imported ({type(err).__name__}: {err})"
    try:
        tensorrt_module()
    except TensorRTUnavailable as err:
        return str(err)
    return None


def _onnxruntime_gpu_reason(settings: Settings) -> str | None:
    import onnxruntime

    if settings.device.type != "cuda":
        return "no CUDA device"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return None


def graph_runner(model: nn.Module, kernels: str, compile_graph: bool = False) -> Runner:
    from export.graph import InferenceGraph

    graph = InferenceGraph(model, kernels)
    call = compiled(graph) if compile_graph else graph

    def run(inputs: dict[str, torch.Tensor]) -> Tensors:
        with torch.no_grad():
            out = call(*(inputs[name] for name in MODEL_INPUTS))
        return [out[0], out[1], out[4]]  # start_prob, end_prob, score

    return run


class Exports:
    """ONNX files and TensorRT engines of one model copy, built on first use in a temporary directory
    that is removed with this object."""

    def __init__(self, model: nn.Module, shapes: ModelShapes, workload: Workload) -> None:
        self.model, self.shapes, self.workload = model, shapes, workload
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-deploy-")
        self.root = Path(self._tmp.name)

    @functools.cache  # noqa: B019 -- one Exports per model copy, alive for the suite
    def onnx(self, variant: str) -> Path:
        from engine.config import Config
        from export.onnx_export import export_onnx

        config = Config()
        config.model = self.model.config
        itos = [f"w{i}" for i in range(self.shapes.vocab)]
        return export_onnx(self.model, config, itos, self.root / f"{variant}.onnx", variant=variant)

    @functools.cache  # noqa: B019
    def engine(self, variant: str) -> Path:
        from export.tensorrt import ShapeProfile, build_engine, save_engine

        T, N, batch = self.workload.clips, self.workload.words, max(self.shapes.infer_batches)
        profile = ShapeProfile(min=(1, 1, 1), opt=(batch, T, N), max=(batch, T, N))
        engine, metadata = build_engine(self.onnx(variant), profile)
        return save_engine(engine, metadata, self.root / f"{variant}.engine")


def onnxruntime_runner(exports: Exports, providers: list[str]) -> Runner:
    from export.runtime import OnnxGraph

    graph = OnnxGraph(exports.onnx("portable"), providers, threads=torch.get_num_threads())

    def run(inputs: dict[str, torch.Tensor]) -> Tensors:
        out = graph(inputs)
        return [torch.from_numpy(out[name]) for name in COMPARED]

    return run


def tensorrt_runner(exports: Exports, variant: str, device: torch.device) -> Runner:
    from export.tensorrt import TensorRTRunner

    runner = TensorRTRunner.load(exports.engine(variant), device)

    def run(inputs: dict[str, torch.Tensor]) -> Tensors:
        out = runner(inputs)
        return [out[name] for name in COMPARED]

    return run


def lazy_variant(name: str, runtime: Callable[[], Runner], timed: bool = True) -> Variant:
    """A variant whose runtime (``runtime()``, cached by the caller) is built -- exported, compiled into an
    engine -- on its first call, so a build failure shows up as that variant's parity failure."""

    def run(inputs: dict[str, torch.Tensor]) -> Result:
        return runtime()(inputs), []

    return Variant(name, run, timed)


def deploy_cases(settings: Settings, shapes: ModelShapes, name: str, workload: Workload,
                 skips: dict[str, str]) -> Iterator[Case]:
    device = settings.device
    base = build(name, shapes, workload, device).eval()
    twin = candidate_copy(copy.deepcopy(base), settings)
    exports = Exports(copy.deepcopy(twin).cpu(), shapes, workload)
    makers: dict[str, Callable[[], Runner]] = {
        "eager": lambda: graph_runner(base, "reference"),
        "compiled": lambda: graph_runner(twin, "reference", compile_graph=True),
        "triton": lambda: graph_runner(twin, "triton"),
        "onnxruntime-cpu": lambda: onnxruntime_runner(exports, ["CPUExecutionProvider"]),
        "onnxruntime-gpu": lambda: onnxruntime_runner(exports, ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        "tensorrt": lambda: tensorrt_runner(exports, "portable", device),
        "tensorrt-fused": lambda: tensorrt_runner(exports, "fused", device),
    }
    runtimes = {runtime: functools.cache(make) for runtime, make in makers.items() if runtime not in skips}
    shape = shape_info(name, shapes, workload)

    def make_input(batch: int) -> Callable[[int], dict[str, torch.Tensor]]:
        return lambda seed: {k: v for k, v in random_batch(seed, batch, shapes, workload, device).items()
                             if k in MODEL_INPUTS}

    for batch in shapes.infer_batches:
        yield Case(
            SUITE, f"{name} {workload.name} infer b={batch}", torch.float32, {"B": batch, **shape},
            make_input(batch), [lazy_variant(runtime, make) for runtime, make in runtimes.items()],
            items=batch, memory=device.type == "cuda",
        )


def skipped_runtimes(settings: Settings) -> dict[str, str]:
    """runtime -> why it does not run on this machine / in this mode."""
    skips = {}
    if settings.compile_skip:
        skips["compiled"] = settings.compile_skip
    if settings.device.type != "cuda":
        skips["triton"] = ("the fused kernels are timed on CUDA only; on CPU their parity is checked through the "
                           "Triton interpreter in the kernels and model suites")
    elif triton_reason(settings):
        skips["triton"] = triton_reason(settings)
    if _onnxruntime_gpu_reason(settings):
        skips["onnxruntime-gpu"] = _onnxruntime_gpu_reason(settings)
    trt = _tensorrt_reason()
    if trt:
        skips["tensorrt"] = skips["tensorrt-fused"] = trt
    elif triton_reason(settings):
        skips["tensorrt-fused"] = f"its plugins run the Triton kernels: {triton_reason(settings)}"
    return skips


def _shapes(settings: Settings) -> ModelShapes:
    if settings.quick:
        return QUICK_SHAPES
    return GPU_SHAPES if settings.device.type == "cuda" else CPU_DEPLOY_SHAPES


def cases(settings: Settings) -> Iterator[Any]:
    reason = _export_reason()
    if reason:
        yield SkipRecord(SUITE, "all", "all", reason, part=settings.part)
        return
    skips = skipped_runtimes(settings)
    for runtime, why in skips.items():
        yield SkipRecord(SUITE, "all", runtime, why, part=settings.part)
    shapes = _shapes(settings)
    for workload in shapes.workloads:
        for name in MODELS:
            yield from deploy_cases(settings, shapes, name, workload, skips)
