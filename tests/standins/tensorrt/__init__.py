"""Stand-in for ``import tensorrt`` (TensorRT 10.x Python API): the builder, ONNX parser and runtime surface that
``export.tensorrt`` calls, with the documented signatures (argument names as the pybind11 bindings declare them).

What it checks, as TensorRT would:

* argument names and types of every call (``TypeError``, as pybind11 raises for incompatible arguments);
* ``OnnxParser.parse_from_file`` reads the ONNX file: the network gets its inputs / outputs (names, dtypes,
  dynamic axes); a custom-domain node needs a plugin registered through ``tensorrt.plugin`` under
  ``<plugin_namespace>::<op_type>`` (else the parse fails), whose ``register`` function is called with
  :class:`~tensorrt.plugin.TensorDesc` s and must return one descriptor per node output;
* ``build_serialized_network`` checks the optimization profile against the network (every input has
  min <= opt <= max, static dimensions agree, one symbol one size), runs each plugin's ``autotune`` and, for
  nodes with ``aot = 1``, its ``aot_impl`` (see :mod:`tensorrt.plugin`), and returns ``None`` after logging
  an error when something is wrong -- as TensorRT does;
* ``Runtime.deserialize_cuda_engine`` loads only what this stand-in's builder produced, and an engine with
  JIT plugins only when those plugins are registered in the process; the execution context checks input
  shapes against the profile, addresses and the stream handle, and resolves output shapes from the inputs.

What it does not do: optimise, time, choose precisions, or run anything.  ``execute_async_v3`` fills the
output buffers with ones / zeros (see :mod:`tests.standins`).
"""

from __future__ import annotations

import builtins
import ctypes
import enum
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__version__ = "10.13.0+standin"
_MAGIC = "tensorrt-standin-engine"
_TIMING_MAGIC = b"tensorrt-standin-timing-cache:"


