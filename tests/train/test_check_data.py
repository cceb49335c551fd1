"""``python -m train check-data`` and training on a custom dataset (with its training-curve PNG)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.engine.data.custom_data import SIZES, data_overrides, write_custom
from tests.engine.pictures import assert_png
from tests.markers import TEXT
from tests.train.tiny import train_tiny
from train.cli import USAGE_ERROR, main
from train.curves import CURVE_FILE


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_custom(tmp_path_factory.mktemp("custom"))


def run_check(capsys, *args: str) -> tuple[int, str, dict]:
    code = main(["check-data", "--no-progress", *args])
    out = capsys.readouterr().out
    return code, out, json.loads(out.splitlines()[-1])


def test_a_good_dataset_passes(custom, capsys):
    code, out, summary = run_check(capsys, *data_overrides(*custom))
    assert code == 0 and "result: OK" in out
    assert {split: row["pairs"] for split, row in summary["splits"].items()} == SIZES
    assert summary["ok"] and summary["feature_files"]["readable"] == sum(SIZES.values())
    assert summary["feature_files"]["width"] == np.load(next(custom[1].iterdir())).shape[1]


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
    assert f"{videos[5]}: {features / videos[5]}.npy" in out
    assert "row 2 (clip 2) holds NaN" in out and "not a .npy array file" in out
    assert f"{videos[8]}: width {bad.shape[1] - 3}" in out
    files = summary["feature_files"]
    assert list(files["missing"]) == [videos[5]] and set(files["unreadable"]) == {videos[6], videos[7]}
    assert list(files["other_widths"]) == [videos[8]]
    assert summary["splits"]["train"]["dropped"] == {"malformed": 1} and summary["splits"]["train"]["clipped"] == 1
    assert len(summary["problems"]) == 3


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
