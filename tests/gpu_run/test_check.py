"""``python -m gpu_run.check`` on the CPU (Triton interpreter, tiny shapes): the machine's records, then one passed
build record per (op, backend, dtype), all in the journal; bad arguments exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_run.check import INTERPRETER_BUILD
from gpu_run.journal import JOURNAL_NAME, read_dicts
from gpu_run.records import CheckRecord

REPO = Path(__file__).resolve().parents[2]
CHECK_TIMEOUT_S = 300


def run_check(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("TRITON_INTERPRET", None)  # the check sets it for a CPU run on its own
    return subprocess.run([sys.executable, "-m", "gpu_run.check", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=CHECK_TIMEOUT_S)


def checks(out: Path) -> dict[str, CheckRecord]:
    objects, skipped = read_dicts(out / JOURNAL_NAME)
    assert skipped == 0
    return {r.name: r for r in map(CheckRecord.from_dict, objects)}


def test_v1_check_records_the_machine_and_each_build(tmp_path) -> None:
    proc = run_check("--out", str(tmp_path), "--device", "cpu", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = checks(tmp_path)
    assert set(found) == {"environment", "memory bandwidth", "warm Triton cache triton (optional)",
                          "build ms_lstm triton fp32", "build cqa triton fp32"}
    assert all(c.passed for c in found.values())
    assert found["environment"].env["device_type"] == "cpu" and found["environment"].env["triton_interpret"]
    assert found["memory bandwidth"].data["copy_bytes_per_s"] > 0
    build = found["build ms_lstm triton fp32"].data
    assert (build["B"], build["T"], build["D"], build["S"]) == (INTERPRETER_BUILD.batch, INTERPRETER_BUILD.frames,
                                                                INTERPRETER_BUILD.dim, INTERPRETER_BUILD.scales)


def test_v2_check_builds_the_v2_recurrence_alone(tmp_path) -> None:
    proc = run_check("--out", str(tmp_path), "--device", "cpu", "--backend", "triton-v2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = checks(tmp_path)
    assert set(found) == {"warm Triton cache triton-v2 (optional)", "build ms_lstm triton-v2 fp32"}
    assert found["build ms_lstm triton-v2 fp32"].passed
    assert {"forward_plan", "backward_plan"} <= set(found["build ms_lstm triton-v2 fp32"].data)


@pytest.mark.parametrize("args", [["--device", "tpu"], ["--jobs", "0"], ["--backend", "cuda"], []])
def test_bad_arguments_exit_2(tmp_path, args) -> None:
    out = [] if not args else ["--out", str(tmp_path)]
    proc = run_check(*out, *args)
    assert proc.returncode == 2 and "python -m gpu_run.check" in proc.stderr
    assert not (tmp_path / JOURNAL_NAME).exists()
