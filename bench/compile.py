"""``python -m bench.compile``: every Triton kernel of the project compiled offline for sm_90, with ptxas's figures.

No GPU is needed: Triton compiles for a target it does not see (``GPUTarget("cuda", 90, 32)``); the registers per
thread are read from the cubin it builds (``cuobjdump --dump-resource-usage``), the spill stores / loads and the
stack from the ptxas it ships, run on its PTX with Triton's own flags (``-lineinfo -v --regAllocOptLevel=2
--gpu-name=sm_90a``), next to the shared memory Triton allocates (``metadata.shared``).

**Launch settings are the code's own.**  Each kernel's launcher is called with empty tensors at the benchmark
shapes while the kernel's ``run`` is intercepted: what it would have launched -- arguments, constexprs,
``num_warps`` / ``num_stages`` from ``_recurrent_config``, ``NUM_WARPS`` / ``NUM_STAGES``, ``tiles_for``,
``recurrence_launch_config``, the v2 launcher's group plans -- is then bound and specialised exactly as
``JITFunction.run`` does (Triton's own binder: pointer alignment and integer divisibility included) and compiled.
Nothing is restated here but the shapes:

* MS-LSTM (``kernels/ms_lstm/kernel.py``): E = 3, B = 16, T = 256, D = 512, H = 256, S = 3 -- forward
  (training: SAVE), forward (inference), backward, and ``frame_weight_grad`` for dW_ih and dW_hh;
* CQA (``kernels/cqa/kernel.py``, six kernels): B = 16, T = 256, N = 32 (the padded word tile), d = 512;
* the TensorRT plugin's recurrence (``export/plugin_kernels.py``), same shapes as the MS-LSTM;
* the MS-LSTM recurrence v2 (``kernels/ms_lstm/resident.py``) when it imports: every group size G its launcher
  considers, with the warps it would use, and the G its ``choose_group_size`` picks for a 132-SM H100 / H200
  from these figures (the launcher itself decides on the GPU from the driver's figures).  A G whose resident
  weights alone exceed a program's shared memory is not compiled (a row says so).

Dtypes: fp32 (IEEE dots: torch's default float32 matmul precision, as the benchmark runs), fp32 with TF32 dots,
fp16, bf16.  Then a **sweep** of ``num_stages`` in {2, 3} x ``num_warps`` in {4, 8} for the v1 recurrent kernels
and the CQA kernels, every dtype, with a recommendation per kernel and dtype (:func:`_recommend`: keep the current
setting unless another removes or reduces a spill) -- a resource argument, to be confirmed by timing on a GPU.

Writes ``bench/results/compile-sm90/report.md`` and ``report.json`` (``--out`` to change).  Compiles into an
empty Triton cache (``--keep-cache`` to reuse Triton's), so the compile seconds are those of a cold build.
``--warm`` (``bench/gpu.sh``'s first step): the code's settings only, bf16 and fp32, on all cores, into Triton's
own cache with the key the launchers look up -- the later steps then load the kernels instead of compiling;
``--deadline S`` stops it after S seconds (the compiles still running are killed and listed as such);
``--sources ms_lstm,cqa`` (or ``v2``, ``plugin``) limits what is compiled (``bench/gpu.sh`` warms v1 and CQA first,
v2 in a late step).

``--arch sm_80,sm_86,sm_89,sm_90,sm_100,sm_120``: every kernel of the ``triton`` backend compiled for each
architecture at the settings its launchers choose *for that architecture* (:mod:`kernels.device_fit`: the
launchers are called under :func:`kernels.device_fit.target`, each candidate setting compiled here for the
architecture to read its shared memory), with Triton's own ptxas for it; the report
(``bench/results/compile-<arches>/``) shows each kernel's shared memory and registers against the architecture's
limits, and the exit status is 1 when one does not compile or does not fit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "compile-sm90"
ARCH, CAPABILITY, WARP = "sm_90a", 90, 32
SM_COUNT = 132  # H100 SXM5 and H200 SXM: for the v2 group-size choice
MS_LSTM = dict(E=3, B=16, T=256, D=512, H=256, S=3)
CQA = dict(B=16, T=256, N=32, d=512)
DTYPES = ("fp32", "fp32-tf32", "fp16", "bf16")
SWEEP_DTYPES = ("fp32", "fp32-tf32", "fp16", "bf16")
SWEEP_STAGES, SWEEP_WARPS = (2, 3), (4, 8)
REGISTER_LIMIT = 255  # per thread on sm_90
# Triton's own ptxas call (triton/backends/nvidia/compiler.py make_cubin; fp fusion on, line info)
PTXAS_FLAGS = ("-lineinfo", "-v", "--regAllocOptLevel=2", f"--gpu-name={ARCH}")


@dataclass
class Compiled:
    """One kernel compiled for sm_90 at one setting, with ptxas's resource figures."""

    kernel: str  # what it is (e.g. "ms_lstm forward (train)")
    function: str  # the Triton function
    source: str  # the module
    dtype: str
    num_warps: int
    num_stages: int
    constexprs: dict[str, Any]
    registers: int | None = None
    spill_stores: int | None = None
    spill_loads: int | None = None
    stack: int | None = None
    shared: int | None = None  # bytes, Triton's allocation (dynamic shared memory)
    compile_s: float | None = None
    setting: str = "code"  # "code": the launcher's own; "sweep": a trial; "group G": a v2 candidate
    error: str = ""

    @property
    def spills(self) -> int:
        return (self.spill_stores or 0) + (self.spill_loads or 0)


# --------------------------------------------------------------------------------------------- Triton plumbing
def _setup() -> None:
    """The real (compiled) Triton, not the interpreter, before any kernel module is imported."""
    if os.environ.get("TRITON_INTERPRET", "0") == "1" and any(m.startswith("kernels.") for m in sys.modules):
        raise SystemExit("python -m bench.compile: the kernels were already imported under TRITON_INTERPRET=1")
    os.environ["TRITON_INTERPRET"] = "0"


@contextlib.contextmanager
def intercepted(*kernels) -> Iterator[list[tuple[Any, tuple, dict]]]:
    """Calls ``kernel[grid](...)`` of these JITFunctions record (kernel, args, kwargs) instead of launching."""
    calls: list[tuple[Any, tuple, dict]] = []
    for kernel in kernels:
        kernel.run = lambda *args, grid, warmup, _k=kernel, **kwargs: calls.append((_k, args, kwargs))
    try:
        yield calls
    finally:
        for kernel in kernels:
            kernel.__dict__.pop("run", None)


