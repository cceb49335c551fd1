"""One exported model through each runtime, behind one call: ``runner(inputs) -> [tensor per compared output]``.

The runtimes are PyTorch (the :class:`~export.graph.InferenceGraph`, eager or wrapped, e.g. compiled), ONNX
Runtime and TensorRT.  A runner takes the model inputs as torch tensors (ONNX Runtime gets numpy arrays, so host /
device copies are part of a call, as for a real caller) and returns the float outputs :data:`COMPARED` as torch
tensors, so a caller (the bench's deploy suite, a parity check) compares and times runtimes without knowing them.
:class:`ExportedFiles` builds the ONNX files and TensorRT engines of one model on first use, in a temporary
directory removed with it.  What a machine lacks is said by :func:`tensorrt_problem` and
:func:`onnxruntime_gpu_problem` rather than by an import error.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.models import MODEL_INPUTS
from export.graph import SPAN_OUTPUTS, InferenceGraph
from export.tensorrt import ShapeProfile

COMPARED = ("start_prob", "end_prob", "score")  # float outputs of the graph; the indices follow from them
Runner = Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]


def tensorrt_problem() -> str | None:
    """Why TensorRT cannot run here (not installed, no CUDA, ...), or None."""
    from export.tensorrt import TensorRTUnavailable, tensorrt_module

    try:
        tensorrt_module()
    except TensorRTUnavailable as err:
        return str(err)
    return None


def onnxruntime_gpu_problem(device: torch.device) -> str | None:
    """Why ONNX Runtime cannot run on ``device``'s GPU, or None."""
    from export.runtime import onnxruntime_module

    if device.type != "cuda":
        return "no CUDA device"
    if "CUDAExecutionProvider" not in onnxruntime_module().get_available_providers():
        return "onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return None


class ExportedFiles:
    """ONNX files and TensorRT engines of one model (eval mode, on CPU), built on first use in a temporary
    directory that is removed with this object.  ``vocab_size`` words name the vocabulary of the metadata;
    ``profile`` is the engines' shape range."""

    def __init__(self, model: nn.Module, vocab_size: int, profile: ShapeProfile) -> None:
        self.model, self.vocab_size, self.profile = model, vocab_size, profile
        self._tmp = tempfile.TemporaryDirectory(prefix="export-runners-")
        self.root = Path(self._tmp.name)

    @functools.cache  # noqa: B019 -- one object per model copy, alive as long as its caller needs the files
    def onnx(self, variant: str) -> Path:
        """The ``variant`` ("portable" | "fused") ONNX file."""
        from engine.config import Config
        from export.onnx_export import export_onnx

        config = Config()
        config.model = self.model.config
        itos = [f"w{i}" for i in range(self.vocab_size)]
        return export_onnx(self.model, config, itos, self.root / f"{variant}.onnx", variant=variant)

    @functools.cache  # noqa: B019
    def engine(self, variant: str) -> Path:
        """The TensorRT engine of the ``variant`` ONNX file."""
        from export.tensorrt import build_engine, save_engine

        engine, metadata = build_engine(self.onnx(variant), self.profile)
        return save_engine(engine, metadata, self.root / f"{variant}.engine")


def graph_runner(model: nn.Module, kernels: str, wrap: Callable[[nn.Module], Callable[..., Any]] | None = None
                 ) -> Runner:
    """PyTorch: ``model``'s inference graph with the ``kernels`` backend, called through ``wrap`` (e.g.
    ``torch.compile``) when given."""
    graph = InferenceGraph(model, kernels)
    call = wrap(graph) if wrap is not None else graph
    positions = [SPAN_OUTPUTS.index(name) for name in COMPARED]

    def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            out = call(*(inputs[name] for name in MODEL_INPUTS))
        return [out[i] for i in positions]

    return run


def onnxruntime_runner(files: ExportedFiles, providers: list[str]) -> Runner:
    """ONNX Runtime on the portable export, with ``providers`` and torch's thread count."""
    from export.runtime import OnnxGraph

    graph = OnnxGraph(files.onnx("portable"), providers, threads=torch.get_num_threads())

    def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        out = graph(inputs)
        return [torch.from_numpy(out[name]) for name in COMPARED]

    return run


def tensorrt_runner(files: ExportedFiles, variant: str, device: torch.device) -> Runner:
    """TensorRT on the engine of the ``variant`` export, on ``device``."""
    from export.tensorrt import TensorRTRunner

    runner = TensorRTRunner.load(files.engine(variant), device)

    def run(inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        out = runner(inputs)
        return [out[name] for name in COMPARED]

    return run
