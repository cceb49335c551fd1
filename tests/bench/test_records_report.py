"""bench.records (what every number carries) and bench.report (JSON, markdown, PNG)."""

import json

import torch

from bench.records import ABSENT, ParityRecord, SkipRecord, ThroughputRecord, environment, package_version, slug
from bench.report import JSON_NAME, MARKDOWN_NAME, PLOT_NAME, markdown, write

ENV_KEYS = {"device", "torch", "triton", "onnxruntime", "tensorrt", "git_commit", "python"}
SHAPES = {"B": 2, "T": 16}


def test_environment_names_device_versions_and_commit() -> None:
    env = environment(torch.device("cpu"))
    assert ENV_KEYS <= set(env)
    assert env["torch"] == torch.__version__
    assert env["git_commit"] and env["device"]


def test_missing_package_is_absent() -> None:
    assert package_version("no_such_module_for_bench") == ABSENT


def test_slug_is_path_friendly() -> None:
    assert slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


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
