"""Stand-in for ``import tensorrt.plugin`` (TensorRT >= 10.8 "quickly deployable plugins"): the decorators
``register`` / ``impl`` / ``aot_impl`` / ``autotune`` and the types their functions see.

The decorators validate the decorated functions as ``tensorrt.plugin`` documents (and its ``_validate``
module enforces): ``register`` needs type hints on every argument (tensor descriptors first, then attributes
of a serialisable type) and a ``TensorDesc`` / ``tuple[TensorDesc, ...]`` return hint; ``impl`` takes exactly
``(inputs..., attributes..., outputs, stream[, tactic])``, ``aot_impl`` ``(inputs..., attributes...,
outputs, tactic)`` with the return hint ``tuple[str | bytes, str | bytes, KernelLaunchParams, SymExprs]``,
``autotune`` ``(inputs..., attributes..., outputs)``; attribute hints must repeat the registered ones.  A
violation raises ``ValueError`` at decoration time, as TensorRT does (a hint written as a string -- ``from
__future__ import annotations`` -- raises ``TypeError``: TensorRT compares hints as classes).

:func:`run_register`, :func:`run_autotune`, :func:`run_aot_impl` and :func:`run_impl` call a registered
plugin's functions the way TensorRT does (keyword arguments by the validated names) and check what comes back.
Shape expressions are symbolic (:class:`SymIntExpr`); :meth:`SymIntExpr.evaluate` resolves one for given
input sizes, so a test can check the launch grid an AOT implementation asks for.
"""

from __future__ import annotations

import builtins
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.standins import tensorrt as trt

RESERVED_NAMESPACES = {"", "trt", "tensorrt", "std"}
RESERVED_ATTRIBUTES = {"outputs", "stream", "tactic"}
ATTRIBUTE_TYPES = (int, float, bytes, builtins.bool, str)
TYPE_NAMES = {"FP32": trt.float32, "FP16": trt.float16, "BF16": trt.bfloat16, "INT8": trt.int8, "INT32": trt.int32,
              "INT64": trt.int64, "BOOL": trt.DataType.BOOL, "UINT8": trt.uint8, "FP8": trt.DataType.FP8,
              "INT4": trt.DataType.INT4}


# ------------------------------------------------------------------------------------------------ expressions
class SymExpr:
    """A symbolic scalar."""


class SymIntExpr(SymExpr):
    """A symbolic integer: a constant, a named size (an input dimension) or an operation on two of them."""

    def __init__(self, value: int | SymIntExpr | None = None) -> None:
        if value is None:
            self._node: tuple = ("fake",)
        elif isinstance(value, SymIntExpr):
            self._node = value._node
        elif isinstance(value, int) and not isinstance(value, builtins.bool):
            self._node = ("const", value)
        else:
            raise TypeError(f"{type(self).__name__}(): expected an int or a symbolic expression, got "
                            f"{type(value).__name__} ({value!r:.60})")

    @classmethod
    def symbol(cls, name: str) -> SymIntExpr:
        expr = cls()
        expr._node = ("sym", name)
        return expr

    def _op(self, op: str, other: int | SymIntExpr) -> ShapeExpr:
        other = other if isinstance(other, SymIntExpr) else SymIntExpr(other)
        out = ShapeExpr()
        out._node = (op, self._node, other._node)
        return out

    def __add__(self, other: int | SymIntExpr) -> ShapeExpr:
        return self._op("+", other)

    def __sub__(self, other: int | SymIntExpr) -> ShapeExpr:
        return self._op("-", other)

    def __mul__(self, other: int | SymIntExpr) -> ShapeExpr:
        return self._op("*", other)

    def __floordiv__(self, other: int | SymIntExpr) -> ShapeExpr:
        return self._op("//", other)

    def __radd__(self, other: int) -> ShapeExpr:
        return SymIntExpr(other)._op("+", self)

    def __rmul__(self, other: int) -> ShapeExpr:
        return SymIntExpr(other)._op("*", self)

    def __bool__(self) -> bool:
        raise TypeError("a symbolic expression has no truth value at build time")

    def __index__(self) -> int:
        raise TypeError("a symbolic expression is not an int at build time (use it in shape expressions)")

    def evaluate(self, sizes: dict[str, int]) -> int:
        """The value for the named input sizes ``sizes``."""
        return _evaluate(self._node, sizes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._node}"


