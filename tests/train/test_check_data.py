"""``python -m train check-data`` and training on a custom dataset (with its training-curve PNG)."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.checkpoint import BEST, config_of, read_checkpoint
from engine.data import GroundingDataset
from tests.engine.data.custom_data import SIZES, data_overrides, write_custom
from tests.engine.data.release_layouts import LAYOUTS, reference, write_layout
from tests.engine.data.release_layouts import SIZES as SIZES_OF_LAYOUTS
from tests.engine.pictures import assert_png
from tests.markers import TEXT
from tests.train.tiny import tiny_args, train_tiny
from train.cli import USAGE_ERROR, main
from train.curves import CURVE_FILE
from train.loop import Trainer


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_custom(tmp_path_factory.mktemp("custom"))


def run_check(capsys, *args: str) -> tuple[int, str, dict]:
    code = main(["check-data", "--no-progress", *args])
    out = capsys.readouterr().out
    return code, out, json.loads(out.splitlines()[-1])


@TEXT  # the word-vector check tags the queries
def test_a_good_dataset_passes(custom, capsys):
    code, out, summary = run_check(capsys, *data_overrides(*custom))
    assert code == 0 and "result: OK" in out
    assert {split: row["pairs"] for split, row in summary["splits"].items()} == SIZES
    assert summary["ok"] and summary["feature_files"]["readable"] == sum(SIZES.values())
    assert summary["feature_files"]["width"] == np.load(next(custom[1].iterdir())).shape[1]


@TEXT  # the word-vector check tags the queries
def test_a_broken_dataset_lists_every_problem_and_exits_2(custom, tmp_path: Path, capsys):
    annotations, features = (shutil.copytree(folder, tmp_path / folder.name) for folder in custom)
    train = annotations / "train.jsonl"
    lines = train.read_text().splitlines()
    videos = [json.loads(line)["video"] for line in lines]
    lines[2] = "{this is not json"  # line 3
    first = json.loads(lines[4])
    lines[4] = json.dumps({**first, "end": first["duration"] + 5.0})  # line 5: clipped, kept
    train.write_text("\n".join(lines) + "\n")
    (features / f"{videos[5]}.npy").unlink()
    bad = np.load(features / f"{videos[6]}.npy")
    bad[2, 0] = np.nan
    np.save(features / f"{videos[6]}.npy", bad)
    (features / f"{videos[7]}.npy").write_bytes(pickle.dumps(bad))
    np.save(features / f"{videos[8]}.npy", np.ones((4, bad.shape[1] - 3), dtype=np.float32))

    code, out, summary = run_check(capsys, *data_overrides(annotations, features))
    assert code == USAGE_ERROR and "result: FAILED" in out and not summary["ok"]
    assert f"{train}:3: not JSON" in out and f"{train}:5: times" in out and "kept, clipped" in out
    assert f"{videos[5]}: {features / videos[5]}{{.npy,.avi.npy,.npz}}" in out
    assert "row 2 (clip 2) holds NaN" in out and "not a .npy array file" in out
    assert f"{videos[8]}: width {bad.shape[1] - 3}" in out
    files = summary["feature_files"]
    assert list(files["missing"]) == [videos[5]] and set(files["unreadable"]) == {videos[6], videos[7]}
    assert list(files["other_widths"]) == [videos[8]]
    assert summary["splits"]["train"]["dropped"] == {"malformed": 1} and summary["splits"]["train"]["clipped"] == 1
    assert len(summary["problems"]) == 3


@TEXT  # the word-vector check tags the queries
def test_strict_fails_on_dropped_lines_and_missing_folders_fail(custom, tmp_path: Path, capsys):
    annotations = shutil.copytree(custom[0], tmp_path / "annotations")
    with open(annotations / "test.jsonl", "a") as f:
        f.write("[]\n")
    overrides = data_overrides(annotations, custom[1])
    assert run_check(capsys, *overrides)[0] == 0
    code, out, _ = run_check(capsys, *overrides, "--strict")
    assert code == USAGE_ERROR and "dropped (--strict)" in out
    code, out, _ = run_check(capsys, *data_overrides(tmp_path / "nowhere", custom[1]))
    assert code == USAGE_ERROR and "train.jsonl not found" in out
    code, _, summary = run_check(capsys, "--set", "data.dataset=custom")
    assert code == USAGE_ERROR and "data.annotations must name a folder" in summary["problems"][0]


@TEXT
def test_training_on_custom_data_writes_the_training_curve(custom, tmp_path: Path):
    run = train_tiny(tmp_path / "run", *data_overrides(*custom), "--set", "train.epochs=1")
    assert_png(run / CURVE_FILE)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["num_samples"] == SIZES["test"]


# ------------------------------------------------------------------ every public release's layout, end to end
FRAME_ROUNDING = 1e-3  # relative: TACoS durations are whole frames at 29.4 fps
@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("h5py", reason="HDF5 features need h5py: pip install 'h5py>=3'")
    root, ref = tmp_path_factory.mktemp("releases"), reference()
    return ref, {name: write_layout(name, root / name, ref) for name in LAYOUTS}


def windows_recall(pred: np.ndarray, windows: list[list[list[float]]], threshold: float) -> float:
    """R@1 (%) at ``threshold`` with a hit on any window, computed here independently of engine.metrics."""
    hits = []
    for (p0, p1), gts in zip(pred, windows, strict=True):
        ious = [max(0.0, min(p1, g1) - max(p0, g0)) / (max(p1, g1) - min(p0, g0)) for g0, g1 in gts]
        hits.append(max(ious) >= threshold)
    return 100.0 * float(np.mean(hits))


@TEXT
@pytest.mark.parametrize("name", LAYOUTS)
def test_check_data_and_one_epoch_on_every_release_layout(name, releases, tmp_path: Path, capsys):
    ref, layouts = releases
    written = layouts[name]
    code, out, summary = run_check(capsys, *written.overrides())
    assert code == 0 and "result: OK" in out, out
    release = summary["releases"][0]
    assert release["videos"] == len(ref.features) and "seconds per clip" in out and "word vectors builtin" in out
    clips = [a.shape[0] for a in ref.features.values()]
    assert release["clips"] == {"min": min(clips), "median": int(np.median(clips)), "max": max(clips)}
    assert summary["word_vectors"]["found"] > 0 and summary["word_vectors"]["dim"] == 50

    run = train_tiny(tmp_path / "run", *written.overrides(), "--set", "train.epochs=1")
    out = capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["num_samples"] == SIZES_OF_LAYOUTS["test"] and metrics["protocol"]["summary"] in out
    durations = {m.video_id: m.duration for ms in ref.moments.values() for m in ms}
    assert metrics["clip_seconds"] == pytest.approx(np.median([durations[v] / a.shape[0]
                                                               for v, a in ref.features.items()]), rel=FRAME_ROUNDING)
    if "data.val_fraction=0" in written.extra:  # the papers' protocol
        assert metrics["protocol"]["validation"] == "none" and "test_last_epoch" in metrics
        assert "selected on test" in out
    else:
        assert metrics["protocol"]["selection_split"] == "val" and "test_last_epoch" not in metrics
    if name == "moment-detr":  # R@1 against every window of a multi-window query
        ckpt = read_checkpoint(run / BEST)
        trainer = Trainer(config_of(ckpt), device="cpu", checkpoint=ckpt, progress=False)
        evaluation = trainer.evaluate("test")
        lines = (written.annotations / "charades_test_release.jsonl").read_text().splitlines()
        windows = [json.loads(line)["relevant_windows"] for line in lines]
        assert any(len(w) > 1 for w in windows)
        for threshold in (0.3, 0.5, 0.7):
            expected = windows_recall(evaluation.pred_seconds, windows, threshold)
            assert metrics["test"][f"R1@{threshold}"] == pytest.approx(expected)
        # the model's own spans as a further window of every query: every prediction is a hit
        test = trainer.splits["test"]
        samples = [dataclasses.replace(s, windows=(*s.windows, tuple(p)))
                   for s, p in zip(test.samples, evaluation.pred_seconds, strict=True)]
        recall = trainer.evaluate(GroundingDataset(samples, test.features)).metrics
        assert recall["R1@0.7"] == recall["mIoU"] == pytest.approx(100.0)


@TEXT
def test_a_clip_rate_that_disagrees_with_extraction_json_is_refused(releases, tmp_path: Path, capsys):
    written = releases[1]["tall-c3d-vslnet"]
    features = Path(written.features)
    meta = {"format": "grounding-engine/features/1", "recipe": "tacos-c3d", "weights_sha256": "0" * 64,
            "clip_seconds": 0.5, "feature_dim": 64, "videos": {}}
    (features / "extraction.json").write_text(json.dumps(meta))
    try:
        code, out, summary = run_check(capsys, *written.overrides())
        assert code == 0 and summary["releases"][0]["extraction"] == {"recipe": "tacos-c3d", "clip_seconds": 0.5}
        code = main(tiny_args(tmp_path / "run", *written.overrides(), "--set", "data.clip_seconds=0.408"))
        err = capsys.readouterr().err
        assert code == USAGE_ERROR and "data.clip_seconds=0.408 disagrees with" in err and "extraction.json" in err
        run = train_tiny(tmp_path / "ok", *written.overrides(), "--set", "train.epochs=1")
        config = json.loads((run / "config.json").read_text())["data"]
        assert (config["clip_seconds"], config["feature_recipe"]) == (0.5, "tacos-c3d")
    finally:
        (features / "extraction.json").unlink()