def _as_jit_run(fn, kwargs: dict) -> dict:
    """The options ``JITFunction.run`` adds before binding, so that a kernel compiled here has the same cache key
    as the one the launcher compiles on the GPU (``--warm`` fills Triton's cache for the later steps)."""
    from triton import knobs

    kwargs = dict(kwargs)
    runtime, compilation = getattr(knobs, "runtime", None), getattr(knobs, "compilation", None)
    kwargs["debug"] = kwargs.get("debug", getattr(fn, "debug", None)) or getattr(runtime, "debug", False)
    if compilation is not None and hasattr(compilation, "instrumentation_mode"):
        kwargs["instrumentation_mode"] = compilation.instrumentation_mode
    return kwargs


def _triton_ptxas(capability: int = CAPABILITY) -> Path:
    """The ptxas Triton itself runs for ``capability``: e.g. from Triton 3.9 its bundled ``ptxas-blackwell`` for sm_90,
    whose PTX the older bundled ``ptxas`` rejects ("Ptx assembly aborted due to errors")."""
    from triton.backends.nvidia import compiler

    try:
        tool = compiler.get_ptxas(capability)
    except TypeError:  # releases whose get_ptxas takes no arch
        tool = compiler.get_ptxas()
    return Path(tool.path if hasattr(tool, "path") else tool[0])  # older releases return (path, version)


class Compiler:
    """Compiles for one architecture (default sm_90) with Triton's own ptxas for it; ``memo``: a kernel compiled
    once with the same arguments and options is not compiled again (the ``--arch`` report compiles each setting
    while the launchers choose theirs, then reports those)."""

    def __init__(self, capability: int = CAPABILITY, memo: bool = False) -> None:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.backends.nvidia.compiler import sm_arch_from_capability
        from triton.compiler import make_backend

        self.triton = triton
        self.capability = capability
        self.target = GPUTarget("cuda", capability, WARP)
        self.backend = make_backend(self.target)
        self.ptxas = _triton_ptxas(capability)
        self.ptxas_flags = (*PTXAS_FLAGS[:-1], f"--gpu-name={sm_arch_from_capability(capability)}")
        self.cuobjdump = self.ptxas.with_name("cuobjdump")
        self._memo: dict[tuple, Compiled] | None = {} if memo else None

    def compile(self, kernel: str, fn, args: tuple, kwargs: dict, dtype: str, setting: str = "code",
                **override: Any) -> Compiled:
        """Bind and specialise like ``JITFunction.run``, compile for the target, read ptxas -v."""
        if self._memo is None:
            return self._compile(kernel, fn, args, kwargs, dtype, setting, **override)
        key = (fn.__name__, tuple(str(a.dtype) if hasattr(a, "dtype") else a for a in args),
               tuple(sorted((k, str(v)) for k, v in {**kwargs, **override}.items())))
        if key not in self._memo:
            self._memo[key] = self._compile(kernel, fn, args, kwargs, dtype, setting, **override)
        return dataclasses.replace(self._memo[key], kernel=kernel, dtype=dtype, setting=setting)

    def _compile(self, kernel: str, fn, args: tuple, kwargs: dict, dtype: str, setting: str = "code",
                 **override: Any) -> Compiled:
        from triton.runtime.jit import create_function_from_signature

        kwargs = _as_jit_run(fn, {**kwargs, **override})
        binder = create_function_from_signature(fn.signature, fn.params, self.backend)
        bound, specialization, options = binder(*args, **kwargs)
        options, signature, constexprs, attrs = fn._pack_args(self.backend, kwargs, bound, specialization, options)
        names = [p.name for p in fn.params]
        shown = {names[path[0]]: (str(v) if not isinstance(v, int | float | str | bool) else v)
                 for path, v in constexprs.items() if len(path) == 1}
        result = Compiled(kernel, fn.__name__, getattr(fn, "module", ""), dtype, options.num_warps,
                          options.num_stages, shown, setting=setting)
        start = time.perf_counter()
        try:
            compiled = self.triton.compile(self.triton.compiler.ASTSource(fn, signature, constexprs, attrs),
                                           target=self.target, options=options.__dict__)
            result.compile_s = time.perf_counter() - start
            result.shared = compiled.metadata.shared
            result.num_warps = compiled.metadata.num_warps
            self._ptxas(compiled.asm["ptx"], result)
            self._cubin(compiled.asm["cubin"], result)
        except Exception as err:  # noqa: BLE001 -- a kernel that does not compile is a row of the report
            result.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        return result

    def _ptxas(self, ptx: str, result: Compiled) -> None:
        """Spill stores / loads and stack from ``ptxas -v`` run with the flags Triton itself passes."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kernel.ptx"
            path.write_text(ptx)
            out = subprocess.run([str(self.ptxas), *self.ptxas_flags, str(path), "-o", str(Path(tmp) / "k.o")],
                                 capture_output=True, text=True, timeout=600)
        text = out.stdout + out.stderr
        if out.returncode != 0:
            raise RuntimeError(f"ptxas failed: {text.strip().splitlines()[-1] if text.strip() else out.returncode}")
        if m := re.search(r"Used (\d+) registers", text):
            result.registers = int(m.group(1))
        if m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", text):
            result.stack, result.spill_stores, result.spill_loads = (int(g) for g in m.groups())

    def _cubin(self, cubin: bytes, result: Compiled) -> None:
        """Registers of the binary Triton built (``cuobjdump --dump-resource-usage``); must agree with ptxas."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kernel.cubin"
            path.write_bytes(cubin)
            out = subprocess.run([str(self.cuobjdump), "--dump-resource-usage", str(path)], capture_output=True,
                                 text=True, timeout=120)
        if m := re.search(r"REG:(\d+)", out.stdout):
            if result.registers is not None and int(m.group(1)) != result.registers:
                result.error = f"ptxas says {result.registers} registers, Triton's cubin {m.group(1)}"
            result.registers = int(m.group(1))


