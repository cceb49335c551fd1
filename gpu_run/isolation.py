"""One bad kernel cannot take the rest: items (benchmark cases, tests) that can fault run so that a fault ends only
the item it happened in.

A CUDA fault (an illegal address, a device-side assert) poisons the process's CUDA context: every later kernel in
that process fails, the reference included.  So each isolated item is bracketed by :class:`~gpu_run.records.
CaseRecord`\\ s in the step's journal (``results.jsonl``): ``started`` before it runs, ``done`` after.  After an item
that raised, :func:`context_problem` probes the context; when it is poisoned the item is recorded ``faulted`` and
the process exits with :data:`RESUME_RC`.  A process that ends inside an item (a crash, or the per-item watchdog of
:func:`arm_watchdog`, which ends it after ``limit`` seconds with a traceback of every thread) leaves a ``started``
without an end.  :func:`run_resumed` (``python -m gpu_run.isolation -- COMMAND``) reruns the command in a fresh process
while either happened; the rerun (:class:`CaseLog` with ``resume``) records the unfinished item as ``faulted`` --
the journal names it -- and skips every item that already has a record, so each rerun makes progress.

The benchmark (``python -m bench --resume --case-limit S``) and pytest (``-p gpu_run.pytest_isolation
--case-journal DIR --case-limit S``) use it; ``bench/gpu.sh`` runs the steps that can fault through
:func:`run_resumed`.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from gpu_run.journal import Journal, journal_path, read_dicts
from gpu_run.records import CASE_DONE, CASE_FAULTED, CASE_STARTED, CaseRecord

RESUME_RC = 3  # "a fault ended this process after its item was recorded: rerun me to go on"
RUN_ENV = "GPU_RUN_ISOLATION_RUN"  # :func:`run_resumed` names its run here for every process it starts
_OWN_RUN = uuid.uuid4().hex  # a process started by anything else is a run of its own
MAX_RUNS = 64  # reruns of one command at most (each one records at least one item as faulted)
ENDED_INSIDE = "its process ended inside it (killed at its time limit, or a crash); see the step log"


def context_problem(device: Any) -> str | None:
    """Why the CUDA context of ``device`` can no longer run kernels (None: it can, or the device is not CUDA)."""
    import torch

    if torch.device(device).type != "cuda":
        return None
    try:
        torch.cuda.synchronize(device)
        probe = torch.ones(4, device=device)
        if float((probe + probe).sum()) != 8.0:
            return "a probe kernel computed a wrong sum"
    except Exception as err:  # noqa: BLE001 -- whatever the driver raises, the context is gone
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    return None


def arm_watchdog(limit_s: float | None, file: TextIO | None = None) -> None:
    """End this process after ``limit_s`` seconds (a traceback of every thread to ``file``, default stderr, first)
    unless :func:`disarm_watchdog` comes before; works while the main thread waits on the GPU."""
    if limit_s:
        faulthandler.dump_traceback_later(limit_s, exit=True, file=file or sys.stderr)


def disarm_watchdog() -> None:
    faulthandler.cancel_dump_traceback_later()


def current_run() -> str:
    """The run this process belongs to: the one :func:`run_resumed` started it in, else its own.  Only records of
    the current run are resumed after; those of earlier runs in the same journal are history."""
    return os.environ.get(RUN_ENV) or _OWN_RUN


def case_records(out_dir: Path) -> list[CaseRecord]:
    """The case records of ``<out_dir>/results.jsonl``, in order (the other kinds of records are left out)."""
    return [CaseRecord.from_dict(d) for d in read_dicts(journal_path(out_dir))[0] if d.get("kind") == CaseRecord.kind]


def _states(out_dir: Path, part: str, run: str) -> dict[str, str]:
    """item -> its last state, for one part of one run in a journal."""
    last: dict[str, str] = {}
    for record in case_records(out_dir):
        if record.part == part and record.run == run:
            last[record.item] = record.state
    return last


def unfinished(out_dir: Path, run: str | None = None) -> list[tuple[str, str]]:
    """(part, item) of every item of ``run`` (default: the current one) whose last record is ``started`` (its
    process ended inside it)."""
    run = run or current_run()
    last: dict[tuple[str, str], str] = {}
    for record in case_records(out_dir):
        if record.run == run:
            last[(record.part, record.item)] = record.state
    return [key for key, state in last.items() if state == CASE_STARTED]


def _faulted(out_dir: Path, run: str) -> int:
    return sum(r.run == run and r.state == CASE_FAULTED for r in case_records(out_dir))


class CaseLog:
    """The case records of one part in ``<out_dir>/results.jsonl``.  ``resume``: items with a record are
    :meth:`finished`, and one left ``started`` by an ended process is recorded ``faulted`` first."""

    def __init__(self, out_dir: Path, part: str, resume: bool) -> None:
        self.journal, self.part, self.run = Journal(out_dir), part, current_run()
        self.seen: set[str] = set()
        if resume:
            for item, state in _states(out_dir, part, self.run).items():
                if state == CASE_STARTED:
                    self.journal.append(CaseRecord(item, CASE_FAULTED, part, note=ENDED_INSIDE, run=self.run))
                    print(f"[isolation] {part}: {item}: FAULTED ({ENDED_INSIDE}); resuming after it",
                          file=sys.stderr, flush=True)
                self.seen.add(item)
        self._started = 0.0

    def finished(self, item: str) -> bool:
        return item in self.seen

    def start(self, item: str) -> None:
        self._started = time.perf_counter()
        self.journal.append(CaseRecord(item, CASE_STARTED, self.part, run=self.run))

    def end(self, item: str, fault: str | None = None, note: str = "") -> None:
        """``fault``: why the context is gone (the item is then ``faulted``)."""
        state = CASE_FAULTED if fault else CASE_DONE
        self.journal.append(CaseRecord(item, state, self.part, time.perf_counter() - self._started, fault or note,
                                       self.run))
        self.seen.add(item)
        if fault:
            print(f"[isolation] {self.part}: {item}: FAULTED: {fault}; this process stops, the rest resumes in a "
                  "new one", file=sys.stderr, flush=True)


def run_resumed(command: Sequence[str], out_dir: Path, resume_flag: str | None = None) -> int:
    """Run ``command`` until it ends without leaving a fault to resume after; later runs get ``resume_flag``
    appended (the benchmark's ``--resume``; pytest needs none).  Exit status: 0 when every run passed and no item
    faulted, else the first failing run's status (1 when only a fault failed it)."""
    status, faulted = 0, 0
    args = list(command)
    run = uuid.uuid4().hex
    env = {**os.environ, RUN_ENV: run}
    for _ in range(MAX_RUNS):
        before = _faulted(out_dir, run)
        rc = subprocess.run(args, check=False, env=env).returncode
        left = unfinished(out_dir, run)
        if left or (rc == RESUME_RC and _faulted(out_dir, run) > before):  # (pytest's own rc 3 records nothing)
            faulted += 1
            if resume_flag and resume_flag not in args:
                args.append(resume_flag)
            print(f"[isolation] run ended with rc {rc}{' inside ' + left[0][1] if left else ''}: resuming in a new "
                  "process", file=sys.stderr, flush=True)
            continue
        if rc not in (0, 5) and status == 0:  # pytest's 5: every test already recorded, none left to run
            status = rc
        break
    else:
        print(f"[isolation] gave up after {MAX_RUNS} runs", file=sys.stderr, flush=True)
        status = status or 1
    return status or (1 if faulted else 0)


def faults(out_dir: Path) -> list[str]:
    """One line per faulted item of a journal: its part, the item, why."""
    return [f"FAULTED {r.part}: {r.item}: {r.note}" for r in case_records(out_dir) if r.state == CASE_FAULTED]


# --------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_run.isolation", description=run_resumed.__doc__.split(";")[0],
                                     epilog="e.g. python -m gpu_run.isolation --out DIR --resume-flag=--resume -- "
                                     "python -m bench --plan gpu-quick --suites kernels --append --out DIR")
    parser.add_argument("--out", type=Path, required=True, help="the results directory the command journals into")
    parser.add_argument("--resume-flag", default=None, help="argument appended to the command when it is rerun")
    parser.add_argument("--list-faults", action="store_true",
                        help="print every faulted item of --out's journal (one line each), run nothing")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    if args.list_faults:
        for line in faults(args.out):
            print(line)
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    return run_resumed(command, args.out, args.resume_flag)


if __name__ == "__main__":
    sys.exit(main())
