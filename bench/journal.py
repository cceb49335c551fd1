"""``results.jsonl``: every record appended the moment it exists, so a run that is killed keeps what it finished.

One JSON object per line (``record.to_dict()``, NaN written as the string "nan"); each append is flushed and
``fsync``-ed before the call returns.  :func:`read` skips a line that does not parse (a write cut short by a
kill) and says how many it skipped.  The report (:mod:`bench.report`) is rebuilt from this file alone.

``python -m bench.journal step DIR --step NAME --rc N --elapsed S --timeout S [--command C] [--log F]``
appends a :class:`~bench.records.StepRecord` (``bench/gpu.sh`` calls it after each step).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.records import StepRecord, record_from_dict

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
    """Appends records to ``<out_dir>/results.jsonl``, each one durable (flush + fsync) when :meth:`append`
    returns.  ``fresh=True`` starts the file empty."""

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


def read(path: Path) -> tuple[list[Any], int]:
    """(records, number of lines skipped) of a journal file; a missing file reads as empty."""
    records, skipped = [], 0
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(record_from_dict(json.loads(line)))
        except (ValueError, TypeError):
            skipped += 1
    return records, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    step = sub.add_parser("step", help="append a bench/gpu.sh step record")
    step.add_argument("out_dir", type=Path)
    step.add_argument("--step", required=True)
    step.add_argument("--rc", type=int, required=True)
    step.add_argument("--elapsed", type=float, required=True)
    step.add_argument("--timeout", type=float, required=True)
    step.add_argument("--command", default="")
    step.add_argument("--log", default="")
    args = parser.parse_args(argv)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    Journal(args.out_dir).append(
        StepRecord(args.step, args.rc, args.elapsed, args.timeout, args.command, args.log, now))
    return 0


if __name__ == "__main__":
    sys.exit(main())
