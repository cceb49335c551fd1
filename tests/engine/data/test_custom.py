"""The custom on-disk format: annotations JSONL (line numbers of bad lines) and the feature-file checks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.config import DataConfig
from engine.data import build_datasets, load_custom
from engine.data.annotations import in_charades_val
from engine.data.check import check_data
from engine.data.feature_store import FolderStore
from engine.data.features import FeatureFileError, read_feature_file, scan_features
from tests.engine.data.custom_data import SIZES, write_custom
from tests.markers import TEXT

DV = 6
GOOD = {"video": "v1", "query": "a person opens the door", "start": 1.0, "end": 4.5, "duration": 30.0}


def write_lines(path: Path, lines: list) -> None:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


def test_custom_annotations_keep_good_lines_and_name_bad_ones(tmp_path: Path):
    write_lines(tmp_path / "train.jsonl", [
        GOOD,
        "",  # blank: skipped, still counted as a line
        "{not json",
        {**GOOD, "start": 5.0, "end": 2.0},
        {k: v for k, v in GOOD.items() if k != "duration"},
        {**GOOD, "end": 40.0},  # clipped to the duration
        {**GOOD, "video": "../etc/passwd"},
        {**GOOD, "start": "1.0"},
        [1, 2],
        {**GOOD, "query": "  "},
    ])
    write_lines(tmp_path / "val.jsonl", [{**GOOD, "video": "v2"}])
    write_lines(tmp_path / "test.jsonl", [{**GOOD, "video": "v3", "extra": "ignored"}])
    moments, reports = load_custom(tmp_path)
    assert [len(moments[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    assert moments["train"][1].end == 30.0 and reports["train"].clipped == 1
    train = reports["train"]
    assert train.dropped == {"malformed": 5, "start_not_before_end": 1, "empty_sentence": 1}
    lines = {int(issue.where.rsplit(":", 1)[1]): issue for issue in train.issues}
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "not JSON" in lines[3].detail and "start 5 s is not before end 2 s" in lines[4].detail
    assert "missing 'duration'" in lines[5].detail and not lines[6].dropped and "clipped" in str(lines[6])
    assert "file name" in lines[7].detail and "'start' must be a number" in lines[8].detail
    assert all(issue.where.startswith(str(tmp_path / "train.jsonl")) for issue in train.issues)


def test_val_is_carved_from_train_by_video_when_there_is_no_val_file(tmp_path: Path):
    videos = [f"vid{i}" for i in range(60)]
    write_lines(tmp_path / "train.jsonl", [{**GOOD, "video": v} for v in videos])
    write_lines(tmp_path / "test.jsonl", [GOOD])
    moments, _ = load_custom(tmp_path)
    assert {m.video_id for m in moments["val"]} == {v for v in videos if in_charades_val(v)} != set()
    assert len(moments["train"]) + len(moments["val"]) == len(videos)
    (tmp_path / "test.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="test.jsonl"):
        load_custom(tmp_path)


@TEXT
def test_a_written_custom_dataset_builds_like_the_synthetic_one(tmp_path: Path):
    annotations, features = write_custom(tmp_path)
    config = DataConfig(dataset="custom", annotations=str(annotations), features=str(features), max_clips=32)
    splits, vocab = build_datasets(config)
    assert {split: len(d) for split, d in splits.items()} == SIZES
    item = splits["train"][0]
    assert item["video"].shape[1] == splits["train"].video_dim and len(vocab) > 2
    assert check_data(config).ok


def test_feature_files_problems_are_named(tmp_path: Path):
    good = np.ones((5, DV), dtype=np.float32)
    np.save(tmp_path / "good.npy", good)
    nan = good.copy()
    nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "wide.npy", np.ones((5, DV + 2), dtype=np.float32))
    np.save(tmp_path / "objects.npy", np.array([good, "x"], dtype=object), allow_pickle=True)
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps(good))
    np.savez(tmp_path / "archive.npz", good)
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:-20])

    np.testing.assert_array_equal(read_feature_file(tmp_path / "good.npy"), good)
    expected = {"pickled": r"not a \.npy array file \(no NumPy header", "archive": ".npz archive",
                "objects": "array of Python objects", "cut": "unreadable .npy file"}
    for name, message in expected.items():
        with pytest.raises(FeatureFileError, match=rf"{tmp_path / name}\.npy: .*{message}"):
            read_feature_file(tmp_path / f"{name}.npy")
    with pytest.raises(FileNotFoundError, match="no such feature file"):
        read_feature_file(tmp_path / "nope.npy")

    store = FolderStore(tmp_path)
    scan = scan_features(store, [*expected, "good", "nan", "wide", "nope"])
    assert scan.clips == {"good": 5, "wide": 5} and scan.missing == {"nope": store.expected("nope")}
    assert set(scan.unreadable) == {*expected, "nan"} and "row 3 (clip 3) holds NaN" in scan.unreadable["nan"]
    assert scan.width in (DV, DV + 2) and len(scan.other_widths) == 1 and not scan.ok
