"""Compiling captured launches for an architecture through Triton's own JIT path, and the binary's resources.

``JITFunction.warmup(*args, grid=..., **kwargs)`` binds, specialises and compiles exactly as the launch
``kernel[grid](*args, **kwargs)`` would, under the same cache key, so ``--warm`` leaves in Triton's cache what the
launchers look up.  Offline, Triton's active driver is an :class:`OfflineDriver` that names the target
architecture; nothing else of a GPU is asked for.  Registers and stack frame per thread (local memory: spilled
registers) are read from the cubin Triton built (``cuobjdump --dump-resource-usage``, the tool Triton ships),
shared memory per block from Triton's compile metadata.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from compile_report.launches import Launch, capture

WARP = 32
REGISTERS_PER_SM = 65536  # every architecture of kernels.device_fit.ARCHES


class OfflineDriver:
    """Triton's active driver for an absent GPU of compute capability ``capability``: a compile asks it only for the
    target, the device and the stream.  The device id is the capability, so that Triton's per-device caches of
    compiled kernels keep targets apart within one process."""

    def __init__(self, capability: int) -> None:
        from triton.backends.compiler import GPUTarget

        self.target = GPUTarget("cuda", capability, WARP)

    def get_current_target(self) -> Any:
        return self.target

    def get_current_device(self) -> int:
        return self.target.arch

    def get_current_stream(self, device: int | None = None) -> int:
        return 0


@dataclass
class Row:
    """One kernel compiled for one architecture; ``stack``: bytes of local memory per thread (spilled registers)."""

    arch: str
    kernel: str
    dtype: str
    shared_limit: int  # bytes of shared memory a block may have on ``arch``
    candidate: bool = False  # see launches.Launch
    num_warps: int = 0
    num_stages: int = 0
    registers: int | None = None
    stack: int | None = None
    shared: int | None = None
    compile_s: float | None = None
    error: str = ""

    @property
    def registers_per_program(self) -> int:
        return (self.registers or 0) * WARP * self.num_warps

    def problem(self) -> str:
        """Why this kernel cannot launch on its architecture ("" when it can)."""
        if self.error:
            return self.error
        if (self.shared or 0) > self.shared_limit:
            return f"shared memory {self.shared} B > {self.shared_limit} B per block"
        if self.registers_per_program > REGISTERS_PER_SM:
            return f"{self.registers_per_program} registers per program > {REGISTERS_PER_SM} per SM"
        return ""


_FIRST_COMPILE_S: dict[str, float] = {}  # compiled kernel hash -> seconds its compile took in this process


def compile_timed(kernel: Any, grid: Any, args: tuple, kwargs: dict) -> tuple[Any, float]:
    """``kernel.warmup(...)`` and the seconds of the compile that produced it (a later cache hit keeps those)."""
    start = time.perf_counter()
    compiled = kernel.warmup(*args, grid=grid, **kwargs)
    return compiled, _FIRST_COMPILE_S.setdefault(compiled.hash, time.perf_counter() - start)


def resources(cubin: bytes) -> tuple[int, int]:
    """(registers, stack frame bytes) per thread of the kernel in ``cubin``."""
    from triton import knobs

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(cubin)
        out = subprocess.run([knobs.nvidia.cuobjdump.path, "--dump-resource-usage", path], capture_output=True,
                             text=True, check=True, timeout=120).stdout
    found = re.search(r"REG:(\d+) STACK:(\d+)", out)
    if found is None:
        raise RuntimeError(f"cuobjdump reports no resource usage: {out.strip()[-300:]}")
    return int(found[1]), int(found[2])


def describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def compile_launch(launch: Launch, arch: Any, dtype: str) -> Row:
    """``launch`` compiled for ``arch`` (a :class:`kernels.device_fit.ArchLimits`); a failure is the row's error."""
    row = Row(arch.arch, launch.label, dtype, arch.shared_per_block, launch.candidate,
              launch.kwargs.get("num_warps", 0), launch.kwargs.get("num_stages", 0))
    try:
        compiled, row.compile_s = compile_timed(launch.kernel, launch.grid, launch.args, launch.kwargs)
        row.num_warps, row.num_stages = compiled.metadata.num_warps, compiled.metadata.num_stages
        row.shared = compiled.metadata.shared
        row.registers, row.stack = resources(compiled.asm["cubin"])
    except Exception as err:  # noqa: BLE001 -- a kernel that does not compile is a row of the report
        row.error = describe(err)
    return row


def worker_env(cache_dir: str | None) -> None:
    """A worker process's set-up, before it imports any kernel module: compiled Triton, ``cache_dir`` as its cache."""
    os.environ["TRITON_INTERPRET"] = "0"
    if cache_dir:
        os.environ["TRITON_CACHE_DIR"] = cache_dir


def compile_unit(unit: tuple[int, Any, str, str, bool]) -> tuple[int, list[Row]]:
    """(index, rows) of unit (index, arch, source, dtype, offline): every launch of ``source`` in ``dtype`` compiled
    for ``arch``, its launchers choosing their settings for ``arch`` (:func:`kernels.device_fit.target`).  Offline,
    Triton's driver becomes an :class:`OfflineDriver`; else Triton compiles for this machine's GPU."""
    index, arch, source, dtype, offline = unit
    from triton.runtime.driver import driver

    from kernels import device_fit

    if offline:
        driver.set_active(OfflineDriver(arch.capability))

    def shared_of(kernel: Any, grid: Any, args: tuple, kwargs: dict) -> int | None:
        try:
            return int(compile_timed(kernel, grid, args, kwargs)[0].metadata.shared)
        except Exception:  # noqa: BLE001 -- a setting that does not compile does not fit
            return None

    try:
        with device_fit.target(arch.arch, arch.shared_per_block, shared_of):
            launches = capture(source, dtype, gpu=not offline)
    except Exception as err:  # noqa: BLE001 -- e.g. a launcher that rejects the shapes: a row says so
        return index, [Row(arch.arch, source, dtype, arch.shared_per_block, error=f"not captured: {describe(err)}")]
    return index, [compile_launch(launch, arch, dtype) for launch in launches]
