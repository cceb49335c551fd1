"""Stand-in for ``import onnxruntime`` as onnxruntime-gpu installs it (CUDA and CPU execution providers).

``InferenceSession(path_or_bytes, sess_options=None, providers=None, provider_options=None, **kwargs)`` reads
the model's inputs and outputs; it checks the options' type, that ``providers`` is a list of provider names
(or ``(name, options)`` pairs) ONNX Runtime knows, and at ``run`` that the feed names every graph input, no
other, with numpy arrays of the graph's dtype and rank.  Outputs are arrays of ones / zeros whose shapes follow
from the fed shapes (see :mod:`tests.standins`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__version__ = "1.22.0+standin"
KNOWN_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
AVAILABLE_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
_NUMPY = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
          11: np.float64}
_TYPE_NAMES = {1: "float", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "double"}


def get_available_providers() -> list[str]:
    return list(AVAILABLE_PROVIDERS)


def get_device() -> str:
    return "GPU"


class SessionOptions:
    _INT_FIELDS = ("intra_op_num_threads", "inter_op_num_threads", "log_severity_level")

    def __init__(self) -> None:
        object.__setattr__(self, "intra_op_num_threads", 0)
        object.__setattr__(self, "inter_op_num_threads", 0)
        object.__setattr__(self, "log_severity_level", 2)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._INT_FIELDS:
            raise AttributeError(f"'SessionOptions' object has no attribute '{name}' (stand-in: not used here)")
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"SessionOptions.{name}: incompatible type {type(value).__name__}, expected int")
        object.__setattr__(self, name, value)


class NodeArg:
    def __init__(self, name: str, shape: list[str | int], elem_type: int) -> None:
        self.name, self.shape, self._elem_type = name, shape, elem_type
        self.type = f"tensor({_TYPE_NAMES[elem_type]})"


class InferenceSession:
    def __init__(self, path_or_bytes: str | bytes | os.PathLike, sess_options: SessionOptions | None = None,
                 providers: Sequence[str | tuple[str, dict]] | None = None,
                 provider_options: Sequence[dict] | None = None, **kwargs: Any) -> None:
        import onnx

        if kwargs:
            raise TypeError(f"InferenceSession: unexpected keyword arguments {sorted(kwargs)}")
        if sess_options is not None and not isinstance(sess_options, SessionOptions):
            raise TypeError(f"InferenceSession: sess_options must be SessionOptions, got {type(sess_options).__name__}")
        if providers is not None:
            if isinstance(providers, (str, bytes)) or not isinstance(providers, (list, tuple)):
                raise TypeError(f"InferenceSession: providers must be a list of provider names, got {providers!r}")
            names = [p[0] if isinstance(p, tuple) else p for p in providers]
            for name in names:
                if not isinstance(name, str) or name not in KNOWN_PROVIDERS:
                    raise ValueError(f"Unknown Provider Type: {name!r}")
            if provider_options is not None and len(provider_options) != len(providers):
                raise ValueError("provider_options must have one entry per provider")
        self._providers = [p for p in (names if providers else ["CPUExecutionProvider"]) if p in AVAILABLE_PROVIDERS]
        self._options = sess_options
        if isinstance(path_or_bytes, bytes):
            model = onnx.load_from_string(path_or_bytes)
        elif isinstance(path_or_bytes, (str, os.PathLike)):
            model = onnx.load(os.fspath(path_or_bytes))
        else:
            raise TypeError(f"InferenceSession: path_or_bytes must be a path or bytes, got {type(path_or_bytes)}")
        graph = model.graph
        initializers = {i.name for i in graph.initializer}

        def arg(value: Any) -> NodeArg:
            tensor_type = value.type.tensor_type
            return NodeArg(value.name, [d.dim_param or d.dim_value for d in tensor_type.shape.dim],
                           tensor_type.elem_type)

        self._inputs = [arg(v) for v in graph.input if v.name not in initializers]
        self._outputs = [arg(v) for v in graph.output]

    def get_providers(self) -> list[str]:
        return list(self._providers)

    def get_inputs(self) -> list[NodeArg]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeArg]:
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, input_feed: dict[str, np.ndarray],
            run_options: Any = None) -> list[np.ndarray]:
        if not isinstance(input_feed, dict):
            raise TypeError(f"InferenceSession.run: input_feed must be a dict, got {type(input_feed).__name__}")
        names = {i.name for i in self._inputs}
        unknown, missing = set(input_feed) - names, names - set(input_feed)
        if unknown or missing:
            raise ValueError(f"InferenceSession.run: invalid input names {sorted(unknown)}, missing {sorted(missing)}")
        sizes: dict[str, int] = {}
        for node in self._inputs:
            value = input_feed[node.name]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"InferenceSession.run: input {node.name!r} must be a numpy array, got "
                                f"{type(value).__name__}")
            if value.dtype != _NUMPY[node._elem_type]:
                raise ValueError(f"Unexpected input data type for {node.name!r}: {value.dtype}, expected "
                                 f"{node.type}")
            if value.ndim != len(node.shape):
                raise ValueError(f"Invalid rank for input {node.name!r}: {value.ndim}, expected {len(node.shape)}")
            for symbol, size in zip(node.shape, value.shape, strict=True):
                if isinstance(symbol, int) and symbol != size or sizes.setdefault(symbol, size) != size:
                    raise ValueError(f"Got invalid dimensions for input {node.name!r}: {value.shape}")
        wanted = [o for o in self._outputs if output_names is None or o.name in output_names]
        return [np.full([sizes[s] if isinstance(s, str) else s for s in o.shape],
                        1 if _NUMPY[o._elem_type] in (np.float32, np.float16, np.float64) else 0,
                        _NUMPY[o._elem_type]) for o in wanted]
