"""Running an exported graph: :class:`OnnxGraph` (ONNX Runtime) and the localizers over exported graphs.

:class:`ExportedLocalizer` gives every exported runtime the ``predict`` of ``engine.Localizer``, with
the same pre- and post-processing (:mod:`engine.inference`); the config and vocabulary come from the
export's metadata, so an exported file needs no checkpoint.  :func:`graph_inputs` feeds a file exported before
the graphs took ``query_row``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import Config
from engine.inference import BaseLocalizer
from engine.models.spec import per_row
from engine.text import TextProcessor
from engine.vocab import Vocabulary
from export.graph import AXES
from export.onnx_export import read_onnx_metadata

Inputs = Mapping[str, torch.Tensor | np.ndarray]
QUERY_INPUTS = tuple(name for name, axes in AXES.items() if axes[0] == "queries")  # one row per query


class ExportedLocalizer(BaseLocalizer):
    """``predict(features, query, duration=None, k=5)``, ``predict_many`` and ``localize`` as ``engine.Localizer``,
    over ``self.run``.

    Subclasses implement ``run(inputs) -> {output name: array or tensor}`` for a padded batch of model
    inputs.  A TensorRT engine's largest profile batch (in its metadata) caps the rows per call.
    """

    def __init__(self, metadata: dict[str, Any], source: str) -> None:
        self.metadata = metadata
        self.config = Config.from_dict(metadata["config"], source)
        itos = metadata["vocab"]
        # text processing only needs the word ids; the word vectors are inside the exported graph
        vocab = Vocabulary(itos, np.zeros((len(itos), 1), dtype=np.float32))
        self.text = TextProcessor.for_config(vocab, self.config)
        self.device = torch.device("cpu")
        profile_max = (metadata.get("engine") or {}).get("profile", {}).get("max")
        self.max_batch = int(profile_max[0]) if profile_max else None

    def run(self, inputs: Inputs) -> Mapping[str, Any]:
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The graph's boundary probabilities as log-probabilities (their softmax is the distribution), its
        presence probability as a logit and its inner logits (each absent from exports made before it existed)."""
        out = self.run(inputs)
        scores = {f"{side}_logits": torch.as_tensor(out[f"{side}_prob"]).float().log() for side in ("start", "end")}
        if "presence" in out:
            scores["presence_logits"] = torch.logit(torch.as_tensor(out["presence"]).double())
        if "inner_logits" in out:
            scores["inner_logits"] = torch.as_tensor(out["inner_logits"]).float()
        choice = self.spec.choice
        if choice and choice.output in out:
            scores[choice.output] = torch.as_tensor(out[choice.output])
        return scores


class OnnxGraph:
    """An exported portable graph in an ONNX Runtime session: ``graph(inputs) -> {output name: ndarray}``.

    ``inputs`` may hold more tensors than the graph takes (Dynamic Pathway's export has no
    ``word_class``); only the graph's own inputs are fed.
    """

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        self.metadata = read_onnx_metadata(path)
        if self.metadata["variant"] != "portable":
            raise ValueError(
                f"{path} is the {self.metadata['variant']!r} export: its custom MSLSTM / CQA nodes run only in "
                "TensorRT (export.TensorRTLocalizer); export the portable variant for ONNX Runtime"
            )
        ort = onnxruntime_module()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, inputs: Inputs) -> dict[str, np.ndarray]:
        inputs = graph_inputs(inputs, self.input_names)
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise KeyError(f"inputs lack {missing}; the graph takes {self.input_names}")
        feed = {name: _as_numpy(inputs[name]) for name in self.input_names}
        return dict(zip(self.output_names, self.session.run(None, feed), strict=True))


class OnnxLocalizer(ExportedLocalizer):
    """``OnnxLocalizer(onnx_path).predict(features, query, duration=None, k=5)`` on ONNX Runtime.

    ``providers`` default to CPU (pass ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with
    onnxruntime-gpu); ``threads`` caps ONNX Runtime's intra-op threads.
    """

    def __init__(self, onnx_path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None):
        self.graph = OnnxGraph(onnx_path, providers, threads)
        super().__init__(self.graph.metadata, str(onnx_path))

    def run(self, inputs: Inputs) -> dict[str, np.ndarray]:
        return self.graph(inputs)


def graph_inputs(inputs: Inputs, input_names: Sequence[str]) -> Inputs:
    """``inputs`` as a graph of ``input_names`` takes them.  A graph exported before ``query_row`` existed (no
    such input) takes one query per row: each row's query is then picked from :data:`QUERY_INPUTS` by
    ``query_row``.  Other graphs, and inputs without ``query_row`` (one query per row already), pass as they are."""
    if "query_row" in input_names or "query_row" not in inputs:
        return inputs
    names = [name for name in QUERY_INPUTS if name in inputs]
    queries = [torch.as_tensor(inputs[name]) for name in names]
    rows = torch.as_tensor(inputs["query_row"]).to(queries[0].device)
    return {**inputs, **dict(zip(names, per_row(rows, *queries), strict=True))}


def _as_numpy(value: torch.Tensor | np.ndarray) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def onnxruntime_module() -> Any:
    """``import onnxruntime`` on first use, or an ImportError naming the package to install."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError("running an exported model needs ONNX Runtime: pip install onnxruntime "
                          "(or onnxruntime-gpu on a CUDA machine)") from err
    return onnxruntime
