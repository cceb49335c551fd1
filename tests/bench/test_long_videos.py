"""bench.long_videos: the long videos it builds, and its command line on a tiny trained run."""

import json

import numpy as np
import pytest

from bench.long_videos import FILLERS, long_video_requests, main, synthetic_test_split
from engine import Localizer

QUERIES = 6
FACTOR = 8  # the tiny run's max_clips is 16; synthetic videos have up to 64 clips
WAYS_PER_FILLER = 2  # windows, resampled; plus the videos as they are once


@pytest.mark.parametrize("filler", FILLERS)
def test_each_long_video_ends_with_its_original_and_keeps_the_clip_length(tiny_run, filler):
    loc = Localizer.from_checkpoint(tiny_run, device="cpu")
    short, short_truth, long_, long_truth = long_video_requests(loc, synthetic_test_split(loc), QUERIES, FACTOR, filler)
    assert len(short) == len(long_) == QUERIES
    for (clips, query, duration), (long_clips, long_query, long_duration), truth, moved in zip(
        short, long_, short_truth, long_truth, strict=True
    ):
        assert len(long_clips) == FACTOR * loc.config.data.max_clips and long_query == query
        np.testing.assert_array_equal(long_clips[-len(clips):], clips.astype(np.float32))
        assert long_duration / len(long_clips) == pytest.approx(duration / len(clips))
        shift = long_duration - duration
        assert moved == pytest.approx((truth[0] + shift, truth[1] + shift))


def test_events_filler_is_other_videos_without_the_queried_event(tiny_run):
    loc = Localizer.from_checkpoint(tiny_run, device="cpu")
    data = synthetic_test_split(loc)
    _, _, long_, _ = long_video_requests(loc, data, QUERIES, FACTOR, "events")
    for moment, (long_clips, _, _) in zip(data.moments["test"], long_, strict=False):
        target = data.events[moment.video_id][0]
        filler = long_clips[:-len(data.features[moment.video_id])]
        holding = {v for v, events in data.events.items() if (target.entity, target.motion) in
                   {(e.entity, e.motion) for e in events}}
        # every filler clip is a clip of some other video; none of a video holding the queried pair
        rows = {row.tobytes(): v for v, f in data.features.items() for row in f}
        sources = {rows[row.tobytes()] for row in filler}
        assert sources and not sources & holding and moment.video_id not in sources


def test_cli_prints_and_writes_every_way(tiny_run, tmp_path, capsys):
    out = tmp_path / "long.json"
    assert main(["--ckpt", str(tiny_run), "--queries", str(QUERIES), "--factors", str(FACTOR),
                 "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) == 1 + WAYS_PER_FILLER * len(FILLERS)
    assert all(0.0 <= v <= 100.0 for r in results.values() for v in r.values())
    assert "events filler, windows" in capsys.readouterr().out
