"""bench.long_videos: the long videos it builds, and its command line on a tiny trained run."""

import json

import numpy as np
import pytest

from bench.long_videos import long_video_requests, main
from engine import Localizer

QUERIES = 6
FACTOR = 8  # the tiny run's max_clips is 16; synthetic videos have up to 64 clips
WAYS = 3  # as they are, windows, resampled


def test_each_long_video_ends_with_its_original_and_keeps_the_clip_length(tiny_run):
    loc = Localizer.from_checkpoint(tiny_run, device="cpu")
    short, short_truth, long_, long_truth = long_video_requests(loc, QUERIES, FACTOR)
    assert len(short) == len(long_) == QUERIES
    for (clips, query, duration), (long_clips, long_query, long_duration), truth, moved in zip(
        short, long_, short_truth, long_truth, strict=True
    ):
        assert len(long_clips) == FACTOR * loc.config.data.max_clips and long_query == query
        np.testing.assert_array_equal(long_clips[-len(clips):], clips.astype(np.float32))
        assert long_duration / len(long_clips) == pytest.approx(duration / len(clips))
        shift = long_duration - duration
        assert moved == pytest.approx((truth[0] + shift, truth[1] + shift))


def test_cli_prints_and_writes_every_way(tiny_run, tmp_path, capsys):
    out = tmp_path / "long.json"
    assert main(["--ckpt", str(tiny_run), "--queries", str(QUERIES), "--factor", str(FACTOR), "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) == WAYS and all(0.0 <= v <= 100.0 for r in results.values() for v in r.values())
    assert "windows" in capsys.readouterr().out