# --------------------------------------------------------------------------------------------- launches
def _torch_dtype(name: str):
    import torch

    return {"fp32": torch.float32, "fp32-tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


@contextlib.contextmanager
def matmul_precision(dtype_name: str) -> Iterator[None]:
    """fp32 dots as the kernels' ``dot_precision`` sees them: IEEE ("highest"), or TF32 for "fp32-tf32"."""
    import torch

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if dtype_name == "fp32-tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


Launch = tuple[str, Any, tuple, dict]  # (kernel label, JITFunction, args, kwargs)


def ms_lstm_launches(dtype_name: str) -> list[Launch]:
    import torch

    from kernels.ms_lstm import kernel as k
    from kernels.policy import accumulation_dtype

    E, B, T, D, H, S = (MS_LSTM[n] for n in ("E", "B", "T", "D", "H", "S"))
    dt = _torch_dtype(dtype_name)
    gates = torch.empty(E, B, T, S * 8 * H, dtype=dt)
    w_hh = torch.empty(E * S * 2, 4 * H, H, dtype=dt)
    y = torch.empty(E, B, T, S * 2 * H, dtype=dt)
    cell = torch.empty(y.shape, dtype=accumulation_dtype(dt))
    lengths = torch.empty(B, dtype=torch.int32)
    x = torch.empty(E, B, T, D, dtype=dt)
    saved = torch.empty(gates.shape, dtype=accumulation_dtype(dt))  # the op saves the activated gates in fp32
    labels = iter(["ms_lstm forward (train)", "ms_lstm forward (inference)", "ms_lstm backward",
                   "ms_lstm dW_ih (frame_weight_grad)", "ms_lstm dW_hh (frame_weight_grad)"])
    with matmul_precision(dtype_name), intercepted(k.ms_lstm_forward_kernel, k.ms_lstm_backward_kernel,
                                                   k.frame_weight_grad_kernel) as calls:
        k.lstm_forward(saved, w_hh, lengths, y, cell, S, True)
        k.lstm_forward(gates, w_hh, lengths, y, cell, S, False)
        k.lstm_backward(saved, cell, y, w_hh, lengths, gates, S)
        k.frame_weight_grad(gates, x, sets_per_encoder=1, shift_by_scale=False)
        k.frame_weight_grad(gates, y, sets_per_encoder=2 * S, shift_by_scale=True)
    return [(next(labels), fn, args, kwargs) for fn, args, kwargs in calls]


def cqa_launches(dtype_name: str) -> list[Launch]:
    import torch

    from kernels.cqa import kernel as k

    B, T, N, d = (CQA[n] for n in ("B", "T", "N", "d"))
    dt = _torch_dtype(dtype_name)
    video, query = torch.empty(B, T, d, dtype=dt), torch.empty(B, N, d, dtype=dt)
    video_valid, query_valid = torch.empty(B, T, dtype=torch.uint8), torch.empty(B, N, dtype=torch.uint8)
    w = [torch.empty(d, dtype=dt) for _ in range(3)]
    kernels = (k._scores_kernel, k._column_kernel, k._rows_kernel, k._bwd_column_kernel, k._bwd_rows_kernel,
               k._bwd_query_kernel)
    with matmul_precision(dtype_name), intercepted(*kernels) as calls:
        _, state = k.cqa_forward(video, query, video_valid, query_valid, *w)  # state: empty workspaces
        k.cqa_backward(torch.empty(B, T, 3 * d, dtype=dt), video, query, video_valid, query_valid, *w, state)
    return [(f"cqa {fn.__name__.strip('_').removesuffix('_kernel')}", fn, args, kwargs) for fn, args, kwargs in calls]


def plugin_launches(dtype_name: str) -> list[Launch]:
    import torch

    from export import plugin_kernels as p

    E, B, T, H, S = (MS_LSTM[n] for n in ("E", "B", "T", "H", "S"))
    dt = _torch_dtype(dtype_name)
    gates, y = torch.empty(E, B, T, S * 8 * H, dtype=dt), torch.empty(E, B, T, S * 2 * H, dtype=dt)
    w_hh, lengths = torch.empty(E * S * 2, 4 * H, H, dtype=dt), torch.empty(B, dtype=torch.int32)
    with intercepted(p.ms_lstm_plugin_kernel) as calls:
        p.launch_recurrence(gates, w_hh, lengths, S, y)
    return [("TensorRT plugin recurrence (PRECISION ieee always)", fn, args, kwargs) for fn, args, kwargs in calls]


def resident_bytes(block_h: int, group_size: int, element: int) -> int:
    """Shared memory the resident W_hh slice of one v2 program needs: 4 gates x (BLOCK_H, BLOCK_H / G)."""
    return 4 * block_h * (block_h // group_size) * element


def resident_launches(dtype_name: str) -> tuple[list[tuple[Launch, int]], dict[str, Any]]:
    """Every group size the v2 launchers consider, with their own warps and stages; and their layout facts."""
    import torch

    from kernels.ms_lstm import resident as r
    from kernels.policy import accumulation_dtype

    E, B, T, H, S = (MS_LSTM[n] for n in ("E", "B", "T", "H", "S"))
    dt = _torch_dtype(dtype_name)
    gates, y = torch.empty(E, B, T, S * 8 * H, dtype=dt), torch.empty(E, B, T, S * 2 * H, dtype=dt)
    w_hh, lengths = torch.empty(E * S * 2, 4 * H, H, dtype=dt), torch.empty(B, dtype=torch.int32)
    cell = torch.empty(y.shape, dtype=accumulation_dtype(dt))
    saved = torch.empty(gates.shape, dtype=accumulation_dtype(dt))  # the op saves the activated gates in fp32
    launches, facts = [], {}
    with matmul_precision(dtype_name):
        for label, launch in (
            ("ms_lstm v2 forward (train)", r._forward_launch(saved, w_hh, lengths, y, cell, S, True)),
            ("ms_lstm v2 forward (inference)", r._forward_launch(gates, w_hh, lengths, y, cell, S, False)),
            ("ms_lstm v2 backward", r._backward_launch(saved, cell, y, w_hh, lengths, gates, S)),
        ):
            facts[label] = {"groups": launch.groups, "block_m": launch.block_m, "block_h": launch.block_h,
                            "element": torch.finfo(dt).bits // 8,
                            "shared_per_block": r.DeviceLimits(sm_count=SM_COUNT).shared_per_block}
            for g in r.candidate_group_sizes(launch.block_h):
                warps = launch.warps(launch.block_m, launch.block_h // g)
                plan = r.ResidentPlan(g, launch.block_m, launch.groups, warps)
                with intercepted(launch.kernel) as calls:
                    launch.run(plan)
                launches += [((label, fn, args, kwargs), g) for fn, args, kwargs in calls]
    return launches, facts


# --------------------------------------------------------------------------------------------- the report
@dataclass
class Report:
    compiled: list[Compiled] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resident: dict[str, Any] = field(default_factory=dict)
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Compiled] = field(default_factory=list)  # v2 candidates that cannot load, not compiled


SOURCES: dict[str, Callable[[str], list[Launch]]] = {
    "kernels/ms_lstm/kernel.py": ms_lstm_launches,
    "kernels/cqa/kernel.py": cqa_launches,
    "export/plugin_kernels.py": plugin_launches,
}
RESIDENT = "kernels/ms_lstm/resident.py"
SOURCE_NAMES = {"ms_lstm": "kernels/ms_lstm/kernel.py", "cqa": "kernels/cqa/kernel.py",
                "plugin": "export/plugin_kernels.py", "v2": RESIDENT}  # --sources
SWEPT = ("kernels/ms_lstm/kernel.py", "kernels/cqa/kernel.py")
SWEPT_KERNELS = ("forward", "backward", "cqa")  # of those: the recurrent kernels and every CQA kernel


@dataclass(frozen=True)
class Task:
    """One compile: launch ``index`` of what ``source``'s launchers do in ``dtype``, at ``setting``."""

    source: str
    dtype: str
    index: int
    setting: str = "code"
    override: tuple[tuple[str, int], ...] = ()


_CAPTURED: dict[tuple[str, str], list[tuple[str, Any, tuple, dict, str]]] = {}
_COMPILER: list[Compiler] = []
ALL_GROUPS: list[bool] = [False]  # --warm: compile every v2 candidate, as its launcher will


def captured(source: str, dtype: str) -> list[tuple[str, Any, tuple, dict, str]]:
    """(label, kernel, args, kwargs, setting) of every launch of ``source`` in ``dtype`` (cached per process)."""
    if (source, dtype) not in _CAPTURED:
        if source == RESIDENT:
            launches, facts = resident_launches(dtype)
            rows = [(label, fn, args, kwargs, f"group {g}") for (label, fn, args, kwargs), g in launches]
            _CAPTURED[(RESIDENT + "#facts", dtype)] = facts  # type: ignore[assignment]
        else:
            rows = [(label, fn, args, kwargs, "code") for label, fn, args, kwargs in SOURCES[source](dtype)]
        _CAPTURED[(source, dtype)] = rows
    return _CAPTURED[(source, dtype)]


WARM_TARGET_ENV = "BENCH_COMPILE_TARGET"  # --warm on a GPU: "<capability>,<shared memory per block>" of GPU 0


def _warm_target() -> tuple[int, int] | tuple[()]:
    """(capability, shared memory per block) of the GPU ``--warm`` compiles for; () elsewhere (sm_90, the code's
    own settings)."""
    value = os.environ.get(WARM_TARGET_ENV, "")
    return tuple(int(v) for v in value.split(",")) if value else ()  # type: ignore[return-value]


def _launch_target() -> contextlib.AbstractContextManager:
    """--warm on a GPU: the launchers choose their settings for that GPU (:mod:`kernels.device_fit`), so the cache
    holds what they will launch; otherwise their preferred settings."""
    target = _warm_target()
    if not target:
        return contextlib.nullcontext()
    from kernels import device_fit

    def shared_of(fn, grid: tuple, args: tuple, kwargs: dict) -> int | None:
        row = _COMPILER[0].compile(fn.__name__, fn, args, kwargs, "")
        return None if row.error or row.shared is None else row.shared

    return device_fit.target(f"cuda {target[0]}", target[1], shared_of)


def run_task(task: Task) -> Compiled:
    """Compile one task (in a worker process or in this one)."""
    _setup()
    if not _COMPILER:
        _COMPILER.append(Compiler(*_warm_target()[:1], memo=True))
    with _launch_target():
        label, fn, args, kwargs, setting = captured(task.source, task.dtype)[task.index]
    return _COMPILER[0].compile(label, fn, args, kwargs, task.dtype, task.setting if task.override else setting,
                                **dict(task.override))


def _tasks(sources: list[str], dtypes: tuple[str, ...], sweep: bool, report: Report) -> list[Task]:
    tasks = []
    for source in sources:
        for dtype in dtypes:
            if source == "export/plugin_kernels.py" and dtype == "fp32-tf32":
                continue  # the plugin's dots are always IEEE
            if source == RESIDENT and dtype == "fp32-tf32":
                continue
            try:
                launches = captured(source, dtype)
            except Exception as err:  # noqa: BLE001 -- e.g. a colleague's module in flux: a note, not a crash
                report.notes.append(f"{source} {dtype}: its launches could not be captured "
                                    f"({type(err).__name__}: {err}); skipped")
                continue
            for index, (label, *_, setting) in enumerate(launches):
                if source == RESIDENT and not ALL_GROUPS[0] and _unloadable(dtype, label, setting, report):
                    continue
                tasks.append(Task(source, dtype, index))
                if sweep and source in SWEPT and dtype in SWEEP_DTYPES and any(k in label for k in SWEPT_KERNELS) \
                        and "frame_weight_grad" not in label:
                    for stages in SWEEP_STAGES:
                        for warps in SWEEP_WARPS:
                            tasks.append(Task(source, dtype, index, "sweep",
                                              (("num_warps", warps), ("num_stages", stages))))
    return tasks


def _unloadable(dtype: str, label: str, setting: str, report: Report) -> bool:
    """A v2 group size whose resident weights alone exceed a program's shared memory can never load: not
    compiled for the report (a row says so); its launcher compiles it anyway and then rejects it."""
    facts = _CAPTURED[(RESIDENT + "#facts", dtype)][label]  # type: ignore[index]
    g = int(setting.split()[1])
    need = resident_bytes(facts["block_h"], g, facts["element"])
    if need <= facts["shared_per_block"]:
        return False
    report.skipped.append(Compiled(label, "", RESIDENT, dtype, 0, 1, {}, setting=setting, error=(
        f"not compiled: resident W_hh needs {need // 1024} KiB of shared memory > {facts['shared_per_block'] // 1024} "
        "KiB per program (cannot load on sm_90)")))
    return True


def _priority(task: Task) -> tuple:
    """--deadline order: what every step launches first (v1, CQA, the plugin), then v2 in bf16, fp16, fp32 with the
    larger (cheaper to compile, more likely chosen) group sizes first."""
    setting = captured(task.source, task.dtype)[task.index][-1]
    group = int(setting.split()[1]) if setting.startswith("group") else 0
    return (task.source == RESIDENT, ("bf16", "fp16", "fp32", "fp32-tf32").index(task.dtype), -group)


def _run(tasks: list[Task], jobs: int, deadline_s: float | None = None) -> list[Compiled]:
    """Compile every task, in this process (``jobs`` 1) or a pool; with ``deadline_s`` the pool is killed then and
    the tasks not done become rows saying so."""
    if jobs <= 1 and deadline_s is None:
        rows = []
        for task in tasks:
            rows.append(run_task(task))
            _progress(rows[-1])
        return rows
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if deadline_s is None:  # longest first (v2, backward kernels): the pool's tail is short
        label_of = lambda t: captured(t.source, t.dtype)[t.index][0]
        order = sorted(range(len(tasks)),
                       key=lambda i: (tasks[i].source != RESIDENT, "backward" not in label_of(tasks[i])))
    else:
        order = sorted(range(len(tasks)), key=lambda i: _priority(tasks[i]))
    stop = None if deadline_s is None else time.perf_counter() + deadline_s
    rows: list[Compiled | None] = [None] * len(tasks)
    pool = ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(run_task, tasks[i]): i for i in order}
        pending = set(futures)
        while pending:
            left = None if stop is None else stop - time.perf_counter()
            if left is not None and left <= 0:
                break
            done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                i = futures[future]
                rows[i] = future.result()
                _progress(rows[i])
    finally:
        if stop is not None:
            for process in list(getattr(pool, "_processes", {}).values()):  # a compile cannot be interrupted
                process.kill()
        pool.shutdown(wait=stop is None, cancel_futures=True)
    for i, row in enumerate(rows):
        if row is None:
            label, _, _, kwargs, setting = captured(tasks[i].source, tasks[i].dtype)[tasks[i].index]
            rows[i] = Compiled(label, "", tasks[i].source, tasks[i].dtype, kwargs.get("num_warps", 0),
                               kwargs.get("num_stages", 0), {}, setting=setting,
                               error=f"not compiled within the {deadline_s:.0f} s deadline")
    return [r for r in rows if r is not None]


def _progress(row: Compiled) -> None:
    what = row.error or (f"{row.registers} regs, spill {row.spill_stores}/{row.spill_loads} B, "
                         f"smem {row.shared} B, {row.compile_s:.1f} s")
    print(f"[compile] {row.kernel} {row.dtype} w{row.num_warps} s{row.num_stages} ({row.setting}): {what}",
          file=sys.stderr, flush=True)


def _dedupe(rows: list[Compiled]) -> list[Compiled]:
    """A sweep point equal to the code's setting is the code's row."""
    code = {(r.kernel, r.dtype, r.num_warps, r.num_stages) for r in rows if r.setting == "code"}
    return [r for r in rows if r.setting != "sweep" or (r.kernel, r.dtype, r.num_warps, r.num_stages) not in code]


def _resident_summary(report: Report, dtypes: tuple[str, ...]) -> None:
    try:
        r = importlib.import_module("kernels.ms_lstm.resident")
    except Exception as err:  # noqa: BLE001
        report.notes.append(f"{RESIDENT} does not import ({type(err).__name__}: {err}): skipped")
        return
    for dtype in dtypes:
        facts = _CAPTURED.get((RESIDENT + "#facts", dtype))
        if not facts:
            continue
        for label, fact in facts.items():  # type: ignore[union-attr]
            candidates = [(int(row.setting.split()[1]), row) for row in report.compiled
                          if row.kernel == label and row.dtype == dtype and row.setting.startswith("group")]
            chosen = _choose_group(r, fact, candidates)
            report.resident.setdefault(dtype, {})[label] = {**fact, "chosen_group_size_132_sms": chosen}


def _choose_group(r, facts: dict[str, Any], candidates: list[tuple[int, Compiled]]) -> int | None:
    """The launcher's own rule (``choose_group_size``) fed with these ptxas figures for a 132-SM sm_90 GPU."""
    usage = {g: None if row.error or row.registers is None else
             r.KernelUsage(row.registers, row.num_warps, row.shared or 0, row.spills) for g, row in candidates}
    try:
        return r.choose_group_size(facts["groups"], facts["block_h"], r.DeviceLimits(sm_count=SM_COUNT), usage.get)
    except Exception:  # noqa: BLE001
        return None


def per_program_registers(row: Compiled) -> int:
    return (row.registers or 0) * WARP * row.num_warps


def _recommend(report: Report) -> None:
    """Per (kernel, dtype) with a sweep: keep the current setting unless it spills and another does not (or spills
    less); among the spill-free others, the fewest registers per program (regs x threads: what bounds programs
    per SM), then fewer stages, then fewer warps.  At the benchmark's grids (<= ~2 programs per SM) register
    counts alone predict no speed-up, so nothing else is a reason to change."""
    groups: dict[tuple[str, str], list[Compiled]] = {}
    for row in report.compiled:
        if row.setting in ("code", "sweep") and not row.error and row.registers is not None:
            groups.setdefault((row.kernel, row.dtype), []).append(row)
    summary = lambda r: {"num_warps": r.num_warps, "num_stages": r.num_stages, "registers": r.registers,
                         "registers_per_program": per_program_registers(r), "spills": r.spills, "shared": r.shared}
    for (kernel, dtype), rows in groups.items():
        current = next((r for r in rows if r.setting == "code"), None)
        if current is None or len(rows) < 2:
            continue
        least_spill = min(r.spills for r in rows)
        best = current
        if current.spills > least_spill:
            best = min((r for r in rows if r.spills == least_spill),
                       key=lambda r: (per_program_registers(r), r.num_stages, r.num_warps))
        fewest = min(rows, key=lambda r: (r.spills > 0, r.registers, r.setting != "code", r.num_stages, r.num_warps))
        report.recommendations.append({
            "kernel": kernel, "dtype": dtype, "current": summary(current), "recommended": summary(best),
            "fewest_registers_per_thread": summary(fewest), "change": best is not current,
            "points": {f"w{r.num_warps}/s{r.num_stages}": summary(r) for r in rows},
        })


def summary(report: Report) -> list[str]:
    """The findings, derived from the rows: spills at the code's settings, the changes the sweep recommends, the
    v2 group sizes chosen, what cannot load, the slowest compiles."""
    code = [r for r in report.compiled if r.setting == "code" and not r.error]
    spilling = [f"{r.kernel} {r.dtype} ({r.spills} B)" for r in code if r.spills]
    lines = [f"- Spills at the code's launch settings: {', '.join(spilling) if spilling else 'none'}."]
    changes = [f"{c['kernel']} {c['dtype']}: w{c['current']['num_warps']}/s{c['current']['num_stages']} -> "
               f"w{c['recommended']['num_warps']}/s{c['recommended']['num_stages']} (spill {c['current']['spills']} "
               f"-> {c['recommended']['spills']} B)" for c in report.recommendations if c["change"]]
    lines.append(f"- Sweep: changes that remove or reduce a spill: {'; '.join(changes) if changes else 'none'}.")
    cqa = [c for c in report.recommendations if c["kernel"].startswith("cqa")]
    if cqa:
        kept = all(not c["change"] for c in cqa)
        lines.append("- CQA (`NUM_WARPS` / `NUM_STAGES` in kernels/cqa/kernel.py): "
                     + ("keep: no other setting of the sweep removes or reduces a spill." if kept else
                        "see the sweep table for the changes."))
    for dtype, kernels in report.resident.items():
        chosen = {label.replace("ms_lstm v2 ", ""): f["chosen_group_size_132_sms"] for label, f in kernels.items()}
        lines.append(f"- v2 {dtype}: group size chosen on {SM_COUNT} SMs: "
                     + ", ".join(f"{k} {'none (runs v1)' if v is None else f'G = {v}'}" for k, v in chosen.items())
                     + ".")
    if report.skipped:
        lines.append(f"- v2: {len(report.skipped)} (kernel, dtype, G) candidates cannot load (resident weights above "
                     "the shared memory of a program); its launcher still compiles them on the GPU before rejecting "
                     "them.")
    slow = sorted((r for r in report.compiled if r.compile_s), key=lambda r: -r.compile_s)[:3]
    if slow:
        lines.append("- Slowest compiles: " + "; ".join(f"{r.kernel} {r.dtype} {r.setting} {r.compile_s:.0f} s"
                                                          for r in slow) + ".")
    return lines


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _kb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:.1f}"