def _evaluate(node: tuple, sizes: dict[str, int]) -> int:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "sym":
        return sizes[node[1]]
    if kind == "fake":
        raise ValueError("a fake shape expression has no value")
    a, b = _evaluate(node[1], sizes), _evaluate(node[2], sizes)
    return {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "cdiv": -(-a // b), "max": builtins.max(a, b),
            "min": builtins.min(a, b)}[kind]


class SymInt32(SymIntExpr):
    pass


class SymInt16(SymIntExpr):
    pass


class SymInt8(SymIntExpr):
    pass


class ShapeExpr(SymInt32):
    """A dimension of a tensor."""


def _expr(value: Any, kind: type[SymIntExpr], where: str) -> SymIntExpr:
    if isinstance(value, SymIntExpr):
        return value
    if isinstance(value, int) and not isinstance(value, builtins.bool):
        return kind(value)
    raise TypeError(f"{where}: expected an int or a symbolic expression, got {type(value).__name__} ({value!r:.60})")


class SymExprs:
    _kind: type[SymIntExpr] = SymIntExpr

    def __init__(self, length: int) -> None:
        self._exprs: list[SymIntExpr | None] = [None] * trt.expect(f"{type(self).__name__}", "length", length, int)

    @classmethod
    def from_tuple(cls, shape_exprs: Iterable[SymIntExpr | int]) -> SymExprs:
        exprs = [_expr(e, cls._kind, f"{cls.__name__}.from_tuple") for e in shape_exprs]
        inst = cls(len(exprs))
        inst._exprs = list(exprs)
        return inst

    def __getitem__(self, index: int) -> SymIntExpr:
        return self._exprs[index]

    def __setitem__(self, index: int, value: SymIntExpr | int) -> None:
        self._exprs[index] = _expr(value, self._kind, f"{type(self).__name__}[{index}] =")

    def __len__(self) -> int:
        return len(self._exprs)

    def __iter__(self):
        return iter(self._exprs)


class ShapeExprs(SymExprs):
    _kind = ShapeExpr

    def numel(self) -> ShapeExpr:
        out = ShapeExpr(1)
        for e in self._exprs:
            out = out * e
        return out


class SymIntExprs(SymExprs):
    _kind = SymIntExpr


class _SymbolicShape(ShapeExprs):
    """The shape expressions of an input whose rank the parser could not infer: any index is a dimension."""

    def __init__(self, prefix: str) -> None:
        super().__init__(0)
        self._prefix = prefix

    def __getitem__(self, index: int) -> ShapeExpr:
        return ShapeExpr.symbol(f"{self._prefix}[{index}]")


# ------------------------------------------------------------------------------------------------ tensors
class TensorDesc:
    """A tensor's symbolic shape and dtype (what ``register`` / ``autotune`` / ``aot_impl`` receive)."""

    def __init__(self, shape_expr: ShapeExprs | None = None, dtype: trt.DataType | None = None,
                 format: Any = None, scale: float | None = None) -> None:  # noqa: A002 -- the API's name
        if shape_expr is not None:
            trt.expect("TensorDesc", "shape_expr", shape_expr, ShapeExprs)
        if dtype is not None:
            trt.expect("TensorDesc", "dtype", dtype, trt.DataType)
        self._shape_expr, self._dtype, self.format, self.scale = shape_expr, dtype, format, scale

    @property
    def shape_expr(self) -> ShapeExprs:
        return self._shape_expr

    @property
    def dtype(self) -> trt.DataType:
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape_expr)

    def like(self) -> TensorDesc:
        return TensorDesc(self._shape_expr, self._dtype, self.format, self.scale)

    def aliased(self) -> TensorDesc:
        return self.like()


