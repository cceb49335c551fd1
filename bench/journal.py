"""The benchmark's journal: ``results.jsonl`` decoded into :mod:`bench.records`, and ``bench/gpu.sh``'s steps.

The file itself (durable appends, tolerant reads) is :mod:`gpu_run.journal`'s.

``python -m bench.journal step DIR --step NAME --rc N --elapsed S --timeout S [--command C] [--log F]``
appends a :class:`~bench.records.StepRecord` (``bench/gpu.sh`` calls it after each step).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

from bench.records import StepRecord, record_from_dict
from gpu_run.journal import Journal, read_dicts


def read(path: Path) -> tuple[list[Any], int]:
    """(records, number of lines skipped) of a journal file; a line that does not parse or is of an unknown kind
    is skipped; a missing file reads as empty."""
    records: list[Any] = []
    objects, skipped = read_dicts(path)
    for data in objects:
        try:
            records.append(record_from_dict(data))
        except (ValueError, TypeError):
            skipped += 1
    return records, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    step = sub.add_parser("step", help="append a bench/gpu.sh step record")
    step.add_argument("out_dir", type=Path, help="the results directory (its results.jsonl is appended to)")
    step.add_argument("--step", required=True, help="the step's name (env, tests, kernels, ...)")
    step.add_argument("--rc", type=int, required=True, help="the step's exit status (124 / 137: killed at its limit)")
    step.add_argument("--elapsed", type=float, required=True, help="seconds the step ran")
    step.add_argument("--timeout", type=float, required=True, help="the step's time limit in seconds")
    step.add_argument("--command", default="", help="the step's command line")
    step.add_argument("--log", default="", help="the step's log, relative to out_dir")
    args = parser.parse_args(argv)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    Journal(args.out_dir).append(
        StepRecord(args.step, args.rc, args.elapsed, args.timeout, args.command, args.log, now))
    return 0


if __name__ == "__main__":
    sys.exit(main())
