"""gpu_run.pytest_isolation under gpu_run.isolation: a test that hangs past its limit ends alone -- the rerun records
it as faulted and runs the tests after it; the watchdog's traceback names where it hung."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gpu_run.isolation import case_records, faults
from gpu_run.records import CASE_DONE, CASE_FAULTED, CASE_STARTED

REPO = Path(__file__).resolve().parents[2]
TEST_LIMIT_S = 3  # the hanging test's watchdog
HANG_S = 600  # far past it: only the watchdog ends that test
PART = "demo-tests"


def test_a_hanging_test_ends_alone_and_the_rest_still_runs(tmp_path):
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
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "gpu_run.pytest_isolation",
               "--rootdir", str(tests.parent), "-c", os.devnull, "--case-journal", str(out), "--case-part", PART,
               "--case-limit", str(TEST_LIMIT_S), str(tests)]
    proc = subprocess.run([sys.executable, "-m", "gpu_run.isolation", "--out", str(out), "--", *command],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    seen: dict[str, list[str]] = {}
    for r in case_records(out):
        assert r.part == PART
        seen.setdefault(r.item.split("::")[-1], []).append(r.state)  # a test's node id -> its name
    assert seen == {"test_first": [CASE_STARTED, CASE_DONE], "test_hangs": [CASE_STARTED, CASE_FAULTED],
                    "test_last": [CASE_STARTED, CASE_DONE]}
    assert "resuming" in proc.stderr and "Thread" in proc.stderr
    assert len(faults(out)) == 1 and "test_hangs" in faults(out)[0]  # the line bench/gpu.sh adds to summary.txt
    listed = subprocess.run([sys.executable, "-m", "gpu_run.isolation", "--out", str(out), "--list-faults"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.splitlines() == faults(out)
