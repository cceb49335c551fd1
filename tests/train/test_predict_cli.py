"""``python -m train predict``: long videos, --plot, --requests, and bad input refused with exit code 2."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import Localizer
from tests.engine.pictures import assert_png
from tests.export.tiny import MAX_CLIPS, VIDEO_DIM, write_checkpoint
from tests.markers import TEXT
from train.cli import USAGE_ERROR, main

pytestmark = TEXT

QUERY = "a person opens the door"
LONG = 3 * MAX_CLIPS  # windows under the default policy
SCORE_ATOL = 1e-5


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict")
    return {name: write_checkpoint(root / f"{name}.pt", name) for name in ("eamat", "dp")}


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "video.npy"
    np.save(path, np.random.default_rng(0).normal(size=(LONG, VIDEO_DIM)).astype(np.float32))
    return path


@pytest.mark.parametrize("name", ["eamat", "dp"])
def test_long_video_plot_and_json_with_pe_or_pathway(name: str, checkpoints, video: Path, tmp_path: Path, capsys):
    plot = tmp_path / "out" / "spans.png"
    args = ["predict", "--ckpt", str(checkpoints[name]), "--features", str(video), "--query", QUERY,
            "--duration", "90", "--device", "cpu", "--plot", str(plot)]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert "windows of" in out[0] and f"{LONG} clips" in out[0]
    result = json.loads(out[-1])
    assert result["mode"] == "windows" and 1 <= len(result["spans"]) <= 5
    if name == "eamat":
        assert len(result["pe"]) == LONG and "pathway" not in result
    else:
        assert result["pathway"] in ("exploitation", "exploration") and "pe" not in result
        assert result["pathway"] in out[0]
    assert_png(plot)
    assert [p.name for p in plot.parent.iterdir()] == ["spans.png"]  # no temporary file left
    localizer = Localizer.from_checkpoint(checkpoints[name], device="cpu")
    want = localizer.predict(np.load(video), QUERY, 90.0)
    assert [(s["start"], s["end"]) for s in result["spans"]] == [w[:2] for w in want]


def test_window_options_change_the_policy(checkpoints, video: Path, capsys):
    base = ["predict", "--ckpt", str(checkpoints["eamat"]), "--features", str(video), "--query", QUERY,
            "--device", "cpu"]
    assert main([*base, "--windows", "resample"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["mode"] == "resampled"
    assert main([*base, "--overlap", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["windows"] == 5  # offsets 0, 12, 24, 36, 48
    assert main([*base, "--overlap", "1.5"]) == USAGE_ERROR
    assert "infer.window_overlap" in capsys.readouterr().err
    assert main([*base, "--no-consensus"]) == 0
    spans = json.loads(capsys.readouterr().out.splitlines()[-1])["spans"]
    localizer = Localizer.from_checkpoint(checkpoints["eamat"], device="cpu")
    localizer.config.infer.window_consensus = False
    assert [(s["start"], s["end"]) for s in spans] == [w[:2] for w in localizer.predict(np.load(video), QUERY)]


@pytest.mark.filterwarnings("ignore::engine.inference.QueryWarning")  # the reference predictions below
def test_requests_file_gives_every_query_its_ranked_spans(checkpoints, tmp_path: Path, capsys):
    rng = np.random.default_rng(1)
    lines = []
    for i, clips in enumerate((8, LONG, MAX_CLIPS + 5, 12)):
        path = tmp_path / f"v{i}.npy"
        np.save(path, rng.normal(size=(clips, VIDEO_DIM)).astype(np.float32))
        query = QUERY if i % 2 else "door"
        lines.append({"id": f"q{i}", "features": str(path), "query": query, "duration": 2.0 * clips})
    del lines[-1]["duration"]  # optional: one second per clip
    lines.append({**lines[0], "id": "unknown words", "query": "xyzzy plugh"})
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["predict", "--ckpt", str(checkpoints["dp"]), "--requests", str(requests), "--device", "cpu",
                 "--batch-size", "3", "-k", "3", "--no-progress"]) == 0
    out = tmp_path / "requests.predictions.jsonl"
    captured = capsys.readouterr()
    assert str(out) in captured.out and f"warning: {requests}:5: query 'xyzzy plugh'" in captured.err
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert results[-1]["warnings"] and not any("warnings" in r for r in results[:-1])
    assert [r["id"] for r in results] == [line["id"] for line in lines]
    localizer = Localizer.from_checkpoint(checkpoints["dp"], device="cpu")
    for line, result in zip(lines, results, strict=True):
        want = localizer.predict(np.load(line["features"]), line["query"], line.get("duration"), k=3)
        assert [(s["start"], s["end"]) for s in result["spans"]] == [w[:2] for w in want]
        np.testing.assert_allclose([s["score"] for s in result["spans"]], [w[2] for w in want], atol=SCORE_ATOL)
        assert result["pathway"] in ("exploitation", "exploration")


def test_query_without_known_words_warns(checkpoints, video: Path, capsys):
    args = ["predict", "--ckpt", str(checkpoints["eamat"]), "--features", str(video), "--query", "xyzzy plugh",
            "--device", "cpu"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning:") == 1 and "ignores the query" in captured.err
    assert json.loads(captured.out.splitlines()[-1])["warnings"]


def _bad_features(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a bad feature file, the problem its one-line error must state)."""
    good = np.random.default_rng(2).normal(size=(30, VIDEO_DIM)).astype(np.float32)
    cases = {}
    nan = good.copy()
    nan[11, 4] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    cases["nan"] = (tmp_path / "nan.npy", r"row 11 \(clip 11\) holds NaN")
    inf = good.copy()
    inf[0, 0] = np.inf
    np.save(tmp_path / "inf.npy", inf)
    cases["inf"] = (tmp_path / "inf.npy", r"row 0 \(clip 0\) holds Inf")
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps(good))
    cases["pickled"] = (tmp_path / "pickled.npy", r"not a \.npy array file")
    np.save(tmp_path / "objects.npy", np.array([good, "x"], dtype=object), allow_pickle=True)
    cases["objects"] = (tmp_path / "objects.npy", "array of Python objects")
    np.save(tmp_path / "narrow.npy", good[:, :5])
    cases["narrow"] = (tmp_path / "narrow.npy", rf"shape \(30, 5\); expected \(T >= 1, {VIDEO_DIM}\)")
    cases["missing"] = (tmp_path / "missing.npy", "no such feature file")
    return cases