def from_shape_expr(shape_expr: tuple | ShapeExprs, dtype: trt.DataType) -> TensorDesc:
    trt.expect("from_shape_expr", "dtype", dtype, trt.DataType)
    if isinstance(shape_expr, tuple):
        shape_expr = ShapeExprs.from_tuple(shape_expr)
    return TensorDesc(trt.expect("from_shape_expr", "shape_expr", shape_expr, ShapeExprs), dtype)


class Tensor:
    """A tensor with data (what ``impl`` receives): device pointer, dtype, shape, strides (in elements)."""

    def __init__(self, data_ptr: int, dtype: trt.DataType, shape: tuple[int, ...], strides: tuple[int, ...],
                 stream: int = 0) -> None:
        self.data_ptr, self.dtype, self.shape, self.strides, self._stream = data_ptr, dtype, shape, strides, stream

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return int(np.prod(self.shape))

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        if self.dtype in (trt.bfloat16, trt.DataType.FP8, trt.DataType.INT4):
            raise ValueError(f"Handling {self.dtype} via '__cuda_array_interface__' is not supported")
        typestr = {trt.float32: "<f4", trt.float16: "<f2", trt.int32: "<i4", trt.int64: "<i8", trt.int8: "|i1",
                   trt.uint8: "|u1", trt.DataType.BOOL: "|b1"}[self.dtype]
        return {"shape": tuple(self.shape), "typestr": typestr, "stream": self._stream, "version": 3,
                "data": (self.data_ptr, False), "strides": tuple(s * self.dtype.itemsize for s in self.strides)}


