"""DistributedDataParallel plumbing for ``torchrun --nproc_per_node N -m train``.

torchrun sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; without them everything runs as one process
(rank 0 of 1) and no process group is created.  Backend: NCCL when the run uses CUDA, gloo on CPU.
Evaluation shards the split across ranks (no padding) and gathers the per-sample predictions, so
metrics are those of a single process on the whole split.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

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


def this_process() -> Process:
    """This process as torchrun describes it in the environment (rank 0 of 1 without torchrun)."""
    return Process(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                   int(os.environ.get("LOCAL_RANK", "0")))


def start(requested_device: str) -> tuple[Process, torch.device]:
    """Join the torchrun process group if there is one; return this process and its device."""
    process = this_process()
    device = resolve_device(requested_device, process)
    if process.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return process, device


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End ``python -m train`` with ``code``; a torchrun worker skips interpreter shutdown.

    DistributedDataParallel keeps references to the process group that outlive the model and
    ``destroy_process_group``, so gloo's worker threads live into interpreter shutdown.  A worker that
    releases a finished collective's tensors there needs the GIL, finds the interpreter finalizing, and
    the process aborts ("terminate called without an active exception", exit -6) after the run has
    finished and written everything: seen twice in about a hundred 2-process runs on a loaded 2-core
    machine.  Workers therefore flush their output and leave with ``os._exit``; every file the run writes
    is complete (and atomically replaced) before this point.
    """
    if this_process().distributed:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


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