def test_bad_features_one_line_exit_2_nothing_written(checkpoints, tmp_path: Path, capsys):
    for name, (path, problem) in _bad_features(tmp_path).items():
        plot = tmp_path / f"{name}.png"
        args = ["predict", "--ckpt", str(checkpoints["eamat"]), "--features", str(path), "--query", QUERY,
                "--device", "cpu", "--plot", str(plot)]
        assert main(args) == USAGE_ERROR, name
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err, (name, err)
        assert re.search(problem, err), (name, err)
        assert "Traceback" not in err and "pickled data" not in err and not captured.out
        assert not plot.exists()


def test_foreign_or_mismatched_checkpoint_is_refused(checkpoints, video: Path, tmp_path: Path, capsys):
    foreign = tmp_path / "moment_detr.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, foreign)
    other = tmp_path / "other.pt"
    payload = torch.load(checkpoints["eamat"], weights_only=True)
    payload["config"]["model"]["name"] = "dp"  # EAMAT weights under a Dynamic Pathway config
    torch.save(payload, other)
    for path, problem in ((foreign, "not a grounding-engine checkpoint"), (other, "does not fit"),
                          (video, "not a grounding-engine checkpoint")):
        plot = tmp_path / "plot.png"
        args = ["predict", "--ckpt", str(path), "--features", str(video), "--query", QUERY, "--device", "cpu",
                "--plot", str(plot)]
        assert main(args) == USAGE_ERROR
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and problem in err, err
        assert not plot.exists()


