"""engine.Localizer: top-k spans from a trained tiny checkpoint, and the ``predict`` subcommand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import Localizer
from engine.checkpoint import BEST
from tests.markers import TEXT
from tests.train.tiny import train_tiny
from train.cli import main

pytestmark = TEXT

QUERY = "a person opens the door"
DURATION_S = 30.5
K = 5
MAX_CLIPS = 16  # the tiny config's data.max_clips


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("localizer") / "run", "--set", "train.epochs=1") / BEST


def check_spans(spans: list[tuple[float, float, float]], duration: float, k: int) -> None:
    assert len(spans) == k
    scores = [score for _, _, score in spans]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= start < end <= duration + 1e-9 and 0.0 <= score <= 1.0 for start, end, score in spans)
    assert len({(start, end) for start, end, _ in spans}) == k


def test_predict_returns_k_sorted_spans_inside_the_video(checkpoint: Path):
    localizer = Localizer.from_checkpoint(checkpoint, device="cpu")
    clips = 12
    features = np.random.default_rng(0).normal(size=(clips, localizer.config.model.video_dim)).astype(np.float32)
    spans = localizer.predict(features, QUERY, DURATION_S, k=K)
    check_spans(spans, DURATION_S, K)
    step = DURATION_S / clips  # spans are whole clips: start = s * dur / L, end = (e + 1) * dur / L
    for start, end, _ in spans:
        assert abs(start / step - round(start / step)) < 1e-6 and abs(end / step - round(end / step)) < 1e-6
    default = localizer.predict(features, QUERY, k=K)  # no duration: one second per clip
    np.testing.assert_allclose([s[:2] for s in default], [(a * clips / DURATION_S, b * clips / DURATION_S)
                                                          for a, b, _ in spans])


def test_long_videos_are_windowed_or_resampled_and_few_clips_cap_k(checkpoint: Path):
    localizer = Localizer.from_checkpoint(checkpoint, device="cpu")
    dv = localizer.config.model.video_dim
    long = np.random.default_rng(1).normal(size=(5 * MAX_CLIPS, dv)).astype(np.float32)
    assert localizer.config.infer.windows == "auto"  # a checkpoint's default: windows beyond 2 x max_clips
    windowed = localizer.localize(long, QUERY, 200.0, k=K)
    assert windowed.mode == "windows" and windowed.windows > 1
    check_spans(windowed.spans, 200.0, len(windowed.spans))
    step = 200.0 / (5 * MAX_CLIPS)  # spans on the video's own clips
    assert all(abs(end / step - round(end / step)) < 1e-6 for _, end, _ in windowed.spans)
    localizer.config.infer.windows = "resample"
    spans = localizer.predict(long, QUERY, 200.0, k=K)
    check_spans(spans, 200.0, K)
    step = 200.0 / MAX_CLIPS  # resampled to max_clips clips
    assert all(abs(end / step - round(end / step)) < 1e-6 for _, end, _ in spans)
    two_clips = localizer.predict(long[:2], QUERY, 4.0, k=K)
    check_spans(two_clips, 4.0, 3)  # 2 clips hold 3 spans
    with pytest.raises(ValueError, match=rf"\(T >= 1, {dv}\)"):
        localizer.predict(long[:, :3], QUERY)


def test_predict_subcommand_prints_a_table_and_json(checkpoint: Path, tmp_path: Path, capsys):
    dv = Localizer.from_checkpoint(checkpoint, device="cpu").config.model.video_dim
    features = tmp_path / "video.npy"
    np.save(features, np.random.default_rng(2).normal(size=(20, dv)).astype(np.float32))
    args = ["predict", "--ckpt", str(checkpoint.parent), "--features", str(features), "--query", QUERY,
            "--duration", str(DURATION_S), "-k", "3", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[1].split() == ["rank", "start_s", "end_s", "score"]
    result = json.loads(out[-1])
    check_spans([(s["start"], s["end"], s["score"]) for s in result["spans"]], DURATION_S, 3)
