"""Atomic file output: a file either appears whole or not at all, and a previous version survives a crash."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; write it inside the block.

    On success the temporary file is fsynced and renamed onto ``path`` (then the directory is fsynced, so the
    rename survives a power cut); on any error -- or a KeyboardInterrupt -- it is removed and ``path`` keeps
    whatever it held before.  The parent directory is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def write_json(obj: Any, path: str | Path, indent: int = 2) -> Path:
    """``obj`` as indented JSON at ``path``, written atomically (:func:`atomic_output`); returns ``path``."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent) + "\n")
    return Path(path)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
