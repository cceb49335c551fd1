"""``results.jsonl``: every record appended the moment it exists, so a run that is killed keeps what it finished.

One JSON object per line (``record.to_dict()``, NaN written as the string "nan"); each append is flushed and
``fsync``-ed before the call returns.  :func:`read_dicts` skips a line that does not parse (a write cut short by
a kill) and says how many it skipped.  Every tool of a run appends to the same file; each reads back the kinds it
knows (``kind`` key: :mod:`gpu_run.records` for this package's, ``bench.records`` for the benchmark's).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

JOURNAL_NAME = "results.jsonl"


def finite(value: Any) -> Any:
    """JSON has no NaN / Inf: they are written as strings ("nan", "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def journal_path(out_dir: Path) -> Path:
    return Path(out_dir) / JOURNAL_NAME


class Journal:
    """Appends records (anything with ``to_dict()``) to ``<out_dir>/results.jsonl``, each one durable (flush +
    fsync) when :meth:`append` returns.  ``fresh=True`` starts the file empty."""

    def __init__(self, out_dir: Path, fresh: bool = False) -> None:
        self.path = journal_path(out_dir)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh or not self.path.exists():
            self.path.write_text("")

    def append(self, record: Any) -> None:
        self.extend([record])

    def extend(self, records: Iterable[Any]) -> None:
        lines = "".join(json.dumps(finite(r.to_dict()), default=str) + "\n" for r in records)
        if not lines:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def read_dicts(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(the JSON objects of a journal file, number of lines skipped); a missing file reads as empty."""
    objects, skipped = [], 0
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(value, dict):
            objects.append(value)
        else:
            skipped += 1
    return objects, skipped
