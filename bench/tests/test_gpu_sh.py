"""bench/gpu.sh: its stated plan matches what it runs and fits 8 minutes, safest steps first; on CPU the flow runs,
a step killed at its limit is recorded and does not stop the later ones, the exit status says a step failed, and
everything comes back as one archive in $OUT (plus summary.txt) with every step's log -- also when the script itself
is stopped mid-step."""

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from bench.journal import read
from bench.records import StepRecord
from bench.suites import kernels as kernel_suite
from gpu_run import check
from gpu_run.journal import JOURNAL_NAME
from gpu_run.records import CheckRecord
from kernels import backend_names

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu.sh"
QUICK = ("env", "tests", "kernels", "model", "video", "hour", "compiled", "v2-build", "v2-tests", "v2-bench")
V2_STEPS = ("v2-build", "v2-tests", "v2-bench")  # the riskiest: last
BUDGET_S = 480  # the brief: the default run never exceeds ~8 minutes (the script's deadline)
EXPECTED_S = 450  # ... and is expected to take about 7.5 minutes
REPORT_S = 2  # the report rebuild after each step (expected; its limit is 20 s)
START_WAIT_S = 120  # the stop test waits at most this long for the benchmark's first case to start ...
STARTED = "[bench] kernels: starting"  # ... which its log then says


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
    assert QUICK[-len(V2_STEPS):] == V2_STEPS
    for i, step in enumerate(QUICK, 1):
        match = re.search(rf"^\s*{i} {step}\s+~(\d+) s -> (\d+) s", proc.stdout, re.MULTILINE)
        assert match, f"--help does not state step {i} {step}"
        assert (int(match.group(1)), int(match.group(2))) == (expect[step], limit[step]), step
    assert sum(expect[s] for s in QUICK) + REPORT_S * len(QUICK) <= EXPECTED_S
    assert f"DEADLINE_S:-{BUDGET_S}" in SCRIPT.read_text()  # and the deadline caps the limits' sum
    assert "full" in proc.stdout and "DEVICE=cpu" in proc.stdout and "--dry-run" in proc.stdout
    assert "export PYTHONUNBUFFERED=1" in SCRIPT.read_text()


def test_the_env_step_builds_what_the_kernel_suite_launches() -> None:
    """gpu_run.check warms Triton's cache for the benchmark: it builds at the kernel suite's GPU sizes (the
    constexprs D, H, S, N; T is a runtime argument) and names the same v2 backend."""
    built, bench = check.GPU_BUILD, kernel_suite.GPU_SHAPES
    assert (built.batch, built.dim, built.scales, built.words) == (bench.batch, bench.dim, bench.scales, bench.words)
    assert built.frames in bench.lstm_lengths
    assert check.V2 == kernel_suite.V2 and check.V2 in backend_names()


def test_bad_usage_exits_2() -> None:
    assert run("nosuchstep").returncode == 2
    assert run("full", "kernels").returncode == 2
    assert run(DEVICE="tpu").returncode == 2


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path) -> None:
    proc = run("--dry-run", DEVICE="cpu", RESULTS=str(tmp_path / "r"), OUT=str(tmp_path / "o"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for step in QUICK:
        assert re.search(rf"^\s+{step}\s+expected ~\d+ s, limit \d+ s: ", proc.stdout, re.MULTILINE), step
    assert "-m bench --device cpu --append --out" in proc.stdout and "--plan gpu-quick --suites kernels" in proc.stdout
    assert "--backend triton-v2" in proc.stdout and "gpu_run.isolation" in proc.stdout
    assert "cases of plan gpu-quick on cpu:" in proc.stdout and "ms_lstm E=3 fwd+bwd" in proc.stdout
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()


def archived(out: Path) -> tuple[list[str], tarfile.TarFile]:
    """The files in $OUT and the one archive among them."""
    names = sorted(p.name for p in out.iterdir())
    archives = [n for n in names if n.endswith(".tar.gz")]
    assert len(archives) == 1, names
    return names, tarfile.open(out / archives[0])


def test_cpu_flow_keeps_going_after_a_killed_step(tmp_path) -> None:
    """The model step gets 1 s (killed), the env step then still runs; both land in results.jsonl, and $OUT holds
    one archive of the whole results folder (logs included) and summary.txt."""
    results, out = tmp_path / "results" / "cpu", tmp_path / "out"
    proc = run("model", "env", DEVICE="cpu", RESULTS=str(results), OUT=str(out), LIMIT_MODEL="1", timeout=400)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "model: KILLED at its 1 s limit" in proc.stdout and "--- env: ok" in proc.stdout
    records, skipped = read(results / JOURNAL_NAME)
    assert skipped == 0
    steps = {r.step: r for r in records if isinstance(r, StepRecord)}
    assert steps["model"].rc in (124, 137) and steps["env"].rc == 0
    assert steps["env"].log == "logs/env.log"
    checks = {r.name: r for r in records if isinstance(r, CheckRecord)}
    assert {"environment", "memory bandwidth", "build ms_lstm triton fp32", "build cqa triton fp32"} <= set(checks)
    assert not any("triton-v2" in name for name in checks)  # v2 is built in its own, late step
    assert all(c.passed for c in checks.values())
    assert checks["environment"].env["device_type"] == "cpu"
    text = (results / "results.md").read_text()
    assert "killed at its 1 s limit" in text and "## Checks" in text
    assert json.loads((results / "results.json").read_text())["steps"][0]["step"] == "model"
    assert (results / "logs" / "model.log").exists() and (results / "summary.txt").read_text().count("---") == 2
    names, archive = archived(out)
    assert names == sorted(["summary.txt", archive.name.rsplit("/", 1)[-1]])
    members = set(archive.getnames())
    assert {"cpu/results.jsonl", "cpu/summary.txt", "cpu/logs/model.log", "cpu/logs/env.log",
            "cpu/results.md"} <= members
    assert b"build cqa triton fp32" in archive.extractfile("cpu/results.jsonl").read()


def test_a_stopped_script_still_leaves_its_archive_and_the_running_steps_log(tmp_path) -> None:
    """SIGTERM to gpu.sh in the middle of a step (once the benchmark has started its first case): the step is ended,
    its log so far is kept (unbuffered) and packed with the rest."""
    results, out = tmp_path / "results" / "cpu", tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, "DEVICE": "cpu", "RESULTS": str(results),
           "OUT": str(out)}
    env.pop("TRITON_INTERPRET", None)
    proc = subprocess.Popen(["bash", str(SCRIPT), "kernels"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = results / "logs" / "kernels.log"
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline and not (log.exists() and STARTED in log.read_text()):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout[-3000:]
    assert "stopped by a signal" in stdout
    _, archive = archived(out)
    assert STARTED in archive.extractfile("cpu/logs/kernels.log").read().decode()
    assert "stopped by a signal" in archive.extractfile("cpu/summary.txt").read().decode()


def test_hour_step_leaves_its_figures_in_the_archive(tmp_path) -> None:
    """The hour step (bench.hour_latency on presets: the GPU machine has no trained run and no NLTK) writes
    hour_latency.json into the results, and the archive carries it."""
    results, out = tmp_path / "results" / "cpu", tmp_path / "out"
    proc = run("hour", DEVICE="cpu", RESULTS=str(results), OUT=str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads((results / "hour_latency.json").read_text())
    assert figures["models"]["preset synthetic"]["runtimes"]["PyTorch"]["seconds"] > 0
    _, archive = archived(out)
    assert "cpu/hour_latency.json" in archive.getnames()
