"""Checkpoint -> ONNX file of the :class:`~export.graph.InferenceGraph`, dynamic in batch, queries, clips and
words.

Exporter choice.  torch 2.9+ defaults to the ``torch.export`` (dynamo) exporter; for these models it
either stops on the data-dependent length checks or, where a graph comes out, unrolls the LSTMs over
the example's length -- the exported model silently stays at that length.  We use the TorchScript
exporter (``dynamo=False``, still shipped in torch 2.11 - 2.13): it maps the packed-sequence LSTMs of
the reference MS-LSTM (and Dynamic Pathway's query BiLSTM) to ONNX ``LSTM`` nodes with a
``sequence_lens`` input, and traces shape arithmetic as graph ops.  Every export is verified at other
batch sizes and lengths (:mod:`export.verify`); the tests prove the lengths stay dynamic.

Variants: "portable" (standard ONNX ops only, opset 17; runs in ONNX Runtime and TensorRT's parser)
and "fused" (MS-LSTM / CQA as ``grounding`` custom nodes, see :mod:`export.custom_nodes`; TensorRT only).

Metadata: the ONNX file is self-contained.  ``metadata_props["grounding"]`` holds a JSON object with
the format tag, variant, full training config, vocabulary (``itos``) and input / output names, which is
all :class:`export.OnnxLocalizer` needs besides the graph (the word vectors are graph initializers).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn
from torch.onnx import symbolic_helper

from engine.atomic import atomic_output
from engine.config import Config
from engine.models import MODEL_INPUTS
from export.custom_nodes import DOMAIN, OPSET_VERSION, node_backend
from export.graph import AXES, ROW_AXES, InferenceGraph, random_inputs

OPSET = 17  # LayerNormalization is opset 17
EXAMPLE_SHAPE = (2, 16, 6)  # (batch, clips, words) traced; verification runs other shapes
METADATA_KEY = "grounding"
FORMAT = "grounding-engine-onnx/1"
VARIANTS = ("portable", "fused")


def export_metadata(config: Config, itos: Sequence[str], variant: str, output_names: Sequence[str]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "variant": variant,
        "model": config.model.name,
        "config": config.to_dict(),
        "vocab": list(itos),
        "inputs": list(MODEL_INPUTS),
        "outputs": list(output_names),
    }


def export_onnx(
    model: nn.Module,
    config: Config,
    itos: Sequence[str],
    path: str | Path,
    *,
    variant: str = "portable",
    plugin_impl: str = "aot",
    opset: int = OPSET,
    example: tuple[int, int, int] = EXAMPLE_SHAPE,
) -> Path:
    """Write the inference graph of ``model`` to ``path`` (atomically) and return ``path``.

    ``config`` and ``itos`` (the vocabulary) are embedded as metadata; ``variant`` "portable" | "fused"
    (``plugin_impl`` "aot" | "jit": the MSLSTM plugin implementation of the fused variant);
    ``example`` is the (batch, clips, words) of the tracing inputs (any; the graph stays dynamic).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    graph = InferenceGraph(model, node_backend(plugin_impl) if variant == "fused" else "reference")
    inputs = random_inputs(config.model, *example, torch.Generator().manual_seed(0))
    path = Path(path)
    with atomic_output(path) as tmp, torch.no_grad(), _quiet_tracing(), _static_squeeze(opset):
        torch.onnx.export(
            graph, tuple(inputs[name] for name in MODEL_INPUTS), str(tmp), dynamo=False,
            input_names=list(MODEL_INPUTS), output_names=list(graph.output_names),
            dynamic_axes={name: AXES.get(name, ROW_AXES) for name in (*MODEL_INPUTS, *graph.output_names)},
            opset_version=opset,
            custom_opsets={DOMAIN: OPSET_VERSION} if variant == "fused" else None,
        )
        proto = onnx.load(str(tmp))
        metadata = export_metadata(config, itos, variant, graph.output_names)
        onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(metadata)})
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return path


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The checked ``grounding`` metadata of an exported ONNX file (its weights are not loaded)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # truncated or not an ONNX file
        raise ValueError(f"cannot read ONNX file {path}: {err}") from err
    return read_metadata({p.key: p.value for p in proto.metadata_props}, str(path))


def read_metadata(props: dict[str, str], source: str) -> dict[str, Any]:
    """Parse and check the ``grounding`` metadata of an exported model (``props``: its metadata_props)."""
    if METADATA_KEY not in props:
        raise ValueError(f"{source} was not written by `python -m export` (no '{METADATA_KEY}' metadata)")
    try:
        metadata = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: corrupted '{METADATA_KEY}' metadata: {err}") from err
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{source}: metadata format {metadata.get('format')!r}, this version reads {FORMAT!r}")
    return metadata


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the exporter's expected warnings: argument checks traced as constants (they never fire on
    valid inputs), the legacy-exporter deprecation notice and the LSTM batch-size note (the batch stays dynamic here: no
    initial states are passed, and every export is verified at other batch sizes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        yield


@contextlib.contextmanager
def _static_squeeze(opset: int) -> Iterator[None]:
    """Export ``x.squeeze(dim)`` as a plain ``Squeeze`` during one export.

    When the exporter cannot see a dimension's static size it emits ``If(size == 1, Squeeze, Identity)``,
    whose branches differ in rank -- which TensorRT builds only when it can prove the condition constant.
    The models squeeze structural size-1 axes only (score heads' ``Linear(., 1)``); were a squeezed axis
    not 1 at run time, ``Squeeze`` raises in ONNX Runtime / TensorRT (caught by the verification) rather
    than silently changing the result.
    """
    torch.onnx.register_custom_op_symbolic("aten::squeeze", _squeeze_symbolic, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::squeeze", opset)


def _squeeze_symbolic(g, self, dim=None):
    if dim is None:
        return g.op("Squeeze", self)
    dims = symbolic_helper._get_const(dim, "i" if symbolic_helper._get_tensor_rank(dim) == 0 else "is", "dim")
    dims = [dims] if isinstance(dims, int) else list(dims)
    rank = symbolic_helper._get_tensor_rank(self)
    sizes = [symbolic_helper._get_tensor_dim_size(self, d % rank) if rank else None for d in dims]
    kept = [d for d, size in zip(dims, sizes, strict=True) if size is None or size == 1]  # a size > 1: no-op
    if not kept:
        return self
    return g.op("Squeeze", self, g.op("Constant", value_t=torch.tensor(kept, dtype=torch.int64)))
