"""data.clip_seconds / feature_recipe: kept when set, else from extraction.json, else measured; conflicts refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.config import DataConfig
from engine.data.annotations import Moment
from engine.data.clip_rate import EXTRACTION_FILE, EXTRACTION_FORMAT, fill_clip_rate, read_extraction
from engine.data.feature_store import FolderStore

CLIPS = {"a": 10, "b": 20, "c": 40}  # clips per video; every video lasts 20 s
DURATION = 20.0


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    for video_id, clips in CLIPS.items():
        np.save(tmp_path / f"{video_id}.npy", np.zeros((clips, 3), dtype=np.float32))
    return FolderStore(tmp_path)


def moments() -> list[Moment]:
    return [Moment(v, "someone walks", 1.0, 2.0, DURATION) for v in CLIPS]


def write_meta(folder: Path, **fields) -> None:
    meta = {"format": EXTRACTION_FORMAT, "recipe": "charades-i3d", "weights_sha256": "", "clip_seconds": 0.5,
            "feature_dim": 3, "videos": {}, **fields}
    (folder / EXTRACTION_FILE).write_text(json.dumps(meta))


def test_measured_without_metadata_and_a_set_value_stays(store):
    config = DataConfig()
    assert fill_clip_rate(config, store, moments()) == "measured"
    assert config.clip_seconds == pytest.approx(np.median([DURATION / n for n in CLIPS.values()]))
    config = DataConfig(clip_seconds=0.25)
    assert fill_clip_rate(config, store, moments()) == "config" and config.clip_seconds == 0.25


def test_extraction_json_fills_and_conflicts_are_refused(store):
    write_meta(store.directory)
    config = DataConfig()
    assert fill_clip_rate(config, store, moments()) == "extraction.json"
    assert (config.clip_seconds, config.feature_recipe) == (0.5, "charades-i3d")
    with pytest.raises(ValueError, match=r"data.clip_seconds=2 disagrees with .*extraction.json \(clip_seconds 0.5\)"):
        fill_clip_rate(DataConfig(clip_seconds=2.0), store, moments())
    with pytest.raises(ValueError, match=r"data.feature_recipe='tacos-c3d' disagrees"):
        fill_clip_rate(DataConfig(feature_recipe="tacos-c3d"), store, moments())


@pytest.mark.parametrize("fields, problem", [({"format": "other/1"}, "'format' must be"),
                                             ({"clip_seconds": -1}, "'clip_seconds' must be a positive"),
                                             ({"recipe": 3}, "'recipe' must be a string")])
def test_a_bad_extraction_json_names_the_file_and_field(store, fields, problem):
    write_meta(store.directory, **fields)
    with pytest.raises(ValueError, match=rf"{store.directory / EXTRACTION_FILE}: {problem}"):
        read_extraction(store.directory)
