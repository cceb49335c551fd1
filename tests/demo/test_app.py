"""The page's answers are the Localizer's: built-in videos (short and long), uploads read once, DP's pathway."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from demo.app import DemoApp
from demo.videos import LONG_BUILTINS, DemoInputError
from engine.localizer import Localizer
from engine.models.dynamic_pathway import PATHWAYS
from tests.demo.conftest import npy
from tests.export.tiny import VIDEO_DIM as DP_VIDEO_DIM
from tests.export.tiny import write_checkpoint

K = 3
UPLOAD_CLIPS = 40


def test_builtins_are_the_synthetic_test_split_and_long_versions(demo_app: DemoApp, localizer: Localizer):
    builtins = list(demo_app.store.builtins.values())
    short = [v for v in builtins if not v.id.endswith("-long")]
    assert len(short) == localizer.config.data.synthetic_test
    long_ = [v for v in builtins if v.id.endswith("-long")]
    assert [v.id for v in long_] == [f"{v.id}-long" for v in short[:LONG_BUILTINS]]
    for video in long_:
        assert video.truth is not None and video.truth[2] <= video.duration
        assert len(video.features) > 2 * localizer.config.data.max_clips  # sliding windows under "auto"


@pytest.mark.parametrize("video_id", ["synth-test-00001", "synth-test-00000-long"])
def test_answer_equals_localizer_predict(demo_app: DemoApp, localizer: Localizer, video_id: str):
    video = demo_app.store.builtins[video_id]
    query = video.truth[0]
    answer = demo_app.answer({"video": video_id, "query": query, "k": K})
    expected = localizer.predict(video.features, query, video.duration, K)
    assert [(s["start"], s["end"], s["score"]) for s in answer["spans"]] == expected
    assert answer["mode"] == ("windows" if video_id.endswith("-long") else localizer.localize(
        video.features, query, video.duration, K).mode)
    assert answer["windows"] > 1 if video_id.endswith("-long") else answer["windows"] == 1
    assert set(answer["curves"]) >= {"start", "end", "inner", "pe"} and answer["choice"] is None
    assert answer["curve_labels"] == {"pe": "Pe (action relevance)"}
    assert all(len(curve) == answer["clips"] for curve in answer["curves"].values())
    assert answer["seconds"] > 0


def test_the_same_upload_is_read_once_and_its_features_reused(demo_app: DemoApp, localizer: Localizer):
    features = np.random.default_rng(0).normal(size=(UPLOAD_CLIPS, localizer.config.model.video_dim))
    body = npy(features.astype(np.float32))
    first = demo_app.upload("features", "clip.npy", body, "50")
    again = demo_app.upload("features", "same-file-renamed.npy", body, "50")
    assert not first["cached"] and again["cached"] and again["id"] == first["id"]
    assert again["load_seconds"] == first["load_seconds"] and again["duration"] == 50.0
    held = demo_app.store.get(first["id"])
    for query in ("a person opens the door", "someone holds a cup"):
        answer = demo_app.answer({"video": first["id"], "query": query, "k": K})
        assert demo_app.store.get(first["id"]) is held
        assert [(s["start"], s["end"], s["score"]) for s in answer["spans"]] == localizer.predict(
            features.astype(np.float32), query, 50.0, K)


@pytest.mark.parametrize(("request_", "message"), [
    ({"video": "synth-test-00000", "query": "   "}, "type a query"),
    ({"video": "synth-test-00000"}, "type a query"),
    ({"video": "synth-test-00000", "query": "zzqx blorf"}, "none of its words (zzqx blorf) has a vector"),
    ({"video": "synth-test-00000", "query": "a person opens the door", "k": 0}, "k must be a whole number"),
    ({"query": "a person opens the door"}, "pick a video first"),
])
def test_bad_queries_are_refused_with_a_message(demo_app: DemoApp, request_: dict, message: str):
    with pytest.raises(DemoInputError) as caught:
        demo_app.answer(request_)
    assert message in str(caught.value)


def test_dp_checkpoint_shows_the_pathway(tmp_path: Path):
    checkpoint = write_checkpoint(tmp_path / "best.pt", "dp")
    app = DemoApp.from_checkpoint(checkpoint, tmp_path, device="cpu")
    assert not app.store.builtins and f"{DP_VIDEO_DIM}-d" in app.builtins_note  # not the synthetic set's width
    features = np.random.default_rng(1).normal(size=(UPLOAD_CLIPS, DP_VIDEO_DIM)).astype(np.float32)
    video = app.upload("features", "dp.npy", npy(features), None)
    answer = app.answer({"video": video["id"], "query": "person opens door", "k": K})
    expected = Localizer.from_checkpoint(checkpoint, "cpu").localize(features, "person opens door", None, K)
    assert (answer["choice"]["name"], answer["choice"]["value"]) == expected.choice
    assert answer["choice"]["value"] in PATHWAYS and answer["curve_labels"] == {}
    assert [(s["start"], s["end"], s["score"]) for s in answer["spans"]] == expected.spans
