"""bench.journal (results.jsonl decoded into the benchmark's records) and the report rebuilt from it alone."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from bench.journal import read
from bench.records import ParityRecord, RunRecord, SkipRecord, StepRecord, ThroughputRecord
from bench.report import JSON_NAME, MARKDOWN_NAME, PLOT_NAME, rebuild
from gpu_run.journal import JOURNAL_NAME, Journal
from gpu_run.records import CaseRecord, CheckRecord

REPO = Path(__file__).resolve().parents[2]
ENV = {"device": "test-gpu", "torch": "x", "git_commit": "abc"}
SHAPES = {"B": 2, "T": 16}


def _records() -> list:
    return [
        RunRecord("gpu-quick", "kernels", {"repeats": 30}, ["a note"], ENV),
        CheckRecord("build ms_lstm triton bf16", True, 3.2, "compiled and ran", {"op": "ms_lstm"}, ENV),
        CheckRecord("build cqa triton bf16", False, 1.0, "RuntimeError: boom", {}, ENV),
        ParityRecord("kernels", "cqa fwd", "triton", "reference", "bfloat16", SHAPES, float("nan"), None, 1e-2,
                     False, "crashed", True, ENV, "kernels"),
        ThroughputRecord("kernels", "ms_lstm E=1 fwd", "triton", "reference", "bfloat16", SHAPES, 2.0, 0.1, 30, 1.5,
                         env=ENV, step_us=125.0, floor_us=0.5, floor_basis="1.000 MB/step at 2000 GB/s",
                         part="kernels"),
        SkipRecord("kernels", "all", "compiled", "in part compiled", ENV, "kernels"),
        StepRecord("kernels", 124, 120.0, 120.0, "python -m bench ...", "kernels.log", "t"),
    ]


def test_records_round_trip_and_a_cut_line_is_skipped(tmp_path) -> None:
    book = Journal(tmp_path, fresh=True)
    written = [*_records(), CaseRecord("kernels | cqa fwd", "done", "kernels", 1.5, run="r")]  # gpu_run's kinds too
    book.extend(written)
    with open(tmp_path / JOURNAL_NAME, "a") as f:
        f.write('{"kind": "no such kind"}\n')  # a record this version does not know
        f.write('{"kind": "throughput", "suite": "kern')  # a write cut short by a kill
    records, skipped = read(tmp_path / JOURNAL_NAME)
    assert skipped == 2
    assert records == written[:3] + records[3:4] + written[4:]  # (NaN != NaN: the parity record below)
    assert isinstance(records[3], ParityRecord) and math.isnan(records[3].output_rel_err)  # "nan" in JSON, NaN again
    assert records[4].step_us == 125.0 and records[4].part == "kernels" and records[4].env == ENV
    assert Journal(tmp_path, fresh=False).path.read_text().count("\n") == len(written) + 1  # kept, not truncated


def test_report_is_rebuilt_from_the_journal_alone(tmp_path) -> None:
    Journal(tmp_path, fresh=True).extend(_records())
    paths = rebuild(tmp_path)
    assert {p.name for p in paths.values()} == {JSON_NAME, MARKDOWN_NAME, PLOT_NAME}
    data = json.loads((tmp_path / JSON_NAME).read_text())
    assert data["passed"] is False and data["environment"]["device"] == "test-gpu"
    assert data["steps"][0]["rc"] == 124 and len(data["checks"]) == 2
    text = (tmp_path / MARKDOWN_NAME).read_text()
    assert "PARITY FAILED; 1 check(s) and 1 step(s) FAILED" in text
    assert "killed at its 120 s limit" in text
    assert "| kernels | ms_lstm E=1 fwd | B=2 T=16 | bfloat16 | triton | 125.00 | 0.500 | 250x |" in text
    assert "### Part kernels (gpu-quick)" in text and "a note" in text


def test_report_and_journal_command_lines_need_no_torch(tmp_path) -> None:
    Journal(tmp_path, fresh=True).extend(_records()[:2])
    script = (
        "import sys\n"
        "from bench import journal, report\n"
        f"journal.main(['step', {str(tmp_path)!r}, '--step', 'env', '--rc', '0', '--elapsed', '3',\n"
        "              '--timeout', '75'])\n"
        f"assert report.main([{str(tmp_path)!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'the report imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    records, _ = read(tmp_path / JOURNAL_NAME)
    assert isinstance(records[-1], StepRecord) and records[-1].step == "env" and records[-1].timeout_s == 75
    assert "| env | ok | 3 | 75 |" in (tmp_path / MARKDOWN_NAME).read_text()
    missing = subprocess.run([sys.executable, "-m", "bench.report", str(tmp_path / "none")], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no " in missing.stderr