class KernelLaunchParams:
    """Launch configuration of an AOT kernel; every field is a 32-bit symbolic integer."""

    FIELDS = ("grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "shared_mem")

    def __init__(self, grid_x: int | SymIntExpr = 1, grid_y: int | SymIntExpr = 1, grid_z: int | SymIntExpr = 1,
                 block_x: int | SymIntExpr = 1, block_y: int | SymIntExpr = 1, block_z: int | SymIntExpr = 1,
                 shared_mem: int | SymIntExpr = 0) -> None:
        for name, value in zip(self.FIELDS, (grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_mem),
                               strict=True):
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.FIELDS:
            raise AttributeError(f"KernelLaunchParams object has no attribute '{name}'")
        self.__dict__[name] = SymInt32(_expr(value, SymInt32, f"KernelLaunchParams.{name} ="))


def _binary(op: str, first: int | SymIntExpr, second: int | SymIntExpr) -> ShapeExpr:
    if not isinstance(first, SymIntExpr) and not isinstance(second, SymIntExpr):
        raise ValueError("Both arguments cannot be 'int's")
    return _expr(first, ShapeExpr, op)._op(op, _expr(second, ShapeExpr, op))


def cdiv(first: int | SymIntExpr, second: int | SymIntExpr) -> ShapeExpr:
    return _binary("cdiv", first, second)


def max(first: int | SymIntExpr, second: int | SymIntExpr) -> ShapeExpr:  # noqa: A001 -- tensorrt.plugin.max
    return _binary("max", first, second)


def min(first: int | SymIntExpr, second: int | SymIntExpr) -> ShapeExpr:  # noqa: A001
    return _binary("min", first, second)


class AutoTuneCombination:
    def __init__(self, io_types: str | None = None, layouts: str | None = None,
                 tactics: Iterable[int] | None = None) -> None:
        if io_types is not None:
            trt.expect("AutoTuneCombination", "io_types", io_types, str)
        if layouts is not None:
            trt.expect("AutoTuneCombination", "layouts", layouts, str)
        self.io_types = [s.strip() for s in io_types.split(",")] if io_types else []
        self.layouts = [s.strip() for s in (layouts or "LINEAR").split(",")]
        self._tactics = list(tactics) if tactics is not None else None
        for entry in self.io_types:
            _check_variants(entry, TYPE_NAMES)

    def pos(self, pos: int | Iterable[int], io_types: str, layouts: str = "LINEAR") -> None:
        for p in [pos] if isinstance(pos, int) else list(pos):
            while len(self.io_types) <= p:
                self.io_types.append(None)
            if self.io_types[p] is not None:
                raise ValueError(f"Type(s) for position {p} already specified")
            _check_variants(io_types, TYPE_NAMES)
            self.io_types[p] = io_types

    def tactics(self, tactics: Iterable[int]) -> None:
        self._tactics = list(tactics)


def _check_variants(entry: str, names: dict[str, Any]) -> None:
    if "|" in entry and "*" in entry:
        raise ValueError(f"Type/Format '{entry}' contains both '|' and '*'")
    for token in re.split(r"[|*]", entry):
        if token not in names:
            raise ValueError(f"'{token}' is not a TensorRT data type name ({', '.join(names)})")


# ------------------------------------------------------------------------------------------------ registry
@dataclass
class PluginDef:
    id: str
    register_func: Callable
    tensors: list[str]
    attrs: dict[str, type]
    num_outputs: int
    impl: Callable | None = None
    impl_attrs: list[str] = field(default_factory=list)
    expects_tactic: bool = False
    aot_impl: Callable | None = None
    aot_attrs: list[str] = field(default_factory=list)
    autotune: Callable | None = None
    autotune_attrs: list[str] = field(default_factory=list)


_REGISTRY: dict[str, PluginDef] = {}


def reset() -> None:
    """Forget every registered plugin (a fresh process, as far as the plugin registry goes)."""
    _REGISTRY.clear()


def registered(plugin_id: str) -> PluginDef | None:
    return _REGISTRY.get(plugin_id)


def _signature(func: Callable, what: str) -> inspect.Signature:
    sig = inspect.signature(func)
    hints = [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]
    if any(isinstance(h, str) for h in hints):
        raise TypeError(f"{what} '{func.__name__}': type hints are strings (`from __future__ import annotations`?); "
                        "tensorrt.plugin compares them as classes")
    return sig


def _is_subclass(hint: Any, cls: type) -> bool:
    return inspect.isclass(hint) and issubclass(hint, cls)


def _tuple_of(hint: Any, cls: type) -> bool:
    return typing.get_origin(hint) is tuple and all(_is_subclass(a, cls) for a in typing.get_args(hint))


def register(plugin_id: str, lazy_register: bool = False) -> Callable:
    trt.expect("register", "plugin_id", plugin_id, str)
    trt.expect("register", "lazy_register", lazy_register, builtins.bool)
    namespace, sep, name = plugin_id.partition("::")
    if not sep or "." in namespace or "." in name or namespace in RESERVED_NAMESPACES:
        raise ValueError(f"plugin id {plugin_id!r} must be '<namespace>::<name>', no '.', namespace not in "
                         f"{sorted(RESERVED_NAMESPACES)}")

    def decorator(func: Callable) -> Callable:
        if plugin_id in _REGISTRY:
            raise ValueError(f"'{plugin_id}' is already registered")
        sig = _signature(func, "register")
        tensors, attrs = [], {}
        for param in sig.parameters.values():
            if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                raise ValueError(f"Argument {param.name} is not a positional-or-keyword or keyword-only arg")
            if param.annotation is param.empty:
                raise ValueError(f"Argument {param.name} does not have a type annotation")
            if param.default is not param.empty:
                raise ValueError(f"Argument {param.name} has a default value")
            if _is_subclass(param.annotation, TensorDesc):
                if attrs:
                    raise ValueError(f"TensorDescs and attributes cannot be interspersed: {sig}")
                tensors.append(param.name)
            else:
                if not tensors:
                    raise ValueError(f"TensorDesc args come first, then attributes: {sig}")
                if param.name in RESERVED_ATTRIBUTES:
                    raise ValueError(f"'{param.name}' is not allowed as a plugin attribute name")
                if param.annotation not in ATTRIBUTE_TYPES and typing.get_origin(param.annotation) is not np.ndarray:
                    raise ValueError(f"Attribute '{param.name}' of type {param.annotation} is not serializable")
                attrs[param.name] = param.annotation
        ret = sig.return_annotation
        if _is_subclass(ret, TensorDesc):
            num_outputs = 1
        elif _tuple_of(ret, TensorDesc):
            num_outputs = len(typing.get_args(ret))
        else:
            raise ValueError(f"Return annotation is {ret}: it must be TensorDesc or Tuple[TensorDesc, ...]")
        _REGISTRY[plugin_id] = PluginDef(plugin_id, func, tensors, attrs, num_outputs)
        return func

    return decorator


def _definition(plugin_id: str) -> PluginDef:
    if plugin_id not in _REGISTRY:
        raise ValueError(f"Plugin {plugin_id} is not registered. Did you register it with tensorrt.plugin.register?")
    return _REGISTRY[plugin_id]


def _schema(func: Callable, plugin: PluginDef, tensor_type: type, trailing: tuple[str, ...],
            optional: tuple[str, ...], what: str) -> tuple[list[str], inspect.Signature]:
    """Validate ``func``'s arguments against the registered plugin; returns the attributes it takes."""
    sig = _signature(func, what)
    attrs = []
    for name, param in sig.parameters.items():
        hint = param.annotation
        if name in ("outputs", "stream", "tactic") and name in trailing + optional:
            if hint is not param.empty and name == "outputs" and not _tuple_of(hint, tensor_type):
                raise ValueError(f"'outputs' should be of type Tuple[{tensor_type.__name__}]. Received {hint}.")
            if hint is not param.empty and name in ("stream", "tactic") and not _is_subclass(hint, int):
                raise ValueError(f"'{name}' input argument should be an int")
        elif name in plugin.attrs:
            if hint is not param.empty and hint != plugin.attrs[name]:
                raise ValueError(f"Attribute '{name}' has a type annotation different from the one specified at "
                                 f"registration. Expected '{plugin.attrs[name]}'.")
            attrs.append(name)
        elif hint is not param.empty and not _is_subclass(hint, tensor_type):
            raise ValueError(f"Unexpected attribute '{name}' specified in {what} function. Expected one of "
                             f"{list(plugin.attrs)}.")
    attrs = [n for n in plugin.attrs if n in attrs]
    present = [n for n in optional if n in sig.parameters]
    expected = [*plugin.tensors, *attrs, *trailing, *present]
    if list(sig.parameters) != expected:
        raise ValueError(f"Signature of the {what} function '{sig}' does not match the expected input arg schema: "
                         f"({', '.join(expected)})")
    return attrs, sig


def impl(plugin_id: str) -> Callable:
    def decorator(func: Callable) -> Callable:
        plugin = _definition(plugin_id)
        attrs, sig = _schema(func, plugin, Tensor, ("outputs", "stream"), ("tactic",), "impl")
        if sig.return_annotation not in (sig.empty, None):
            raise ValueError("Return annotation should be None.")
        plugin.impl, plugin.impl_attrs, plugin.expects_tactic = func, attrs, "tactic" in sig.parameters
        return func

    return decorator


def aot_impl(plugin_id: str) -> Callable:
    def decorator(func: Callable) -> Callable:
        plugin = _definition(plugin_id)
        attrs, sig = _schema(func, plugin, TensorDesc, ("outputs", "tactic"), (), "aot_impl")
        expected = "tuple[str | bytes, str | bytes, tensorrt.plugin.KernelLaunchParams, tensorrt.plugin.SymIntExprs]"
        ret = sig.return_annotation
        if ret is sig.empty:
            raise ValueError(f"No return annotation found for aot_impl function. Received signature {sig}.")
        args = typing.get_args(ret)
        if typing.get_origin(ret) is not tuple or len(args) != 4:
            raise ValueError(f"Return annotation is {ret}. Expected {expected}.")
        for index in (0, 1):
            union = typing.get_origin(args[index]) in (typing.Union, types.UnionType)
            options = typing.get_args(args[index]) if union else (args[index],)
            if any(option not in (str, bytes) for option in options):
                raise ValueError(f"Return annotation for argument at {index} is '{args[index]}'. Expected 'str' or "
                                 "'bytes'.")
        if not _is_subclass(args[2], KernelLaunchParams) or not _is_subclass(args[3], SymExprs):
            raise ValueError(f"Return annotation is {ret}. Expected {expected}.")
        plugin.aot_impl, plugin.aot_attrs = func, attrs
        return func

    return decorator


def autotune(plugin_id: str) -> Callable:
    def decorator(func: Callable) -> Callable:
        plugin = _definition(plugin_id)
        attrs, sig = _schema(func, plugin, TensorDesc, ("outputs",), (), "autotune")
        ret = sig.return_annotation
        if ret is not sig.empty and not (_is_subclass(ret, AutoTuneCombination) or (
                typing.get_origin(ret) is list and all(_is_subclass(a, AutoTuneCombination)
                                                       for a in typing.get_args(ret)))):
            raise ValueError(f"Return argument is of type {ret}. Return types can only be AutoTuneCombination or "
                             "List[AutoTuneCombination].")
        plugin.autotune, plugin.autotune_attrs = func, attrs
        return func

    return decorator


# ------------------------------------------------------------------------------------------------ calling
def input_desc(prefix: str, dtype: trt.DataType, rank: int | None) -> TensorDesc:
    """A plugin input as the builder describes it: dimension ``j`` is the symbol ``"<prefix>[j]"``."""
    if rank is None:
        return TensorDesc(_SymbolicShape(prefix), dtype)
    return TensorDesc(ShapeExprs.from_tuple([ShapeExpr.symbol(f"{prefix}[{j}]") for j in range(rank)]), dtype)


def _tensor_kwargs(plugin: PluginDef, inputs: list[Any], attrs: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if len(inputs) != len(plugin.tensors):
        raise ValueError(f"{plugin.id}: {len(inputs)} inputs for the plugin's {len(plugin.tensors)}")
    return {**dict(zip(plugin.tensors, inputs, strict=True)), **{n: attrs[n] for n in names}}


def run_register(plugin_id: str, inputs: list[TensorDesc], attrs: dict[str, Any]) -> list[TensorDesc]:
    plugin = _definition(plugin_id)
    out = plugin.register_func(**_tensor_kwargs(plugin, inputs, attrs, list(plugin.attrs)))
    outputs = list(out) if isinstance(out, tuple) else [out]
    if len(outputs) != plugin.num_outputs or not all(isinstance(o, TensorDesc) for o in outputs):
        raise ValueError(f"{plugin_id}: the register function returned {out!r:.200}; its return hint promises "
                         f"{plugin.num_outputs} TensorDesc(s)")
    for o in outputs:
        if not isinstance(o.dtype, trt.DataType) or not isinstance(o.shape_expr, ShapeExprs):
            raise TypeError(f"{plugin_id}: an output descriptor lacks a DataType or ShapeExprs")
    return outputs


def run_autotune(plugin_id: str, inputs: list[TensorDesc], attrs: dict[str, Any],
                 outputs: list[TensorDesc]) -> list[AutoTuneCombination]:
    plugin = _definition(plugin_id)
    if plugin.autotune is None:
        return []
    out = plugin.autotune(**_tensor_kwargs(plugin, inputs, attrs, plugin.autotune_attrs), outputs=tuple(outputs))
    combinations = out if isinstance(out, list) else [out]
    for combination in combinations:
        if not isinstance(combination, AutoTuneCombination):
            raise TypeError(f"{plugin_id}: autotune returned {type(combination).__name__}, not AutoTuneCombination")
        if len(combination.io_types) != len(inputs) + len(outputs) or None in combination.io_types:
            raise ValueError(f"{plugin_id}: an AutoTuneCombination gives {len(combination.io_types)} I/O types for "
                             f"{len(inputs)} inputs + {len(outputs)} outputs")
        dependent = {len(t.split("|")) for t in combination.io_types if "|" in t}
        if len(dependent) > 1:
            raise ValueError(f"{plugin_id}: dependent ('|') type lists of different lengths: {combination.io_types}")
    return combinations


@dataclass
class AotKernel:
    name: str
    ptx: str
    launch: KernelLaunchParams
    extra_args: SymExprs
    parameters: int  # of the PTX entry point


def run_aot_impl(plugin_id: str, inputs: list[TensorDesc], attrs: dict[str, Any], outputs: list[TensorDesc],
                 tactic: int = 0) -> AotKernel:
    """Call the AOT implementation as the builder does and check its answer: (kernel name, PTX, launch params,
    extra int32 arguments), the PTX entry point taking inputs, then the extra arguments, then outputs."""
    plugin = _definition(plugin_id)
    out = plugin.aot_impl(**_tensor_kwargs(plugin, inputs, attrs, plugin.aot_attrs), outputs=tuple(outputs),
                          tactic=tactic)
    if not isinstance(out, tuple) or len(out) != 4:
        raise ValueError(f"{plugin_id}: aot_impl must return (kernel name, PTX, KernelLaunchParams, SymExprs), got "
                         f"{out!r:.200}")
    name, ptx, launch, extra = out
    if not isinstance(name, (str, bytes)) or not isinstance(ptx, (str, bytes)):
        raise TypeError(f"{plugin_id}: kernel name and PTX must be str or bytes")
    if not isinstance(launch, KernelLaunchParams) or not isinstance(extra, SymExprs):
        raise TypeError(f"{plugin_id}: aot_impl returned {type(launch).__name__} / {type(extra).__name__}, not "
                        "KernelLaunchParams / SymExprs")
    if not all(isinstance(e, (SymInt32, SymInt16, SymInt8)) for e in extra):
        raise TypeError(f"{plugin_id}: extra kernel arguments must be SymInt32 / SymInt16 / SymInt8")
    name = name.decode() if isinstance(name, bytes) else name
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    entry = re.search(rf"\.entry\s+{re.escape(name)}\s*\((.*?)\)", ptx, re.DOTALL)
    if entry is None:
        raise ValueError(f"{plugin_id}: the PTX has no entry point named {name!r}")
    parameters = entry.group(1).count(".param")
    if parameters != len(inputs) + len(extra) + len(outputs):
        raise ValueError(f"{plugin_id}: the kernel takes {parameters} parameters; TensorRT passes {len(inputs)} "
                         f"inputs + {len(extra)} extra arguments + {len(outputs)} outputs")
    return AotKernel(name, ptx, launch, extra, parameters)


def run_impl(plugin_id: str, inputs: list[Tensor], attrs: dict[str, Any], outputs: list[Tensor], stream: int,
             tactic: int = 0) -> None:
    """Call the JIT implementation as the engine does at enqueue time."""
    plugin = _definition(plugin_id)
    if plugin.impl is None:
        raise ValueError(f"{plugin_id} has no impl")
    for tensor in [*inputs, *outputs]:
        trt.expect("run_impl", "tensor", tensor, Tensor)
    extra = {"tactic": tactic} if plugin.expects_tactic else {}
    plugin.impl(**_tensor_kwargs(plugin, inputs, attrs, plugin.impl_attrs), outputs=tuple(outputs),
                stream=trt.expect("run_impl", "stream", stream, int), **extra)
