"""Charades-STA and TACoS parsers: counts on the real files, the val carve-out, every drop reason."""

import json

import pytest

from engine.data.annotations import in_charades_val, load_charades, load_tacos

DATA = "/work/shared/data"
# (pairs, videos, times clipped to the video) per split, as parsed from the public VSLNet files
CHARADES_COUNTS = {"train": (11113, 4782, 1618), "val": (1295, 556, 184), "test": (3720, 1334, 562)}
TACOS_COUNTS = {"train": (9790, 75, 43), "val": (4436, 27, 0), "test": (4001, 25, 5)}
CHARADES_FILE_LINES = {"train": 12408, "test": 3720}


def _counts(moments, reports):
    return {split: (len(ms), len({m.video_id for m in ms}), reports[split].clipped) for split, ms in moments.items()}


def test_real_charades_sta():
    moments, reports = load_charades(f"{DATA}/charades-sta")
    assert _counts(moments, reports) == CHARADES_COUNTS
    assert all(sum(r.dropped.values()) == 0 for r in reports.values())
    assert len(moments["train"]) + len(moments["val"]) == CHARADES_FILE_LINES["train"]
    train_videos, val_videos = ({m.video_id for m in moments[s]} for s in ("train", "val"))
    assert not train_videos & val_videos
    assert all(in_charades_val(v) for v in val_videos) and not any(in_charades_val(v) for v in train_videos)
    first = moments["train"][0]
    assert (first.video_id, first.start, first.end, first.sentence) == (
        "AO8RW",
        0.0,
        6.9,
        "a person is putting a book on a shelf.",
    )
    assert all(0 <= m.start < m.end <= m.duration for ms in moments.values() for m in ms)


def test_real_tacos():
    moments, reports = load_tacos(f"{DATA}/tacos")
    assert _counts(moments, reports) == TACOS_COUNTS
    first = moments["train"][0]  # s17-d69.avi: fps 29.4, 12438 frames, first timestamp [224, 358]
    assert first.video_id == "s17-d69" and first.sentence == "He took out a pan"
    assert (first.start, first.end, first.duration) == pytest.approx((224 / 29.4, 358 / 29.4, 12438 / 29.4))


def test_charades_drop_reasons_are_counted(tmp_path):
    (tmp_path / "charades.json").write_text(json.dumps({"V1": {"duration": 10.0}, "V2": {"duration": 0}, "V3": {}}))
    lines = [
        "V1 1.0 4.0##kept.",
        "V1 -1.0 12.0##kept and clipped at both ends.",
        "",
        "V1 2.0 3.0 sentence without separator",
        "V1 two 3.0##not a number",
        "V9 1.0 2.0##no such video",
        "V3 1.0 2.0##video without duration",
        "V2 1.0 2.0##zero duration",
        "V1 1.0 2.0##   ",
        "V1 3.0 3.0##empty span",
        "V1 10.0 12.0##starts at the end",
    ]
    (tmp_path / "charades_sta_train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "charades_sta_test.txt").write_text("V1 0 1##ok\n")
    (tmp_path / "charades_sta_val.txt").write_text("V1 0 2##from the val file\n")
    moments, reports = load_charades(tmp_path)
    assert [(m.start, m.end) for m in moments["train"]] == [(1.0, 4.0), (0.0, 10.0)]
    assert reports["train"].clipped == 1 and reports["train"].loaded == 2
    assert dict(reports["train"].dropped) == {
        "malformed": 2,
        "unknown_video": 2,
        "bad_duration": 1,
        "empty_sentence": 1,
        "start_not_before_end": 1,
        "start_beyond_duration": 1,
    }
    assert [m.sentence for m in moments["val"]] == ["from the val file"]
    assert "malformed 2" in reports["train"].summary()


def test_tacos_drop_reasons_are_counted(tmp_path):
    videos = {
        "s1-d1.avi": {
            "fps": 10.0,
            "num_frames": 100,
            "timestamps": [[10, 20], [30, 30], [100, 120], [50, 150], ["a", 2], [1, 2]],
            "sentences": ["kept", "empty span", "starts at the end", "clipped", "bad frames", ""],
        },
        "s1-d2.avi": {"fps": 10.0, "timestamps": [[1, 2]], "sentences": ["no num_frames"]},
        "s1-d3.avi": {"fps": 0, "num_frames": 10, "timestamps": [[1, 2]], "sentences": ["zero fps"]},
        "s1-d4.avi": {"fps": 1, "num_frames": 10, "timestamps": [[1, 2], [2, 3]], "sentences": ["one sentence"]},
    }
    for split in ("train", "val", "test"):
        (tmp_path / f"{split}.json").write_text(json.dumps(videos if split == "train" else {}))
    moments, reports = load_tacos(tmp_path)
    assert [(m.video_id, m.start, m.end, m.duration) for m in moments["train"]] == [
        ("s1-d1", 1.0, 2.0, 10.0),
        ("s1-d1", 5.0, 10.0, 10.0),
        ("s1-d4", 1.0, 2.0, 10.0),
    ]
    assert dict(reports["train"].dropped) == {
        "start_not_before_end": 1,
        "start_beyond_duration": 1,
        "malformed": 3,
        "empty_sentence": 1,
        "bad_duration": 1,
    }
    assert reports["train"].clipped == 1


def test_missing_annotation_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="charades.json"):
        load_charades(tmp_path)
    (tmp_path / "train.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="train.json must hold a JSON object"):
        load_tacos(tmp_path)


def test_charades_durations_from_the_2dtan_csvs_and_none_at_all(tmp_path):
    (tmp_path / "charades_sta_train.txt").write_text("AO8RW 0.0 6.9##a person is putting a book on a shelf.\n")
    (tmp_path / "charades_sta_test.txt").write_text("Y6R7T 20.8 30.0##person begins to play on a phone.\n")
    with pytest.raises(FileNotFoundError, match=r"neither charades.json \(VSLNet\) nor Charades_v1_train.csv"):
        load_charades(tmp_path)
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    (tmp_path / "Charades_v1_train.csv").write_text(header + 'AO8RW,HR43,Kitchen,6,7,Yes,"A, b",x,"y",c 0 1,33.67\n')
    (tmp_path / "Charades_v1_test.csv").write_text(header + "Y6R7T,X,Bedroom,7,7,Yes,s,o,d,a,29.0\n")
    moments, _ = load_charades(tmp_path, val_fraction=0)
    assert [(m.video_id, m.duration) for m in moments["train"]] == [("AO8RW", 33.67)]
    assert [(m.video_id, m.start, m.end, m.duration) for m in moments["test"]] == [("Y6R7T", 20.8, 29.0, 29.0)]


def test_tacos_val_fraction_0_leaves_val_out(tmp_path):
    entry = {"fps": 29.4, "num_frames": 2940, "timestamps": [[294, 588]], "sentences": ["he cuts a leek"]}
    for split in ("train", "val", "test"):
        (tmp_path / f"{split}.json").write_text(json.dumps({f"s13-d{len(split)}.avi": entry}))
    moments, reports = load_tacos(tmp_path, val_fraction=0)
    assert len(moments["train"]) == len(moments["test"]) == 1 and not moments["val"]
    assert load_tacos(tmp_path)[0]["val"][0].video_id == "s13-d3"
