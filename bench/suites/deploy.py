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

The runtimes themselves are :mod:`export.runners`'; parity compares their ``COMPARED`` outputs (``start_prob``,
``end_prob``, ``score``).  ONNX and engine files live in a temporary directory, built once per model and shape and
shared by the batch sizes.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import torch

from bench.cases import Case, Result, Settings, Tensors, Variant
from bench.records import SkipRecord
from bench.suites import candidate_copy, compiled, fused_backend
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
from kernels.registry import REFERENCE

SUITE = "deploy"
# torch.compile of a whole model costs minutes on CPU (a graph break at every packed LSTM call): one workload,
# one LSTM Transformer block after EAMAT's motion CQA instead of three
CPU_DEPLOY_SHAPES = replace(CPU_SHAPES, workloads=CPU_SHAPES.workloads[:1], motion_blocks=1)
Runner = Callable[[dict[str, torch.Tensor]], Tensors]  # as export.runners.Runner (imported only when export is)


def _export_reason() -> str | None:
    """Why the ``export`` package cannot be used, or None."""
    try:
        import export.graph  # noqa: F401
        import export.onnx_export  # noqa: F401
        import export.runners  # noqa: F401
        import export.runtime  # noqa: F401
    except Exception as err:  # noqa: BLE001 -- any import failure means the deploy paths are unusable
        return f"the export package cannot be imported ({type(err).__name__}: {err})"
    return None


def _tensorrt_reason() -> str | None:
    try:
        from export.runners import tensorrt_problem
    except Exception as err:  # noqa: BLE001
        return f"export.runners cannot be imported ({type(err).__name__}: {err})"
    return tensorrt_problem()


def lazy_variant(name: str, runtime: Callable[[], Runner], timed: bool = True) -> Variant:
    """A variant whose runtime (``runtime()``, cached by the caller) is built -- exported, compiled into an
    engine -- on its first call, so a build failure shows up as that variant's parity failure."""

    def run(inputs: dict[str, torch.Tensor]) -> Result:
        return runtime()(inputs), []

    return Variant(name, run, timed)


def deploy_cases(settings: Settings, shapes: ModelShapes, name: str, workload: Workload,
                 skips: dict[str, str]) -> Iterator[Case]:
    from export.runners import ExportedFiles, graph_runner, onnxruntime_runner, tensorrt_runner
    from export.tensorrt import ShapeProfile

    device = settings.device
    base = build(name, shapes, workload, device).eval()
    twin = candidate_copy(copy.deepcopy(base), settings)
    T, N, batch = workload.clips, workload.words, max(shapes.infer_batches)
    exports = ExportedFiles(copy.deepcopy(twin).cpu(), shapes.vocab,
                            ShapeProfile(min=(1, 1, 1), opt=(batch, T, N), max=(batch, T, N)))
    makers: dict[str, Callable[[], Runner]] = {
        "eager": lambda: graph_runner(base, REFERENCE),
        "compiled": lambda: graph_runner(twin, REFERENCE, wrap=compiled),
        fused_backend(): lambda: graph_runner(twin, fused_backend()),
        "onnxruntime-cpu": lambda: onnxruntime_runner(exports, ["CPUExecutionProvider"]),
        "onnxruntime-gpu": lambda: onnxruntime_runner(exports, ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        "tensorrt": lambda: tensorrt_runner(exports, "portable", device),
        "tensorrt-fused": lambda: tensorrt_runner(exports, "fused", device),
    }
    runtimes = {runtime: functools.cache(make) for runtime, make in makers.items() if runtime not in skips}
    shape = shape_info(name, shapes, workload)

    def make_input(batch: int) -> Callable[[int], dict[str, torch.Tensor]]:
        def inputs(seed: int) -> dict[str, torch.Tensor]:  # dataset-like: each row asks its own query
            tensors = random_batch(seed, batch, shapes, workload, device)
            tensors["query_row"] = torch.arange(batch, device=device)
            return {name: tensors[name] for name in MODEL_INPUTS}

        return inputs

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
        skips[fused_backend()] = ("the fused kernels are timed on CUDA only; on CPU their parity is checked through "
                                  "the Triton interpreter in the kernels and model suites")
    elif triton_reason(settings):
        skips[fused_backend()] = triton_reason(settings)
    from export.runners import onnxruntime_gpu_problem

    if onnxruntime_gpu_problem(settings.device):
        skips["onnxruntime-gpu"] = onnxruntime_gpu_problem(settings.device)
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
