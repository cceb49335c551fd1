"""The DETR family's JSONL: several windows per query, bad lines named by file and line, validation splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.data.detr_annotations import load_detr

DURATION = 30.0


def line(vid: str, windows, query: str = "a person opens the door", **extra) -> str:
    return json.dumps({"qid": 1, "query": query, "duration": DURATION, "vid": vid, "relevant_windows": windows,
                       **extra})


def write(root: Path, **splits: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for split, lines in splits.items():
        (root / f"qv_{split}_release.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_every_window_is_kept_and_bad_lines_are_named(tmp_path: Path):
    train = [line("v1", [[2, 8]]), line("v2", [[1, 4], [20, 26]]), line("v3", [[9, 3]]),
             json.dumps({"qid": 4, "query": "x", "duration": DURATION, "vid": "v4"}), line("v5", [[25, 40]])]
    write(tmp_path, train=train, val=[line("v6", [[0, 5]])], test=[line("v7", [[3, 6], [10, 12], [14, 15]])])
    moments, reports = load_detr(tmp_path)
    train_file = tmp_path / "qv_train_release.jsonl"
    assert [m.video_id for m in moments["train"]] == ["v1", "v2", "v5"]  # nothing else lost
    assert moments["train"][1].windows == ((1.0, 4.0), (20.0, 26.0))
    assert moments["train"][1].ground_truths == moments["train"][1].windows
    assert moments["train"][0].windows == () and moments["train"][0].ground_truths == ((2.0, 8.0),)
    assert (moments["train"][2].start, moments["train"][2].end) == (25.0, DURATION)  # clipped to the video
    assert len(moments["test"][0].windows) == 3 and len(moments["val"]) == 1
    issues = {issue.where: str(issue) for issue in reports["train"].issues}
    assert "start 9 s is not before end 3 s" in issues[f"{train_file}:3"]
    assert "relevant_windows[0]" in issues[f"{train_file}:3"]
    assert "missing 'relevant_windows'" in issues[f"{train_file}:4"]
    assert reports["train"].dropped == {"start_not_before_end": 1, "malformed": 1}
    assert reports["train"].clipped == 1 and reports["val"].source == str(tmp_path / "qv_val_release.jsonl")


def test_without_a_val_file_val_is_carved_by_video_and_val_fraction_0_trains_on_all(tmp_path: Path):
    train = [line(f"video{i}", [[1, 5]]) for i in range(40)]
    write(tmp_path, train=train, test=[line("t", [[1, 2]])])
    moments, reports = load_detr(tmp_path, val_fraction=0.25)
    assert moments["val"] and len(moments["train"]) + len(moments["val"]) == 40
    assert not {m.video_id for m in moments["val"]} & {m.video_id for m in moments["train"]}
    assert "carved out of" in reports["val"].source
    moments, reports = load_detr(tmp_path, val_fraction=0)
    assert len(moments["train"]) == 40 and not moments["val"] and reports["val"].source == ""


def test_missing_or_ambiguous_split_files_are_errors(tmp_path: Path):
    write(tmp_path, train=[line("a", [[1, 2]])])
    with pytest.raises(FileNotFoundError, match=r"no test annotation file in .*\*test\*\.jsonl"):
        load_detr(tmp_path)
    write(tmp_path, test=[line("a", [[1, 2]])])
    (tmp_path / "other_test.jsonl").write_text(line("b", [[1, 2]]) + "\n")
    with pytest.raises(ValueError, match="several test files"):
        load_detr(tmp_path)
