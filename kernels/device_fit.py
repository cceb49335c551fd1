"""Launch settings that fit the device: each launcher offers its settings in order of preference, and the first whose
compiled kernel fits the device's shared memory per block is launched.

The kernels' settings were chosen on sm_90 (227 KiB of shared memory per block); an RTX 30 / 40 / 50, A10, L4 or
L40S (sm_86 / sm_89 / sm_120) gives a block at most 99 KiB, an A100 (sm_80) 163 KiB.  Shared memory comes from
Triton's software pipelining (``num_stages`` copies of the streamed tiles) and its layout conversions, so it is read
from the compiled kernel (``JITFunction.warmup(...).metadata.shared``, Triton's public API) rather than estimated:
on a GPU :func:`fitting` compiles the preferred setting first -- on sm_90 that is the only compile, and the launch
then reuses it from Triton's cache -- and moves down the list (fewer stages) only when it does not fit.  The
choice is cached per (kernel, constexprs, dtypes, device).  Registers are no constraint: a program of 8 warps at
ptxas's cap of 255 registers per thread needs 65,280 of the 65,536 every one of these architectures has per SM.

``python -m compile_report --arch ...`` runs the same choice offline for each architecture (:func:`target`: the
limit of that architecture, shared memory read from Triton's compile for it).  Under ``TRITON_INTERPRET=1`` the
preferred setting is used as is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kernels.policy import triton_interpreted

SharedOf = Callable[[Any, tuple, tuple, dict], "int | None"]  # (kernel, grid, args, kwargs) -> bytes; None: fails


@dataclass(frozen=True)
class ArchLimits:
    """What bounds a block's launch on one architecture (CUDA C Programming Guide, compute capabilities table)."""

    arch: str  # "sm_86"
    capability: int  # 86
    shared_per_block: int  # bytes a block may opt in to
    examples: str


ARCHES: dict[str, ArchLimits] = {a.arch: a for a in (
    ArchLimits("sm_80", 80, 163 * 1024, "A100, A30"),
    ArchLimits("sm_86", 86, 99 * 1024, "RTX 30, A10, A40"),
    ArchLimits("sm_89", 89, 99 * 1024, "RTX 40, L4, L40S"),
    ArchLimits("sm_90", 90, 227 * 1024, "H100, H200, GH200"),
    ArchLimits("sm_100", 100, 227 * 1024, "B200, GB200"),
    ArchLimits("sm_120", 120, 99 * 1024, "RTX 50, RTX PRO 6000"),
)}

_TARGET: list[tuple[str, int, SharedOf]] = []  # the offline target of compile_report (innermost last)
_CHOICES: dict[tuple, dict] = {}


@contextlib.contextmanager
def target(name: str, shared_per_block: int, shared_of: SharedOf) -> Iterator[None]:
    """Choose settings for ``name`` (an architecture) with ``shared_of`` instead of the tensors' GPU (offline)."""
    _TARGET.append((name, shared_per_block, shared_of))
    try:
        yield
    finally:
        _TARGET.pop()


def _device_shared_of(device: torch.device) -> SharedOf:
    def shared_of(kernel: Any, grid: tuple, args: tuple, kwargs: dict) -> int | None:
        with torch.cuda.device(device):
            try:
                return int(kernel.warmup(*args, grid=grid, **kwargs).metadata.shared)
            except Exception:  # noqa: BLE001 -- a setting that does not compile does not fit
                return None
    return shared_of


def _key(kernel: Any, args: tuple, kwargs: Mapping[str, Any], where: str) -> tuple:
    dtypes = tuple(str(a.dtype) for a in args if isinstance(a, torch.Tensor))
    return (getattr(kernel, "__name__", str(kernel)), dtypes, tuple(sorted((k, str(v)) for k, v in kwargs.items())),
            where)


def fitting(kernel: Any, grid: tuple, args: tuple, kwargs: Mapping[str, Any],
            settings: Sequence[Mapping[str, Any]]) -> dict:
    """The first of ``settings`` (launch options such as num_warps / num_stages, in order of preference) with which
    ``kernel[grid](*args, **kwargs, **setting)`` fits the shared memory of a block on the target; the last one when
    none does (its launch then fails and says so)."""
    if not _TARGET and (triton_interpreted() or not any(isinstance(a, torch.Tensor) and a.is_cuda for a in args)):
        return dict(settings[0])
    if _TARGET:
        where, limit, shared_of = _TARGET[-1]
    else:
        device = next(a.device for a in args if isinstance(a, torch.Tensor) and a.is_cuda)
        where = f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
        limit = torch.cuda.get_device_properties(device).shared_memory_per_block_optin
        shared_of = _device_shared_of(device)
    key = _key(kernel, args, kwargs, where)
    if key not in _CHOICES:
        chosen = dict(settings[-1])
        for setting in settings:
            shared = shared_of(kernel, grid, args, {**kwargs, **setting})
            if shared is not None and shared <= limit:
                chosen = dict(setting)
                break
        _CHOICES[key] = chosen
    return dict(_CHOICES[key])


def fewer_stages(num_warps: int, num_stages: int) -> list[dict[str, int]]:
    """``num_stages`` down to 1 at ``num_warps``: pipelining depth is what shared memory grows with."""
    return [{"num_warps": num_warps, "num_stages": stages} for stages in range(num_stages, 0, -1)]


def launch(kernel: Any, grid: tuple, args: tuple, meta: Mapping[str, Any]) -> None:
    """``kernel[grid](*args, **meta)`` with the ``num_warps`` / ``num_stages`` of ``meta``, or with fewer stages where
    those do not fit the target's shared memory per block (e.g. the MS-LSTM fp32 forward's 3 stages on a 99 KiB
    sm_86 / sm_89 / sm_120 block)."""
    meta = dict(meta)
    preferred = fewer_stages(meta.pop("num_warps"), meta.pop("num_stages"))
    kernel[grid](*args, **meta, **fitting(kernel, grid, args, meta, preferred))