def test_bad_request_line_names_the_line_and_writes_nothing(checkpoints, video: Path, tmp_path: Path, capsys):
    nan_path, _ = _bad_features(tmp_path)["nan"]
    requests, out = tmp_path / "requests.jsonl", tmp_path / "spans.jsonl"
    good = {"features": str(video), "query": QUERY}
    cases = [([good, {"query": QUERY}], f"{requests}:2: expected an object"),
             ([good, "{oops"], f"{requests}:2: not JSON"),
             ([good, good, {"features": str(nan_path), "query": QUERY}], f"{requests}:3: clip features {nan_path}")]
    for lines, message in cases:
        requests.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
        args = ["predict", "--ckpt", str(checkpoints["eamat"]), "--requests", str(requests), "--out", str(out),
                "--device", "cpu", "--batch-size", "1", "--no-progress"]
        assert main(args) == USAGE_ERROR
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
        assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".jsonl") == ["requests.jsonl"]


def test_mixed_or_missing_arguments_are_usage_errors(checkpoints, video: Path, tmp_path: Path, capsys):
    ckpt = str(checkpoints["eamat"])
    assert main(["predict", "--ckpt", ckpt, "--features", str(video)]) == USAGE_ERROR
    assert "--query" in capsys.readouterr().err
    assert main(["predict", "--ckpt", ckpt, "--requests", "r.jsonl", "--query", QUERY]) == USAGE_ERROR
    assert "--requests" in capsys.readouterr().err


def test_without_matplotlib_everything_but_pictures_works(checkpoints, video: Path, tmp_path: Path, capsys,
                                                          monkeypatch):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import engine, export, train.cli, train.loop, engine.plots, train.curves\n"
            "assert 'matplotlib.figure' not in sys.modules\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    plot = tmp_path / "p.png"
    args = ["predict", "--ckpt", str(checkpoints["eamat"]), "--features", str(video), "--query", QUERY,
            "--device", "cpu"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--plot", str(plot)]) == USAGE_ERROR
    assert "needs matplotlib" in capsys.readouterr().err and not plot.exists()


HUGE = 1e38  # finite float32 features the model turns into NaN scores


@pytest.mark.parametrize("single", [True, False])
def test_non_finite_model_scores_are_refused_naming_the_file(single: bool, checkpoints, tmp_path: Path, capsys):
    huge = tmp_path / "huge.npy"
    np.save(huge, np.full((MAX_CLIPS, VIDEO_DIM), HUGE, dtype=np.float32))
    requests, out = tmp_path / "requests.jsonl", tmp_path / "spans.jsonl"
    requests.write_text(json.dumps({"features": str(huge), "query": QUERY}) + "\n")
    where = (["--features", str(huge), "--query", QUERY] if single else
             ["--requests", str(requests), "--out", str(out), "--no-progress"])
    assert main(["predict", "--ckpt", str(checkpoints["eamat"]), "--device", "cpu", *where]) == USAGE_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"clip features {huge}: the model's scores are NaN / Inf" in err
    assert not out.exists()


def test_relative_request_paths_resolve_next_to_the_requests_file(checkpoints, video: Path, tmp_path: Path,
                                                                 monkeypatch, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    np.save(folder / "clip.npy", np.load(video)[:MAX_CLIPS])
    requests = folder / "requests.jsonl"
    requests.write_text(json.dumps({"features": "clip.npy", "query": QUERY, "id": 7}) + "\n")
    monkeypatch.chdir(tmp_path)  # another working directory than the file's
    assert main(["predict", "--ckpt", str(checkpoints["eamat"]), "--requests", str(requests), "--device", "cpu",
                 "--no-progress"]) == 0
    line = json.loads((folder / "requests.predictions.jsonl").read_text())
    assert line["features"] == "clip.npy" and line["id"] == 7 and line["spans"]
