"""The videos a page queries: uploads read or extracted once per distinct file, kept for the last few videos;
video files through the video-in extractor (answers equal ``Localizer.predict_video``'s); bad files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from demo.app import DemoApp
from demo.videos import DemoInputError, VideoExtractor, VideoStore, parse_duration
from engine.localizer import Localizer
from tests.demo.conftest import VIDEO_FPS, VIDEO_FRAMES, npy

K = 2
CLIPS = 12
QUERY = "person opens door"


def test_parse_duration():
    assert parse_duration("") is None and parse_duration(" ") is None and parse_duration(None) is None
    assert parse_duration("12.5") == 12.5
    for bad in ("abc", "0", "-1", "nan", "inf"):
        with pytest.raises(DemoInputError, match="duration must be"):
            parse_duration(bad)


def test_uploads_are_kept_for_the_last_few_videos(tiny_run: Path, tmp_path: Path):
    localizer = Localizer.from_checkpoint(tiny_run, "cpu")
    store = VideoStore([], localizer.config, VideoExtractor(localizer, None), tmp_path, capacity=2)
    dim = localizer.config.model.video_dim
    ids = [store.add("features", f"v{i}.npy", npy(np.full((CLIPS, dim), i, np.float32)))[0].id for i in range(3)]
    with pytest.raises(KeyError, match="upload it again"):
        store.get(ids[0])
    assert store.get(ids[1]).name == "v1.npy" and store.get(ids[2]).name == "v2.npy"
    assert store.add("features", "v1-again.npy", npy(np.full((CLIPS, dim), 1, np.float32)))[1]  # cached


def test_video_upload_needs_weights_and_a_recipe(tiny_run: Path, tmp_path: Path):
    localizer = Localizer.from_checkpoint(tiny_run, "cpu")  # synthetic: no feature recipe recorded
    assert "--weights FILE" in VideoExtractor(localizer, None).unavailable
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"0")
    extractor = VideoExtractor(localizer, weights)
    assert extractor.extract is None and "does not record the recipe" in extractor.unavailable


def test_a_video_file_is_extracted_once_and_answers_like_predict_video(video_app: DemoApp, webm_clip: Path):
    body = webm_clip.read_bytes()
    first = video_app.upload("video", "bars.webm", body, None)  # cached when the browser test sent it first
    assert first["player"] and first["kind"] == "video"
    assert first["duration"] == pytest.approx(VIDEO_FRAMES / VIDEO_FPS, abs=1 / VIDEO_FPS)
    media = video_app.media(first["id"])
    assert media.read_bytes() == body
    again = video_app.upload("video", "renamed.webm", body, None)
    assert again["cached"] and again["load_seconds"] == first["load_seconds"]  # not extracted again
    answer = video_app.answer({"video": first["id"], "query": QUERY, "k": K})
    expected = video_app.localizer.predict_video(webm_clip, QUERY, video_app.store.extractor.weights, K)
    assert [(s["start"], s["end"], s["score"]) for s in answer["spans"]] == expected


def test_an_undecodable_video_is_refused_with_its_name(video_app: DemoApp):
    before = set(video_app.store.media_dir.iterdir())
    with pytest.raises(DemoInputError, match="broken.mp4"):
        video_app.upload("video", "broken.mp4", b"this is not a video", None)
    assert set(video_app.store.media_dir.iterdir()) == before  # its file is not kept
