"""``python -m bench`` end to end on CPU: --quick passes and writes its results (every record in results.jsonl,
the report rebuilt from it); --perturb must fail; the gpu-quick plan runs on CPU at tiny shapes.

Budget: the --quick run takes ~30 s on 2 idle cores (the deploy suite exports two ONNX files); the
perturbed run only the kernels suite.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.journal import read
from bench.records import ParityRecord, RunRecord, ThroughputRecord
from gpu_run.journal import JOURNAL_NAME

REPO = Path(__file__).resolve().parents[2]
QUICK_BUDGET_S = 120  # the brief: --quick must finish in < 2 min on 2 cores


def run_bench(*args: str, out: Path, plan: tuple[str, ...] = ("--quick",)) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("TRITON_INTERPRET", None)  # the CLI must set it on its own on a CPU-only machine
    return subprocess.run(
        [sys.executable, "-m", "bench", *plan, "--device", "cpu", "--out", str(out), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=QUICK_BUDGET_S + 60,
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("quick")
    return run_bench(out=out), out


def test_quick_run_passes_and_prints_both_tables(quick) -> None:
    proc, _ = quick
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "## Parity" in proc.stdout and "## Throughput" in proc.stdout
    assert "parity checks passed" in proc.stdout
    assert "torch.compile skipped in --quick mode" in proc.stdout  # said so, not silently dropped


def test_quick_run_writes_records_with_their_context(quick) -> None:
    _, out = quick
    data = json.loads((out / "results.json").read_text())
    assert data["passed"] is True
    assert {"kernels", "model", "deploy"} <= {r["suite"] for r in data["throughput"]}
    assert data["parity"], "no parity check ran"
    for record in data["parity"] + data["throughput"]:
        assert record["dtype"] and record["shapes"]
        for key in ("device", "torch", "triton", "onnxruntime", "tensorrt", "git_commit"):
            assert record["env"][key], key
    assert (out / "results.md").is_file() and (out / "speedup_vs_length.png").stat().st_size > 0


def test_quick_run_journals_every_record_and_the_report_matches_it(quick) -> None:
    _, out = quick
    records, skipped = read(out / JOURNAL_NAME)
    assert skipped == 0
    runs = [r for r in records if isinstance(r, RunRecord)]
    assert [r.part for r in runs] == ["kernels", "model", "deploy"] and all(r.plan == "quick" for r in runs)
    data = json.loads((out / "results.json").read_text())
    timed = [r for r in records if isinstance(r, ThroughputRecord)]
    assert len(timed) == len(data["throughput"]) and all(r.part for r in timed)
    assert len([r for r in records if isinstance(r, ParityRecord)]) == len(data["parity"])
    steps = [r for r in timed if r.step_us is not None]
    assert steps and all(r.case.startswith("ms_lstm") and r.floor_us > 0 and "GB/s" in r.floor_basis for r in steps)


def test_perturbation_makes_parity_fail(tmp_path) -> None:
    proc = run_bench("--suites", "kernels", "--perturb", out=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PARITY FAILED" in proc.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    failed = [r for r in data["parity"] if not r["passed"]]
    assert failed and all(r["variant"] in ("triton", "triton-v2") for r in failed)


def test_gpu_quick_parts_run_on_cpu_and_append_to_one_journal(tmp_path) -> None:
    plan = ("--plan", "gpu-quick")
    first = run_bench("--suites", "model", out=tmp_path, plan=plan)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_bench("--suites", "compiled", "--append", out=tmp_path, plan=plan)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    records, _ = read(tmp_path / JOURNAL_NAME)
    assert [r.part for r in records if isinstance(r, RunRecord)] == ["model", "compiled"]
    timed = [r for r in records if isinstance(r, ThroughputRecord)]
    assert timed and {r.case.split(" ")[-2:][0] for r in timed} == {"train"}  # train steps only
    assert json.loads((tmp_path / "results.json").read_text())["settings"]["parts"] == ["model", "compiled"]


def test_bad_arguments_exit_with_a_message(tmp_path) -> None:
    proc = run_bench("--suites", "kernelz", out=tmp_path)
    assert proc.returncode != 0 and "kernelz" in proc.stderr
    proc = run_bench(out=tmp_path, plan=("--quick", "--plan", "full"))
    assert proc.returncode != 0 and "--quick is the quick plan" in proc.stderr
