"""Training checkpoints: atomic writes and the RNG state needed for an exact resume.

A run directory holds ``last.pt`` (written every epoch: everything needed to continue) and ``best.pt``
(the weights with the best validation score; no optimizer state).  Both carry the model weights, the
full config, the vocabulary (``itos`` + word vectors, so inference needs no GloVe file), the epoch and
the best validation metric; :func:`engine.localizer.read_checkpoint` reads either.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.localizer import read_checkpoint

CHECKPOINT_FORMAT = "grounding-engine/1"
LAST, BEST = "last.pt", "best.pt"


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same directory, fsync, then ``os.replace`` onto ``path``.

    A crash or an exception mid-way leaves any previous ``path`` intact and no partial file behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def capture_rng() -> dict[str, Any]:
    """The python / numpy / torch (+ CUDA) generator states, as plain types and tensors (weights_only-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_checkpoint(path: str | Path, in_run_dir: str = LAST) -> Path:
    """A run directory means its ``in_run_dir`` file (``last.pt`` to resume, ``best.pt`` to evaluate)."""
    path = Path(path)
    if path.is_dir():
        path = path / in_run_dir
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return path


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint that can be resumed (``last.pt``), with a clear error for a weights-only one."""
    ckpt = read_checkpoint(path)
    missing = [k for k in ("optimizer", "scheduler", "rng") if k not in ckpt]
    if missing:
        raise ValueError(
            f"{path} holds weights only (no {', '.join(missing)}); resume from the run's {LAST}, not {BEST}"
        )
    return ckpt