def markdown(report: Report, meta: dict[str, Any]) -> str:
    lines = [
        "# Triton kernels compiled offline for sm_90 (H100 / H200)", "",
        f"Made by `python -m bench.compile` ({meta['timestamp']}, commit {meta['git_commit']}, Triton "
        f"{meta['triton']}, torch {meta['torch']}, ptxas `{meta['ptxas']}`, {meta['seconds']} s, Triton cache "
        f"{meta['cache']}); no GPU involved. Registers per thread from the cubin Triton built (`cuobjdump "
        f"--dump-resource-usage`), spills and stack from `ptxas {meta['ptxas_flags']}` on its PTX (Triton's own "
        "ptxas flags); shared memory is Triton's allocation per program. Launch settings are captured from the "
        "launchers themselves (see `bench/compile.py`).", "",
        f"Shapes: MS-LSTM {MS_LSTM}; CQA {CQA} (N = 32: the padded word tile). fp32 = IEEE dots (torch's default "
        "float32 matmul precision, the benchmark's setting); fp32-tf32 = TF32 dots.", "",
    ]
    if report.notes:
        lines += ["## Notes", *[f"- {n}" for n in report.notes], ""]
    lines += ["## Summary", "", *summary(report), ""]
    header = "| kernel | dtype | warps | stages | registers | spill st/ld B | stack B | smem KiB | compile s |"
    sep = "|---|---|---|---|---|---|---|---|---|"

    def row(r: Compiled, name: str | None = None) -> str:
        if r.error:
            warps = r.num_warps or "-"
            return f"| {name or r.kernel} | {r.dtype} | {warps} | {r.num_stages} | {r.error} | | | | |"
        spill = f"{r.spill_stores}/{r.spill_loads}" + (" **spill**" if r.spills else "")
        regs = f"{r.registers}" + (" (max)" if r.registers and r.registers >= REGISTER_LIMIT else "")
        return (f"| {name or r.kernel} | {r.dtype} | {r.num_warps} | {r.num_stages} | {regs} | {spill} | "
                f"{_cell(r.stack)} | {_kb(r.shared)} | {r.compile_s:.1f} |")

    lines += ["## Every kernel at the code's launch settings", "", header, sep]
    lines += [row(r) for r in report.compiled if r.setting == "code"]
    resident = [r for r in report.compiled if r.setting.startswith("group")]
    if resident:
        lines += ["", "## MS-LSTM recurrence v2 (resident.py): every group size G its launcher considers", "",
                  "The launcher picks G on the GPU from the driver's figures; *chosen* applies its own "
                  f"`choose_group_size` to these ptxas figures for a {SM_COUNT}-SM GPU.", "",
                  header.replace("| kernel |", "| kernel | G |"), sep + "---|"]
        for r in resident:
            lines.append(row(r).replace(f"| {r.kernel} |", f"| {r.kernel} | {r.setting.split()[1]} |", 1))
        lines += [""]
        for dtype, kernels in report.resident.items():
            for label, facts in kernels.items():
                lines.append(f"- {label} {dtype}: {facts['groups']} groups, BLOCK_M {facts['block_m']}, BLOCK_H "
                             f"{facts['block_h']}; chosen G on {SM_COUNT} SMs: {facts['chosen_group_size_132_sms']}")
    if report.recommendations:
        points = [f"w{w}/s{st}" for w in SWEEP_WARPS for st in SWEEP_STAGES]
        lines += ["", "## num_stages {2, 3} x num_warps {4, 8}: v1 recurrent kernels and CQA kernels", "",
                  "Each cell: registers per thread, spill bytes (stores + loads), shared memory KiB; the code's "
                  "current setting in bold. *Recommended*: the current setting unless it spills and another "
                  "setting does not (or spills less); then the fewest registers per program. Registers per thread "
                  "alone are no reason to change: at the benchmark's grids (MS-LSTM 54 programs, CQA 64-256, on "
                  "132 SMs) no kernel is limited by programs per SM; a spill costs local-memory traffic in every "
                  "step. Timing on the GPU decides.", "",
                  "| kernel | dtype | " + " | ".join(points) + " | recommended |",
                  "|---|---|" + "---|" * len(points) + "---|"]
        for rec in report.recommendations:
            cells = []
            for point in points:
                r = rec["points"].get(point)
                if r is None:
                    cells.append("-")
                    continue
                text = f"{r['registers']}, {r['spills']}, {_kb(r['shared'])}"
                is_current = (r["num_warps"], r["num_stages"]) == (rec["current"]["num_warps"],
                                                                   rec["current"]["num_stages"])
                cells.append(f"**{text}**" if is_current else text)
            b = rec["recommended"]
            verdict = f"**w{b['num_warps']}/s{b['num_stages']}** (change)" if rec["change"] else "keep"
            lines.append(f"| {rec['kernel']} | {rec['dtype']} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- --arch
ARCH_SOURCES = ("kernels/ms_lstm/kernel.py", "kernels/cqa/kernel.py")  # what the "triton" backend launches
REGISTERS_PER_SM = 65536  # every architecture of kernels.device_fit.ARCHES


def arch_rows(arch_name: str, dtypes: tuple[str, ...]) -> list[Compiled]:
    """Every kernel the "triton" backend launches, at the settings its launchers choose for ``arch_name``
    (:mod:`kernels.device_fit` with that architecture's shared memory per block, each candidate setting compiled
    for it), compiled for it."""
    _setup()
    from kernels import device_fit

    arch = device_fit.ARCHES[arch_name]
    compiler = Compiler(arch.capability, memo=True)

    def shared_of(fn, grid: tuple, args: tuple, kwargs: dict) -> int | None:
        row = compiler.compile(fn.__name__, fn, args, kwargs, "")
        return None if row.error or row.shared is None else row.shared

    rows = []
    with device_fit.target(arch.arch, arch.shared_per_block, shared_of):
        for dtype in dtypes:
            for source in ARCH_SOURCES:
                for label, fn, args, kwargs in SOURCES[source](dtype):
                    rows.append(compiler.compile(label, fn, args, kwargs, dtype, setting=arch.arch))
                    _progress(rows[-1])
    return rows


def over_limit(row: Compiled) -> str:
    """Why ``row`` cannot launch on its architecture ("" when it can)."""
    from kernels.device_fit import ARCHES

    limit = ARCHES[row.setting].shared_per_block
    if row.error:
        return row.error
    if (row.shared or 0) > limit:
        return f"shared memory {row.shared} B > {limit} B per block"
    if per_program_registers(row) > REGISTERS_PER_SM:
        return f"{per_program_registers(row)} registers per program > {REGISTERS_PER_SM} per SM"
    return ""


def arch_markdown(rows: list[Compiled], meta: dict[str, Any]) -> str:
    from kernels.device_fit import ARCHES

    archs = list(dict.fromkeys(r.setting for r in rows))
    lines = [f"# Triton kernels compiled offline for {', '.join(archs)}", "",
             f"Made by `python -m bench.compile --arch {','.join(archs)}` ({meta['timestamp']}, commit "
             f"{meta['git_commit']}, Triton {meta['triton']}, torch {meta['torch']}, {meta['seconds']} s); no GPU "
             "involved. Every kernel of the `triton` backend (MS-LSTM v1, CQA) at the launch settings its launcher "
             "chooses for each architecture: `kernels.device_fit` offers the code's warps / stages first and fewer "
             "stages while the kernel, compiled by Triton for that architecture, takes more shared memory than a "
             "block may have there. Registers and spills from Triton's own ptxas for the architecture, shared "
             "memory from Triton's compile (`metadata.shared`). The v2 recurrence (`triton-v2`) is not listed: it "
             "picks its group size on the device from the driver's figures, launches cooperatively and falls back "
             "to v1 when it cannot run.", "",
             f"Shapes: MS-LSTM {MS_LSTM}; CQA {CQA}.", "", "## Summary", ""]
    for arch in archs:
        mine = [r for r in rows if r.setting == arch]
        bad = [f"{r.kernel} {r.dtype}: {over_limit(r)}" for r in mine if over_limit(r)]
        limit = ARCHES[arch].shared_per_block
        most = max((r.shared or 0 for r in mine), default=0)
        changed = sorted({f"{r.kernel} {r.dtype} ({r.num_stages} stages)" for r in mine
                          if r.num_stages < _preferred_stages(rows, r)})
        lines.append(f"- **{arch}** ({ARCHES[arch].examples}; {limit // 1024} KiB per block): {len(mine)} kernels, "
                     + (f"**{len(bad)} over a limit**: {'; '.join(bad)}" if bad else
                        f"every one within the limits (most shared memory {most / 1024:.1f} KiB)")
                     + (f"; fewer stages than preferred: {', '.join(changed)}" if changed else "") + ".")
    lines += ["", "## Every kernel, per architecture", "",
              "| arch | kernel | dtype | warps | stages | registers | regs / program | spill st/ld B | smem KiB | "
              "limit KiB | fits |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        why = over_limit(r)
        if r.error:
            lines.append(f"| {r.setting} | {r.kernel} | {r.dtype} | {r.num_warps} | {r.num_stages} | {r.error} "
                         "| | | | | **no** |")
            continue
        lines.append(f"| {r.setting} | {r.kernel} | {r.dtype} | {r.num_warps} | {r.num_stages} | {r.registers} | "
                     f"{per_program_registers(r)} | {r.spill_stores}/{r.spill_loads} | {_kb(r.shared)} | "
                     f"{ARCHES[r.setting].shared_per_block / 1024:.0f} | {'yes' if not why else '**no**: ' + why} |")
    return "\n".join(lines) + "\n"


def _preferred_stages(rows: list[Compiled], row: Compiled) -> int:
    """The most stages any architecture got for ``row``'s kernel and dtype (the code's preference)."""
    return max(r.num_stages for r in rows if r.kernel == row.kernel and r.dtype == row.dtype)


def arch_main(archs: list[str], dtypes: tuple[str, ...], out: Path, jobs: int) -> int:
    """``--arch``: compile for each architecture (one process per architecture), write the report, 1 when a kernel
    fails to compile or exceeds a limit of its architecture."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch
    import triton

    from bench.records import git_commit

    start = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(archs))), mp_context=spawn) as pool:
        results = list(pool.map(arch_rows, archs, [dtypes] * len(archs)))
    rows = [row for arch_result in results for row in arch_result]
    meta = {"timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit(),
            "triton": triton.__version__, "torch": torch.__version__, "archs": archs,
            "seconds": round(time.perf_counter() - start, 1), "ms_lstm_shapes": MS_LSTM, "cqa_shapes": CQA}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"meta": meta, "kernels": [asdict(r) for r in rows]}, indent=1,
                                                default=str) + "\n")
    (out / "report.md").write_text(arch_markdown(rows, meta))
    bad = [r for r in rows if over_limit(r)]
    print(f"wrote {out / 'report.md'} and report.json ({len(rows)} kernels on {len(archs)} architectures, "
          f"{meta['seconds']} s); {len(bad)} failed to compile or exceed a limit")
    return 1 if bad else 0


def _local_gpu_target() -> str:
    """The WARM_TARGET_ENV value of this machine's GPU 0 ("" without one)."""
    import torch

    if not torch.cuda.is_available():
        return ""
    props = torch.cuda.get_device_properties(0)
    return f"{props.major * 10 + props.minor},{props.shared_memory_per_block_optin}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compile", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT})")
    parser.add_argument("--no-sweep", action="store_true", help="only the code's own launch settings")
    parser.add_argument("--dtypes", default=",".join(DTYPES), help=f"comma-separated of {','.join(DTYPES)}")
    parser.add_argument("--jobs", type=int, default=1, help="compile in this many processes (Triton compiles one "
                        "kernel at a time per process)")
    parser.add_argument("--deadline", type=float, default=None, metavar="S",
                        help="stop after S seconds (the compiles still running are killed and reported as such)")
    parser.add_argument("--sources", default=",".join(SOURCE_NAMES),
                        help=f"comma-separated kernels to compile, of {','.join(SOURCE_NAMES)} (default: all; "
                        "bench/gpu.sh warms ms_lstm,cqa first and v2 in a later step)")
    parser.add_argument("--arch", default=None, metavar="ARCHES",
                        help="comma-separated of sm_80,sm_86,sm_89,sm_90,sm_100,sm_120: every kernel of the triton "
                        "backend at the settings its launchers choose for each architecture, checked against its "
                        "limits; report in bench/results/compile-<arches>/ (--out to change); --dtypes applies")
    parser.add_argument("--render", action="store_true",
                        help="rewrite report.md from the report.json in --out, compiling nothing")
    parser.add_argument("--keep-cache", action="store_true",
                        help="use Triton's cache (faster; compile times then include cache hits)")
    parser.add_argument("--warm", action="store_true",
                        help="bench/gpu.sh's use: only the code's settings, bf16 and fp32, all cores; the compiled "
                        "kernels land in Triton's cache with the key the launchers look up, so the later steps "
                        "load them instead of compiling")
    args = parser.parse_args(argv)
    if args.arch:
        from kernels.device_fit import ARCHES

        archs = [a for a in args.arch.split(",") if a]
        dtypes = tuple(d for d in args.dtypes.split(",") if d)
        if bad := [a for a in archs if a not in ARCHES] + [d for d in dtypes if d not in DTYPES]:
            raise SystemExit(f"python -m bench.compile: unknown {bad}; --arch takes {', '.join(ARCHES)}, --dtypes "
                             f"{', '.join(DTYPES)}")
        out = args.out if args.out != DEFAULT_OUT else DEFAULT_OUT.with_name("compile-" + "-".join(
            a.replace("_", "") for a in archs))
        if not args.keep_cache:
            cold_cache = tempfile.TemporaryDirectory(prefix="bench-compile-cache-")
            os.environ["TRITON_CACHE_DIR"] = cold_cache.name
        _setup()
        return arch_main(archs, dtypes, out, max(args.jobs, 1))
    if args.render:
        return render(args.out)
    if args.warm:
        args.no_sweep, args.dtypes, args.jobs = True, "bf16,fp32", max(args.jobs, os.cpu_count() or 1)
        ALL_GROUPS[0] = True
        os.environ[WARM_TARGET_ENV] = _local_gpu_target()
    elif not args.keep_cache:  # compile times of a cold compile, and no stale cache entry in the figures
        cold_cache = tempfile.TemporaryDirectory(prefix="bench-compile-cache-")
        os.environ["TRITON_CACHE_DIR"] = cold_cache.name
    dtypes = tuple(d for d in args.dtypes.split(",") if d)
    if bad := [d for d in dtypes if d not in DTYPES]:
        raise SystemExit(f"python -m bench.compile: unknown dtype(s) {bad}; choose from {', '.join(DTYPES)}")
    _setup()
    import torch
    import triton

    from bench.records import git_commit

    report = Report()
    start = time.perf_counter()
    names = [n for n in args.sources.split(",") if n]
    if bad := [n for n in names if n not in SOURCE_NAMES]:
        raise SystemExit(f"python -m bench.compile: --sources: unknown {bad}; choose from {', '.join(SOURCE_NAMES)}")
    sources = [SOURCE_NAMES[n] for n in names if SOURCE_NAMES[n] != RESIDENT]
    if "v2" in names:
        try:
            importlib.import_module("kernels.ms_lstm.resident")
            sources.append(RESIDENT)
        except Exception as err:  # noqa: BLE001 -- a colleague's module in progress: report, do not fail
            report.notes.append(f"{RESIDENT} does not import ({type(err).__name__}: {err}): skipped")
    try:
        tasks = _tasks(sources, dtypes, not args.no_sweep, report)
        report.compiled = _dedupe(_run(tasks, args.jobs, args.deadline)) + report.skipped
        _resident_summary(report, dtypes)
    except Exception:  # noqa: BLE001 -- write what was compiled, then fail
        report.notes.append("the run stopped early:\n" + traceback.format_exc(limit=3))
    _recommend(report)
    meta = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit(),
        "triton": triton.__version__, "torch": torch.__version__, "target": f"cuda {CAPABILITY} ({ARCH})",
        "ptxas": subprocess.run([str(Compiler().ptxas), "--version"], capture_output=True, text=True)
        .stdout.strip().splitlines()[-1], "seconds": round(time.perf_counter() - start, 1),
        "ms_lstm_shapes": MS_LSTM, "cqa_shapes": CQA, "ptxas_flags": " ".join(PTXAS_FLAGS),
        "cache": "reused (compile seconds include hits)" if args.keep_cache or args.warm else "cold (empty cache)",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "notes": report.notes, "kernels": [asdict(r) for r in report.compiled],
               "resident": report.resident, "recommendations": report.recommendations}
    (args.out / "report.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    (args.out / "report.md").write_text(markdown(report, meta))
    failed = [r for r in report.compiled if r.error and r.setting == "code" or "deadline" in r.error]
    print(f"wrote {args.out / 'report.md'} and report.json ({len(report.compiled)} compiles, {meta['seconds']} s); "
          f"{len(failed)} kernel(s) failed at the code's settings or missed the deadline")
    return 1 if failed else 0


def render(out: Path) -> int:
    """report.md again from report.json (e.g. after a change to this module's tables)."""
    data = json.loads((out / "report.json").read_text())
    fields = set(Compiled.__dataclass_fields__)
    rows = [Compiled(**{k: v for k, v in row.items() if k in fields}) for row in data["kernels"]]
    report = Report(rows, data["notes"], data["resident"], data["recommendations"],
                    [r for r in rows if r.error.startswith("not compiled: resident")])
    (out / "report.md").write_text(markdown(report, data["meta"]))
    print(f"wrote {out / 'report.md'} from report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
