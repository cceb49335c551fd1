"""bench.records (what every number carries) and bench.report (JSON, markdown, PNG)."""

import json

from bench.records import ParityRecord, SkipRecord, ThroughputRecord
from bench.report import JSON_NAME, MARKDOWN_NAME, PLOT_NAME, markdown, write

SHAPES = {"B": 2, "T": 16}


def _records(passed: bool) -> list:
    env = {"device": "test-cpu"}
    return [
        ParityRecord("kernels", "cqa fwd", "triton", "reference", "float32", SHAPES, 3e-7 if passed else float("nan"),
                     None, 1e-5, passed, "" if passed else "RuntimeError: boom", env),
        ThroughputRecord("kernels", "cqa fwd", "reference", "reference", "float32", SHAPES, 2.0, 0.1, 5, 1.0, env=env),
        ThroughputRecord("kernels", "cqa fwd", "compiled", "reference", "float32", SHAPES, 1.0, 0.1, 5, 2.0, env=env),
        SkipRecord("deploy", "all", "tensorrt", "TensorRT is not installed", env),
    ]


def test_write_produces_json_markdown_and_plot(tmp_path) -> None:
    paths = write(tmp_path, {"device": "test-cpu"}, {"quick": True}, _records(True), ["a note"])
    assert {p.name for p in paths.values()} == {JSON_NAME, MARKDOWN_NAME, PLOT_NAME}
    data = json.loads((tmp_path / JSON_NAME).read_text())
    assert data["passed"] is True
    assert [r["variant"] for r in data["throughput"]] == ["reference", "compiled"]
    assert data["throughput"][1]["speedup"] == 2.0 and data["throughput"][1]["env"]["device"] == "test-cpu"
    assert data["skipped"][0]["reason"] == "TensorRT is not installed"
    assert (tmp_path / PLOT_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (tmp_path / MARKDOWN_NAME).read_text()
    assert "all parity checks passed" in text and "2.00x" in text and "skipped: TensorRT is not installed" in text


def test_failures_are_visible_and_json_stays_valid(tmp_path) -> None:
    write(tmp_path, {}, {}, _records(False), [])
    data = json.loads((tmp_path / JSON_NAME).read_text())  # NaN is written as a string, not bare NaN
    assert data["passed"] is False and data["parity"][0]["output_rel_err"] == "nan"
    text = markdown({}, {}, _records(False), [])
    assert "PARITY FAILED" in text and "**FAIL** (RuntimeError: boom)" in text
