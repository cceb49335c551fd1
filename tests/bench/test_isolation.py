"""bench.isolation: an item whose process ends inside it (a hang past its limit, a crash) is recorded as faulted
and the run resumes after it in a new process; everything before and after it is kept."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.isolation import ENDED_INSIDE, RUN_ENV, CaseLog, faults, run_resumed, unfinished
from bench.journal import JOURNAL_NAME, Journal, read
from bench.records import CASE_DONE, CASE_FAULTED, CASE_STARTED, CaseRecord, ParityRecord

REPO = Path(__file__).resolve().parents[2]
TEST_LIMIT_S = 3  # the hanging test's watchdog
HANG_S = 600  # far past it: only the watchdog ends that test
PART = "demo-tests"


def states(out: Path) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for r in read(out / JOURNAL_NAME)[0]:
        if isinstance(r, CaseRecord):
            seen.setdefault(r.item.split("::")[-1], []).append(r.state)  # a test's node id -> its name
    return seen


def test_resumed_log_records_an_unfinished_item_as_faulted(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_ENV, "run 1")
    Journal(tmp_path).append(CaseRecord("case A", CASE_STARTED, PART, run="run 1"))
    assert unfinished(tmp_path) == [(PART, "case A")]
    log = CaseLog(tmp_path, PART, resume=True)
    assert log.finished("case A") and not log.finished("case B") and unfinished(tmp_path) == []
    faulted = [r for r in read(tmp_path / JOURNAL_NAME)[0] if r.state == CASE_FAULTED]
    assert [(r.item, r.note) for r in faulted] == [("case A", ENDED_INSIDE)]
    assert CaseLog(tmp_path, "another part", resume=True).finished("case A") is False
    monkeypatch.setenv(RUN_ENV, "run 2")  # a later run of the same step: the earlier records are history
    assert not CaseLog(tmp_path, PART, resume=True).finished("case A") and unfinished(tmp_path) == []


def test_a_hanging_test_ends_alone_and_the_rest_still_runs(tmp_path):
    """pytest with the isolation plugin under run_resumed: the second of three tests hangs; its watchdog ends the
    process, the rerun records it as faulted and runs the third."""
    tests = tmp_path / "suite" / "test_demo.py"
    tests.parent.mkdir()
    tests.write_text(textwrap.dedent(f"""
        import time
        def test_first():
            pass
        def test_hangs():
            time.sleep({HANG_S})
        def test_last():
            pass
    """))
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench.pytest_isolation",
               "--rootdir", str(tests.parent), "-c", os.devnull, "--case-journal", str(out), "--case-part", PART,
               "--case-limit", str(TEST_LIMIT_S), str(tests)]
    proc = subprocess.run([sys.executable, "-c", "import sys; from bench.isolation import run_resumed; "
                           f"sys.exit(run_resumed(sys.argv[1:], {str(out)!r}))", *command],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert states(out) == {"test_first": [CASE_STARTED, CASE_DONE], "test_hangs": [CASE_STARTED, CASE_FAULTED],
                           "test_last": [CASE_STARTED, CASE_DONE]}
    assert "resuming" in proc.stderr and "Thread" in proc.stderr  # the watchdog's traceback names where it hung
    assert len(faults(out)) == 1 and "test_hangs" in faults(out)[0]  # the line gpu.sh adds to summary.txt


def test_run_resumed_passes_through_a_clean_run(tmp_path):
    assert run_resumed([sys.executable, "-c", "pass"], tmp_path) == 0
    assert run_resumed([sys.executable, "-c", "raise SystemExit(1)"], tmp_path) == 1


CASE_LIMIT_S = 3
DRIVER = f"HANG_S, CASE_LIMIT_S = {HANG_S}, {CASE_LIMIT_S}\n" + """
import sys, time
import torch
from pathlib import Path
from bench.cases import Case, Settings, Variant, case_key, run_isolated
from bench.isolation import CaseLog
from bench.journal import Journal
from bench.timing import TimingPlan

out = Path(sys.argv[1])
settings = Settings(torch.device("cpu"), (torch.float32,), TimingPlan(warmup=0, repeats=1, min_sample_s=0.0,
                    max_calls=1), part="demo")
def case(name, fn):
    return Case("unit", name, torch.float32, {}, lambda seed: torch.ones(2),
                [Variant("reference", lambda x: ([x], [])), Variant("kernel", lambda x: ([fn(x)], []))])
log = CaseLog(out, "demo", resume="--resume" in sys.argv)
for c in (case("first", lambda x: x), case("hangs", lambda x: time.sleep(HANG_S) or x), case("last", lambda x: x)):
    if not log.finished(case_key(c)):
        run_isolated(c, settings, {}, log, Journal(out), CASE_LIMIT_S)
"""


def test_a_hanging_bench_case_is_recorded_and_the_next_case_still_runs(tmp_path):
    """run_isolated's watchdog ends the process inside the hanging case; the resumed run names it faulted, runs the
    last case, and the first case's parity record is kept."""
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    runner = ("import sys; from bench.isolation import run_resumed; "
              "sys.exit(run_resumed(sys.argv[2:], sys.argv[1], '--resume'))")
    proc = subprocess.run([sys.executable, "-c", runner, str(out), sys.executable, "-c", DRIVER, str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr[-3000:]
    seen = {item.split(" | ")[1]: state for item, state in states(out).items()}
    assert seen == {"first": [CASE_STARTED, CASE_DONE], "hangs": [CASE_STARTED, CASE_FAULTED],
                    "last": [CASE_STARTED, CASE_DONE]}
    parity = [r for r in read(out / JOURNAL_NAME)[0] if isinstance(r, ParityRecord)]
    assert sorted(r.case for r in parity) == ["first", "last"] and all(r.passed for r in parity)
