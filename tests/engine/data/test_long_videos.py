"""engine.data.long_videos: each long video ends with its test video, keeps its clip length, and the events
filler holds other videos only, none with the queried (entity, motion) pair."""

import numpy as np
import pytest

from engine.config import DataConfig
from engine.data.long_videos import FILLERS, long_video_requests, synthetic_test_split

QUERIES = 6
MAX_CLIPS, FACTOR = 16, 8  # synthetic test videos have up to 64 clips: 8 x 16 = 128 holds each
TEST_VIDEOS = 40


@pytest.fixture(scope="module")
def data():
    return synthetic_test_split(DataConfig(synthetic_test=TEST_VIDEOS))


@pytest.mark.parametrize("filler", FILLERS)
def test_each_long_video_ends_with_its_original_and_keeps_the_clip_length(data, filler):
    short, short_truth, long_, long_truth = long_video_requests(data, MAX_CLIPS, QUERIES, FACTOR, filler)
    assert len(short) == len(long_) == QUERIES
    for (clips, query, duration), (long_clips, long_query, long_duration), truth, moved in zip(
        short, long_, short_truth, long_truth, strict=True
    ):
        assert len(long_clips) == FACTOR * MAX_CLIPS and long_query == query
        np.testing.assert_array_equal(long_clips[-len(clips):], clips.astype(np.float32))
        assert long_duration / len(long_clips) == pytest.approx(duration / len(clips))
        shift = long_duration - duration
        assert moved == pytest.approx((truth[0] + shift, truth[1] + shift))


def test_events_filler_is_other_videos_without_the_queried_event(data):
    _, _, long_, _ = long_video_requests(data, MAX_CLIPS, QUERIES, FACTOR, "events")
    rows = {row.tobytes(): v for v, f in data.features.items() for row in f}
    for moment, (long_clips, _, _) in zip(data.moments["test"], long_, strict=False):
        target = data.events[moment.video_id][0]
        filler = long_clips[:-len(data.features[moment.video_id])]
        holding = {v for v, events in data.events.items() if (target.entity, target.motion) in
                   {(e.entity, e.motion) for e in events}}
        # every filler clip is a clip of some other video; none of a video holding the queried pair
        sources = {rows[row.tobytes()] for row in filler}
        assert sources and not sources & holding and moment.video_id not in sources


def test_bad_requests_are_refused_with_the_reason(data):
    with pytest.raises(ValueError, match="shorter than test video"):
        long_video_requests(data, MAX_CLIPS, QUERIES, 1, "empty")
    with pytest.raises(ValueError, match="not the synthetic set"):
        synthetic_test_split(DataConfig(dataset="custom"))
