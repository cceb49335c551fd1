"""bench/gpu.sh: its stated plan matches what it runs and fits 8 minutes; on CPU the flow runs, a step killed at
its limit is recorded and does not stop the later ones, and the exit status says a step failed."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.journal import JOURNAL_NAME, read
from bench.records import CheckRecord, StepRecord

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu.sh"
QUICK = ("env", "tests", "kernels", "model", "v2", "compiled")
BUDGET_S = 480  # the brief: the default run never exceeds ~8 minutes (the script's deadline)
EXPECTED_S = 400  # ... and is expected to take about 6 (here: at most 6.7) minutes
REPORT_S = 2  # the report rebuild after each step (expected; its limit is 20 s)


def run(*args: str, timeout: int = 120, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, **env}  # the tests' interpreter
    full_env.pop("TRITON_INTERPRET", None)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def script_table(name: str) -> dict[str, int]:
    """A ``declare -A NAME=([step]=seconds ...)`` table of the script."""
    text = SCRIPT.read_text()
    body = re.search(rf"declare -A {name}=\((.*?)\)\n", text, re.DOTALL).group(1)
    return {k: int(v) for k, v in re.findall(r"\[([\w-]+)\]=(\d+)", body)}


def test_help_states_each_step_with_the_times_the_script_uses() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    expect, limit = script_table("EXPECT"), script_table("LIMIT")
    for i, step in enumerate(QUICK, 1):
        match = re.search(rf"^\s*{i} {step}\s+~(\d+) s -> (\d+) s", proc.stdout, re.MULTILINE)
        assert match, f"--help does not state step {i} {step}"
        assert (int(match.group(1)), int(match.group(2))) == (expect[step], limit[step]), step
    assert sum(expect[s] for s in QUICK) + REPORT_S * len(QUICK) <= EXPECTED_S
    assert f"DEADLINE_S:-{BUDGET_S}" in SCRIPT.read_text()  # and the deadline caps the limits' sum
    assert "full" in proc.stdout and "DEVICE=cpu" in proc.stdout and "--dry-run" in proc.stdout


def test_bad_usage_exits_2() -> None:
    assert run("nosuchstep").returncode == 2
    assert run("full", "kernels").returncode == 2
    assert run(DEVICE="tpu").returncode == 2


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path) -> None:
    proc = run("--dry-run", DEVICE="cpu", OUT=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for step in QUICK:
        assert re.search(rf"^\s+{step}\s+expected ~\d+ s, limit \d+ s: ", proc.stdout, re.MULTILINE), step
    assert "-m bench --device cpu --append --out" in proc.stdout and "--plan gpu-quick --suites kernels" in proc.stdout
    assert "cases of plan gpu-quick on cpu:" in proc.stdout and "ms_lstm E=3 fwd+bwd" in proc.stdout
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_cpu_flow_keeps_going_after_a_killed_step(tmp_path) -> None:
    """The model step gets 1 s (killed), the env step then still runs; both land in results.jsonl."""
    proc = run("model", "env", DEVICE="cpu", OUT=str(tmp_path), LIMIT_MODEL="1", timeout=400)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "model: KILLED at its 1 s limit" in proc.stdout and "--- env: ok" in proc.stdout
    records, skipped = read(tmp_path / JOURNAL_NAME)
    assert skipped == 0
    steps = {r.step: r for r in records if isinstance(r, StepRecord)}
    assert steps["model"].rc in (124, 137) and steps["env"].rc == 0
    checks = {r.name: r for r in records if isinstance(r, CheckRecord)}
    assert {"environment", "memory bandwidth", "build ms_lstm triton fp32", "build cqa triton fp32"} <= set(checks)
    assert all(c.passed for c in checks.values())
    assert checks["environment"].env["device_type"] == "cpu"
    text = (tmp_path / "results.md").read_text()
    assert "killed at its 1 s limit" in text and "## Checks" in text
    assert json.loads((tmp_path / "results.json").read_text())["steps"][0]["step"] == "model"
    assert (tmp_path / "model.log").exists() and (tmp_path / "summary.txt").read_text().count("---") == 2
