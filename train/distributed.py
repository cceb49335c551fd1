"""DistributedDataParallel plumbing for ``torchrun --nproc_per_node N -m train``.

torchrun sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; without them everything runs as one process
(rank 0 of 1) and no process group is created.  Backend: NCCL when the run uses CUDA, gloo on CPU.
Evaluation shards the split across ranks (no padding) and gathers the per-sample predictions, so
metrics are those of a single process on the whole split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from engine.device import resolve_device as engine_device


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(requested: str, process: Process) -> torch.device:
    """:func:`engine.device.resolve_device` of ``train.device``; a CUDA device without an index is this
    process's ``cuda:LOCAL_RANK``."""
    try:
        device = engine_device(requested)
    except ValueError as err:
        raise RuntimeError(f"train.device: {err}") from err
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", process.local_rank)
        torch.cuda.set_device(device)
    return device


def start(requested_device: str) -> tuple[Process, torch.device]:
    """Join the torchrun process group if there is one; return this process and its device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    process = Process(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    device = resolve_device(requested_device, process)
    if process.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return process, device


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def gather_objects(obj: Any, process: Process) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (a one-element list when not distributed)."""
    if not process.distributed:
        return [obj]
    out: list[Any] = [None] * process.world_size
    dist.all_gather_object(out, obj)
    return out


def shard(num_items: int, process: Process) -> list[int]:
    """This rank's share of ``range(num_items)`` (strided, no padding, no duplicates)."""
    return list(range(process.rank, num_items, process.world_size))
