"""Long synthetic videos: a synthetic test video at the end of ``factor`` x ``data.max_clips`` clips.

The clips before it come from a *filler*:

* ``empty``: the video's own event-free clips, drawn at random (its scene and noise, no event at all);
* ``events``: other test videos, whole and in random order (the first one cut to fit), none of which holds the
  queried (entity, motion) pair among its events -- so the answer is unique, while their events include the
  query's look-alikes (its entity with another motion, its motion on another entity), as in a real long video
  full of actions.

Seconds per clip are the test video's own, so its moment keeps its length and moves by the filler's duration.
``python -m bench.long_videos`` measures a checkpoint on these videos; the demo page offers a few of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.config import DataConfig
from engine.data.synthetic import SyntheticData, generate

Request = tuple[np.ndarray, str, float]  # (clip features, sentence, duration in seconds)
Truth = tuple[float, float]  # (start, end) in seconds
FILLERS = ("empty", "events")


def synthetic_test_split(data: DataConfig) -> SyntheticData:
    """The synthetic test split of a run's data config (every video: the ``events`` filler draws from all).
    Raises ValueError for a config of another dataset."""
    if data.dataset != "synthetic":
        raise ValueError(f"the run was trained on {data.dataset!r} data, not the synthetic set")
    return generate({"test": data.synthetic_test}, data.synthetic_seed, version=data.synthetic_version,
                    motion_signature=data.synthetic_motion_signature)


def empty_filler(data: SyntheticData, video_id: str, clips: int, rng: np.random.Generator) -> np.ndarray:
    """``clips`` clips drawn at random from the event-free clips of ``video_id`` itself."""
    features = data.features[video_id]
    inside_an_event = np.zeros(len(features), bool)
    for event in data.events[video_id]:
        inside_an_event[event.first:event.last + 1] = True
    free = features[~inside_an_event]
    return free[rng.integers(0, len(free), clips)]


def events_filler(data: SyntheticData, video_id: str, clips: int, rng: np.random.Generator) -> np.ndarray:
    """``clips`` clips of other test videos, whole, in random order (the first cut to fit), none holding the
    (entity, motion) pair of ``video_id``'s target among its events.  Raises ValueError when they are too few."""
    target = data.events[video_id][0]
    pool = [other for other in data.features if other != video_id
            and all((e.entity, e.motion) != (target.entity, target.motion) for e in data.events[other])]
    parts, total = [], 0
    for other in rng.permutation(pool):
        if total >= clips:
            break
        parts.append(data.features[other])
        total += len(parts[-1])
    if total < clips:
        raise ValueError(f"the test split's other videos hold {total} clips, fewer than the {clips} a filler "
                         "needs; use a shorter long video or more test videos (data.synthetic_test)")
    return np.concatenate(parts[::-1])[-clips:]


FILL: dict[str, Callable[[SyntheticData, str, int, np.random.Generator], np.ndarray]] = {
    "empty": empty_filler, "events": events_filler}


def long_video_requests(data: SyntheticData, max_clips: int, queries: int, factor: int, filler: str, seed: int = 0,
                        ) -> tuple[list[Request], list[Truth], list[Request], list[Truth]]:
    """The first ``queries`` test videos as they are and at the end of ``factor`` x ``max_clips`` clips of
    ``filler``: (short requests, their truths, long requests, their truths).  Raises ValueError when a test
    video is longer than the long video or the filler runs out."""
    rng = np.random.default_rng(seed)
    long_clips = factor * max_clips
    short, short_truth, long_, long_truth = [], [], [], []
    for moment in data.moments["test"][:queries]:
        features = data.features[moment.video_id]
        clips = len(features)
        if clips > long_clips:
            raise ValueError(f"factor {factor} x max_clips {max_clips} = {long_clips} clips is shorter than test "
                             f"video {moment.video_id} ({clips} clips)")
        seconds_per_clip = moment.duration / clips
        shift = (long_clips - clips) * seconds_per_clip  # the original video ends the long one
        short.append((features, moment.sentence, moment.duration))
        short_truth.append((moment.start, moment.end))
        filled = FILL[filler](data, moment.video_id, long_clips - clips, rng)
        long_.append((np.concatenate([filled, features]).astype(np.float32), moment.sentence,
                      long_clips * seconds_per_clip))
        long_truth.append((moment.start + shift, moment.end + shift))
    return short, short_truth, long_, long_truth
