"""Exports as written before the graphs took ``query_row``: one query per row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export.onnx_export import METADATA_KEY
from export.runtime import QUERY_INPUTS


def without_query_row(path: Path, out: Path) -> Path:
    """The export at ``path`` as an export made before ``query_row`` existed, written to ``out``: the graph computes
    ``query_row = arange(batch)`` itself (row i asks query i) and its query inputs are per row (first axis
    ``batch``), which is what those graphs computed."""
    proto = onnx.load(str(path))
    graph = proto.graph
    (query_row,) = [i for i in graph.input if i.name == "query_row"]
    graph.input.remove(query_row)
    for tensor in graph.input:
        if tensor.name in QUERY_INPUTS:
            tensor.type.tensor_type.shape.dim[0].dim_param = "batch"

    def scalar(name: str, value: int) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, np.int64)))

    rows = [
        helper.make_node("Shape", ["video"], ["legacy_batch_1d"], start=0, end=1),
        helper.make_node("Squeeze", ["legacy_batch_1d"], ["legacy_batch"]),
        scalar("legacy_zero", 0), scalar("legacy_one", 1),
        helper.make_node("Range", ["legacy_zero", "legacy_batch", "legacy_one"], ["query_row"]),
    ]
    for node in reversed(rows):
        graph.node.insert(0, node)
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = json.loads(props[METADATA_KEY])
    metadata["inputs"] = [name for name in metadata["inputs"] if name != "query_row"]
    helper.set_model_props(proto, {**props, METADATA_KEY: json.dumps(metadata)})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out