# ------------------------------------------------------------------------------------------------ checking
def _type_name(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " | ".join(getattr(t, "__name__", str(t)) for t in types)


def expect(where: str, name: str, value: Any, types: Any) -> Any:
    """``value`` if it is an instance of ``types`` (bool is not an int here), else TypeError as pybind11 raises."""
    types_ = types if isinstance(types, tuple) else (types,)
    ok = isinstance(value, types_) and not (isinstance(value, builtins.bool) and builtins.bool not in types_)
    if not ok:
        raise TypeError(f"{where}(): incompatible function arguments: {name} must be {_type_name(types)}, "
                        f"got {type(value).__name__} ({value!r:.80})")
    return value


def _buffer(where: str, name: str, value: Any) -> bytes:
    """A buffer argument (bytes, bytearray, memoryview, IHostMemory): its bytes."""
    try:
        return memoryview(value).tobytes()
    except TypeError:
        raise TypeError(f"{where}(): incompatible function arguments: {name} must support the buffer protocol, "
                        f"got {type(value).__name__}") from None


def _dims(where: str, name: str, value: Any) -> Dims:
    if not isinstance(value, (tuple, list, Dims)) or not all(
        isinstance(d, int) and not isinstance(d, builtins.bool) and d >= -1 for d in value
    ):
        raise TypeError(f"{where}(): incompatible function arguments: {name} must be Dims (a tuple or list of "
                        f"ints), got {value!r:.80}")
    return Dims(value)


# ------------------------------------------------------------------------------------------------ enums
class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8
    INT4 = 9

    @property
    def itemsize(self) -> int:
        return {"FLOAT": 4, "HALF": 2, "INT8": 1, "INT32": 4, "BOOL": 1, "UINT8": 1, "FP8": 1, "BF16": 2,
                "INT64": 8}[self.name]


float32, float16, bfloat16 = DataType.FLOAT, DataType.HALF, DataType.BF16
int8, int32, int64, uint8 = DataType.INT8, DataType.INT32, DataType.INT64, DataType.UINT8
globals()["bool"] = DataType.BOOL  # ``trt.bool``; ``builtins.bool`` inside this module

_ONNX_TYPES = {1: DataType.FLOAT, 2: DataType.UINT8, 3: DataType.INT8, 6: DataType.INT32, 7: DataType.INT64,
               9: DataType.BOOL, 10: DataType.HALF, 16: DataType.BF16}


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class BuilderFlag(enum.Enum):
    FP16 = 0
    INT8 = 1
    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 4
    DISABLE_TIMING_CACHE = 5
    TF32 = 6
    SPARSE_WEIGHTS = 7
    SAFETY_SCOPE = 8
    OBEY_PRECISION_CONSTRAINTS = 9
    PREFER_PRECISION_CONSTRAINTS = 10
    DIRECT_IO = 11
    REJECT_EMPTY_ALGORITHMS = 12
    VERSION_COMPATIBLE = 13
    EXCLUDE_LEAN_RUNTIME = 14
    FP8 = 15
    ERROR_ON_TIMING_CACHE_MISS = 16
    BF16 = 17


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0
    DLA_MANAGED_SRAM = 1
    DLA_LOCAL_DRAM = 2
    DLA_GLOBAL_DRAM = 3
    TACTIC_DRAM = 4
    TACTIC_SHARED_MEMORY = 5


class NetworkDefinitionCreationFlag(enum.Enum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1
    PREFER_JIT_PYTHON_PLUGINS = 2
    PREFER_AOT_PYTHON_PLUGINS = 3


class ExecutionContextAllocationStrategy(enum.Enum):
    STATIC = 0
    ON_PROFILE_CHANGE = 1
    USER_MANAGED = 2


# ------------------------------------------------------------------------------------------------ logger
class ILogger:
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = Severity

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        raise NotImplementedError


class Logger(ILogger):
    def __init__(self, min_severity: ILogger.Severity = ILogger.Severity.WARNING) -> None:
        self.min_severity = expect("Logger.__init__", "min_severity", min_severity, ILogger.Severity)
        self.messages: list[tuple[ILogger.Severity, str]] = []

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        expect("Logger.log", "severity", severity, ILogger.Severity)
        self.messages.append((severity, expect("Logger.log", "msg", msg, str)))


# ------------------------------------------------------------------------------------------------ values
class Dims(tuple):
    """``trt.Dims``: a shape; -1 marks a dynamic dimension."""

    MAX_DIMS = 8

    def __new__(cls, shape: Sequence[int] = ()) -> Dims:
        return super().__new__(cls, (int(d) for d in shape))


class IHostMemory(bytes):
    """A buffer (``memoryview(host_memory)``), not a bytes object: no ``len``, indexing or concatenation."""

    def _not_bytes(self, *args: Any) -> Any:
        raise TypeError("IHostMemory is a buffer: use memoryview(...) or bytes(memoryview(...))")

    __len__ = __getitem__ = __iter__ = __add__ = __radd__ = __contains__ = _not_bytes
    decode = _not_bytes

    @property
    def nbytes(self) -> int:
        return memoryview(self).nbytes

    @property
    def dtype(self) -> DataType:
        return DataType.UINT8


class ParserError:
    def __init__(self, node: int, desc: str) -> None:
        self._node, self._desc = node, desc

    def node(self) -> int:
        return self._node

    def desc(self) -> str:
        return self._desc

    def __str__(self) -> str:
        return f"In node {self._node}: {self._desc}"


class ITensor:
    def __init__(self, name: str, dtype: DataType, shape: Dims, symbols: list[str | int]) -> None:
        self.name, self.dtype, self.shape = name, dtype, shape
        self._symbols = symbols  # per dimension: the ONNX dim_param (dynamic) or the static size


class INetworkDefinition:
    def __init__(self, flags: int) -> None:
        self._flags = flags
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._plugins: list[dict[str, Any]] = []  # plugin layers the parser created
        self._parsed = False

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    @property
    def num_layers(self) -> int:
        return len(self._plugins)

    def get_input(self, index: int) -> ITensor:
        return self._inputs[expect("INetworkDefinition.get_input", "index", index, int)]

    def get_output(self, index: int) -> ITensor:
        return self._outputs[expect("INetworkDefinition.get_output", "index", index, int)]


class IOptimizationProfile:
    def __init__(self) -> None:
        self._shapes: dict[str, tuple[Dims, Dims, Dims]] = {}

    def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002 -- the binding's names
        where = "IOptimizationProfile.set_shape"
        expect(where, "input", input, str)
        self._shapes[input] = (_dims(where, "min", min), _dims(where, "opt", opt), _dims(where, "max", max))

    def get_shape(self, input: str) -> list[Dims]:  # noqa: A002
        return list(self._shapes[expect("IOptimizationProfile.get_shape", "input", input, str)])


class ITimingCache:
    def __init__(self, entries: int = 0) -> None:
        self._entries = entries

    def serialize(self) -> IHostMemory:
        return IHostMemory(_TIMING_MAGIC + str(self._entries).encode())

    def combine(self, input_cache: ITimingCache, ignore_mismatch: builtins.bool) -> builtins.bool:
        expect("ITimingCache.combine", "input_cache", input_cache, ITimingCache)
        expect("ITimingCache.combine", "ignore_mismatch", ignore_mismatch, builtins.bool)
        self._entries += input_cache._entries
        return True

    def reset(self) -> builtins.bool:
        self._entries = 0
        return True


class IBuilderConfig:
    def __init__(self, logger: ILogger) -> None:
        self._logger = logger
        self._flags = {BuilderFlag.TF32}  # TensorRT's default: TF32 allowed
        self._pools: dict[MemoryPoolType, int] = {}
        self._profiles: list[IOptimizationProfile] = []
        self._timing_cache: ITimingCache | None = None

    def set_flag(self, flag: BuilderFlag) -> None:
        self._flags.add(expect("IBuilderConfig.set_flag", "flag", flag, BuilderFlag))

    def clear_flag(self, flag: BuilderFlag) -> None:
        self._flags.discard(expect("IBuilderConfig.clear_flag", "flag", flag, BuilderFlag))

    def get_flag(self, flag: BuilderFlag) -> builtins.bool:
        return expect("IBuilderConfig.get_flag", "flag", flag, BuilderFlag) in self._flags

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        expect("IBuilderConfig.set_memory_pool_limit", "pool", pool, MemoryPoolType)
        if expect("IBuilderConfig.set_memory_pool_limit", "pool_size", pool_size, int) < 0:
            raise TypeError("IBuilderConfig.set_memory_pool_limit(): pool_size must be a size_t (>= 0)")
        self._pools[pool] = pool_size

    def get_memory_pool_limit(self, pool: MemoryPoolType) -> int:
        return self._pools.get(expect("IBuilderConfig.get_memory_pool_limit", "pool", pool, MemoryPoolType), 0)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self._profiles.append(expect("IBuilderConfig.add_optimization_profile", "profile", profile,
                                     IOptimizationProfile))
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    def create_timing_cache(self, serialized_timing_cache: Any) -> ITimingCache:
        data = _buffer("IBuilderConfig.create_timing_cache", "serialized_timing_cache", serialized_timing_cache)
        if not data:
            return ITimingCache()
        if not data.startswith(_TIMING_MAGIC):
            self._logger.log(ILogger.ERROR, "timing cache: not a serialized timing cache; starting empty")
            return ITimingCache()
        return ITimingCache(int(data[len(_TIMING_MAGIC):]))

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: builtins.bool) -> builtins.bool:
        expect("IBuilderConfig.set_timing_cache", "cache", cache, ITimingCache)
        expect("IBuilderConfig.set_timing_cache", "ignore_mismatch", ignore_mismatch, builtins.bool)
        self._timing_cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self._timing_cache


class Builder:
    def __init__(self, logger: ILogger) -> None:
        self.logger = expect("Builder.__init__", "logger", logger, ILogger)

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(expect("Builder.create_network", "flags", flags, int))

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig(self.logger)

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> IHostMemory | None:
        expect("Builder.build_serialized_network", "network", network, INetworkDefinition)
        expect("Builder.build_serialized_network", "config", config, IBuilderConfig)
        problems = _check_build(network, config)
        if not problems:
            try:
                plugins = [_build_plugin(layer) for layer in network._plugins]
            except (ValueError, TypeError) as err:  # a plugin's autotune / aot_impl broke its contract
                problems = [f"plugin: {err}"]
        if problems:
            for problem in problems:
                self.logger.log(ILogger.ERROR, problem)
            return None
        if config._timing_cache is not None:
            config._timing_cache._entries += 1
        profile = config._profiles[0]._shapes
        tensors = [dict(name=t.name, mode="INPUT", dtype=t.dtype.name, symbols=t._symbols,
                        profile=[list(d) for d in profile[t.name]]) for t in network._inputs]
        tensors += [dict(name=t.name, mode="OUTPUT", dtype=t.dtype.name, symbols=t._symbols)
                    for t in network._outputs]
        payload = dict(magic=_MAGIC, tensorrt=__version__, tensors=tensors, plugins=plugins,
                       flags=sorted(f.name for f in config._flags),
                       pools={p.name: n for p, n in config._pools.items()})
        return IHostMemory(json.dumps(payload).encode())


def _check_build(network: INetworkDefinition, config: IBuilderConfig) -> list[str]:
    if not network._parsed:
        return ["the network has no layers (was the ONNX file parsed?)"]
    if len(config._profiles) != 1:
        return [f"the network has dynamic inputs: it needs one optimization profile, got {len(config._profiles)}"]
    shapes = config._profiles[0]._shapes
    problems, sizes = [], {}
    for tensor in network._inputs:
        if tensor.name not in shapes:
            problems.append(f"optimization profile: no shape for input {tensor.name!r}")
            continue
        low, opt, high = shapes[tensor.name]
        if not len(low) == len(opt) == len(high) == len(tensor.shape):
            problems.append(f"optimization profile: {tensor.name!r} has {len(tensor.shape)} dimensions, the profile "
                            f"gives {low} / {opt} / {high}")
            continue
        for axis, (symbol, a, b, c) in enumerate(zip(tensor._symbols, low, opt, high, strict=True)):
            if not 0 <= a <= b <= c:
                problems.append(f"optimization profile: {tensor.name!r} axis {axis}: need 0 <= min <= opt <= max")
            elif isinstance(symbol, int) and not a == b == c == symbol:
                problems.append(f"optimization profile: {tensor.name!r} axis {axis} is static ({symbol}), the "
                                f"profile gives {a} / {b} / {c}")
            elif isinstance(symbol, str) and sizes.setdefault(symbol, (a, b, c)) != (a, b, c):
                problems.append(f"optimization profile: dimension {symbol!r} gets {(a, b, c)} for "
                                f"{tensor.name!r} but {sizes[symbol]} elsewhere")
    unknown = set(shapes) - {t.name for t in network._inputs}
    problems += [f"optimization profile: {name!r} is not a network input" for name in sorted(unknown)]
    return problems


def _build_plugin(layer: dict[str, Any]) -> dict[str, Any]:
    plugin.run_autotune(layer["id"], layer["inputs"], layer["attrs"], layer["outputs"])
    if layer["aot"]:
        plugin.run_aot_impl(layer["id"], layer["inputs"], layer["attrs"], layer["outputs"])
    return {"id": layer["id"], "aot": layer["aot"]}


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
        self.network = expect("OnnxParser.__init__", "network", network, INetworkDefinition)
        self.logger = expect("OnnxParser.__init__", "logger", logger, ILogger)
        self._errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> ParserError:
        return self._errors[expect("OnnxParser.get_error", "index", index, int)]

    def clear_errors(self) -> None:
        self._errors.clear()

    def parse_from_file(self, model: str) -> builtins.bool:
        import onnx

        expect("OnnxParser.parse_from_file", "model", model, str)
        if not Path(model).is_file():
            self._errors.append(ParserError(-1, f"cannot open {model}"))
            return False
        graph = onnx.shape_inference.infer_shapes(onnx.load(model)).graph
        initializers = {i.name for i in graph.initializer}
        self.network._inputs = [_tensor(v) for v in graph.input if v.name not in initializers]
        self.network._outputs = [_tensor(v) for v in graph.output]
        types = {v.name: v.type.tensor_type for v in [*graph.value_info, *graph.input, *graph.output]}
        for index, node in enumerate(graph.node):
            if node.domain in ("", "ai.onnx"):
                continue
            try:
                self.network._plugins.append(_plugin_layer(node, types))
            except (KeyError, ValueError, TypeError) as err:
                self._errors.append(ParserError(index, f"{node.op_type} ({node.domain}): {err}"))
        self.network._parsed = not self._errors
        return not self._errors


def _tensor(value: Any) -> ITensor:
    tensor_type = value.type.tensor_type
    symbols: list[str | int] = [d.dim_param or d.dim_value for d in tensor_type.shape.dim]
    shape = Dims(-1 if isinstance(s, str) else s for s in symbols)
    return ITensor(value.name, _ONNX_TYPES[tensor_type.elem_type], shape, symbols)


def _plugin_layer(node: Any, types: dict[str, Any]) -> dict[str, Any]:
    """A custom node as TensorRT's ONNX parser imports it: the plugin ``<plugin_namespace>::<op_type>``."""
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    namespace = attrs.pop("plugin_namespace", b"")
    namespace = namespace.decode() if isinstance(namespace, bytes) else namespace
    attrs.pop("plugin_version", None)
    aot = builtins.bool(attrs.pop("aot", 0))
    plugin_id = f"{namespace}::{node.op_type}"
    definition = plugin.registered(plugin_id)
    if definition is None:
        raise KeyError(f"no plugin creator for {plugin_id!r} (plugin_namespace {namespace!r}): was it registered "
                       "with tensorrt.plugin.register before parsing?")
    if aot and definition.aot_impl is None:
        raise ValueError(f"{plugin_id}: the node asks for the AOT implementation (aot = 1) but none is defined")
    if not aot and definition.impl is None:
        raise ValueError(f"{plugin_id}: the node asks for the JIT implementation (aot = 0) but none is defined")
    for name, value in attrs.items():
        if name not in definition.attrs:
            raise ValueError(f"{plugin_id}: unexpected attribute {name!r}; the plugin takes {list(definition.attrs)}")
        if isinstance(value, bytes) and definition.attrs[name] is str:
            attrs[name] = value.decode()
        elif not isinstance(attrs[name], definition.attrs[name]):
            raise TypeError(f"{plugin_id}: attribute {name!r} is {type(value).__name__}, the plugin declares "
                            f"{definition.attrs[name].__name__}")
    missing = [name for name in definition.attrs if name not in attrs]
    if missing:
        raise ValueError(f"{plugin_id}: the node lacks the attribute(s) {missing}")
    if len(node.input) != len(definition.tensors):
        raise ValueError(f"{plugin_id}: the node has {len(node.input)} inputs, the plugin takes "
                         f"{len(definition.tensors)} ({definition.tensors})")

    def desc(name: str, index: int) -> Any:
        tensor_type = types.get(name)
        dtype = _ONNX_TYPES.get(tensor_type.elem_type, DataType.FLOAT) if tensor_type is not None else DataType.FLOAT
        rank = len(tensor_type.shape.dim) if tensor_type is not None and tensor_type.HasField("shape") else None
        return plugin.input_desc(f"{node.name or node.op_type}.in{index}", dtype, rank)

    inputs = [desc(name, i) for i, name in enumerate(node.input)]
    outputs = plugin.run_register(plugin_id, inputs, attrs)
    if len(outputs) != len(node.output):
        raise ValueError(f"{plugin_id}: the register function describes {len(outputs)} outputs, the node has "
                         f"{len(node.output)}")
    return {"id": plugin_id, "aot": aot, "attrs": attrs, "inputs": inputs, "outputs": outputs}


# ------------------------------------------------------------------------------------------------ runtime
class Runtime:
    def __init__(self, logger: ILogger) -> None:
        self.logger = expect("Runtime.__init__", "logger", logger, ILogger)

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        data = _buffer("Runtime.deserialize_cuda_engine", "serialized_engine", serialized_engine)
        try:
            payload = json.loads(data)
            assert payload["magic"] == _MAGIC
        except (ValueError, KeyError, TypeError, AssertionError):
            self.logger.log(ILogger.ERROR, "deserialize_cuda_engine: not a serialized engine")
            return None
        for layer in payload["plugins"]:  # AOT kernels live in the engine; JIT plugins need their Python code
            definition = plugin.registered(layer["id"])
            if not layer["aot"] and (definition is None or definition.impl is None):
                self.logger.log(ILogger.ERROR, f"deserialize_cuda_engine: plugin {layer['id']} is not registered "
                                "in this process (register the plugins before loading the engine)")
                return None
        return ICudaEngine(payload)


class ICudaEngine:
    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = payload
        self._tensors = {t["name"]: t for t in payload["tensors"]}
        self._names = [t["name"] for t in payload["tensors"]]

    @property
    def num_io_tensors(self) -> int:
        return len(self._names)

    @property
    def num_optimization_profiles(self) -> int:
        return 1

    def get_tensor_name(self, index: int) -> str:
        return self._names[expect("ICudaEngine.get_tensor_name", "index", index, int)]

    def _tensor(self, where: str, name: str) -> dict[str, Any]:
        expect(where, "name", name, str)
        if name not in self._tensors:
            raise ValueError(f"{where}: no I/O tensor named {name!r}")  # TensorRT logs and returns a default
        return self._tensors[name]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode[self._tensor("ICudaEngine.get_tensor_mode", name)["mode"]]

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType[self._tensor("ICudaEngine.get_tensor_dtype", name)["dtype"]]

    def get_tensor_shape(self, name: str) -> Dims:
        symbols = self._tensor("ICudaEngine.get_tensor_shape", name)["symbols"]
        return Dims(-1 if isinstance(s, str) else s for s in symbols)

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Dims]:
        expect("ICudaEngine.get_tensor_profile_shape", "profile_index", profile_index, int)
        return [Dims(d) for d in self._tensor("ICudaEngine.get_tensor_profile_shape", name)["profile"]]

    def create_execution_context(
        self, strategy: ExecutionContextAllocationStrategy = ExecutionContextAllocationStrategy.STATIC
    ) -> IExecutionContext:
        expect("ICudaEngine.create_execution_context", "strategy", strategy, ExecutionContextAllocationStrategy)
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self._shapes: dict[str, Dims] = {}
        self._addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: Any) -> builtins.bool:
        tensor = self.engine._tensor("IExecutionContext.set_input_shape", name)
        shape = _dims("IExecutionContext.set_input_shape", "shape", shape)
        if tensor["mode"] != "INPUT":
            raise ValueError(f"IExecutionContext.set_input_shape: {name!r} is not an input")
        low, _, high = tensor["profile"]
        if len(shape) != len(low) or not all(a <= n <= b for a, n, b in zip(low, shape, high, strict=True)):
            return False  # TensorRT logs the profile violation and returns False
        self._shapes[name] = shape
        return True

    def _bindings(self) -> dict[str, int] | None:
        sizes: dict[str, int] = {}
        for name, shape in self._shapes.items():
            for symbol, size in zip(self.engine._tensors[name]["symbols"], shape, strict=True):
                if isinstance(symbol, str) and sizes.setdefault(symbol, size) != size:
                    return None
        return sizes

    def get_tensor_shape(self, name: str) -> Dims:
        tensor = self.engine._tensor("IExecutionContext.get_tensor_shape", name)
        if tensor["mode"] == "INPUT":
            return self._shapes.get(name, self.engine.get_tensor_shape(name))
        sizes = self._bindings() or {}
        return Dims(sizes.get(s, -1) if isinstance(s, str) else s for s in tensor["symbols"])

    def set_tensor_address(self, name: str, memory: int) -> builtins.bool:
        self.engine._tensor("IExecutionContext.set_tensor_address", name)
        self._addresses[name] = expect("IExecutionContext.set_tensor_address", "memory", memory, int)
        return True

    def get_tensor_address(self, name: str) -> int:
        self.engine._tensor("IExecutionContext.get_tensor_address", name)
        return self._addresses.get(name, 0)

    @property
    def all_binding_shapes_specified(self) -> builtins.bool:
        return all(n in self._shapes for n, t in self.engine._tensors.items() if t["mode"] == "INPUT")

    def execute_async_v3(self, stream_handle: int) -> builtins.bool:
        expect("IExecutionContext.execute_async_v3", "stream_handle", stream_handle, int)
        missing = [n for n in self.engine._names if not self._addresses.get(n)]
        if not self.all_binding_shapes_specified or missing or self._bindings() is None:
            return False  # TensorRT logs why (unset shape or address, inconsistent dimensions) and returns False
        for name in self.engine._names:
            tensor = self.engine._tensors[name]
            if tensor["mode"] == "OUTPUT":
                dtype = DataType[tensor["dtype"]]
                shape = self.get_tensor_shape(name)
                fill = 1 if dtype in (DataType.FLOAT, DataType.HALF) else 0
                size = math.prod(shape) * dtype.itemsize
                if dtype == DataType.BF16:  # 1.0 in bfloat16: the upper half of float32's 1.0
                    data = np.full(math.prod(shape), 0x3F80, np.uint16).tobytes()
                else:
                    numpy_type = {DataType.FLOAT: np.float32, DataType.HALF: np.float16}.get(dtype, np.uint8)
                    data = np.full(size // np.dtype(numpy_type).itemsize, fill, numpy_type).tobytes()
                ctypes.memmove(self._addresses[name], data, size)
        return True


def engine_info(serialized_engine: Any) -> dict[str, Any]:
    """What this stand-in's builder recorded in an engine (tests only): its I/O tensors with their symbolic
    dimensions and profile, the builder flags and memory pools it was given, and its plugin layers."""
    return json.loads(_buffer("engine_info", "serialized_engine", serialized_engine))


from tests.standins.tensorrt import plugin  # noqa: E402 -- last: it imports this module's names
