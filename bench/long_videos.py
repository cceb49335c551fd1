"""``python -m bench.long_videos``: a synthetic-trained checkpoint on videos far longer than it was trained on.

Each of the first ``--queries`` synthetic test videos (regenerated from the checkpoint's own data config) is put
at the end of a video of ``factor`` x ``data.max_clips`` clips (every ``--factors`` value), the clips before it
taken from a filler (every ``--fillers`` value):

* ``empty``: the video's own event-free clips, drawn at random (its scene and noise, no event at all);
* ``events``: other test videos, whole and in random order (the first one cut to fit), none of which holds the
  queried (entity, motion) pair among its events -- so the answer is unique, while their events include the
  query's look-alikes (its entity with another motion, its motion on another entity), as in a real long video
  full of actions.

The query is answered through ``engine.Localizer.predict_many`` (the one inference path of every runtime): the
video as it is; each long video by sliding windows (``infer.windows = windows``) and resampled to ``max_clips``
clips (``resample``, what a model sees without windows).  Prints R@1 / mIoU of the best span per way and writes
them as JSON (``--json``).  README "Long videos" quotes the default runs' figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engine import Localizer
from engine.atomic import atomic_output
from engine.data.synthetic import SyntheticData, generate
from engine.metrics import METRIC_NAMES, evaluate

Request = tuple[np.ndarray, str, float]
Truth = tuple[float, float]
FILLERS = ("empty", "events")
DEFAULT_FACTORS = (8, 32)


def synthetic_test_split(loc: Localizer) -> SyntheticData:
    """The checkpoint's synthetic test split (every video: the ``events`` filler draws from all of them)."""
    data_config = loc.config.data
    if data_config.dataset != "synthetic":
        raise SystemExit(f"bench.long_videos: the checkpoint was trained on {data_config.dataset!r}, not synthetic")
    return generate({"test": data_config.synthetic_test}, data_config.synthetic_seed,
                    version=data_config.synthetic_version, motion_signature=data_config.synthetic_motion_signature)


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
    (entity, motion) pair of ``video_id``'s target among its events."""
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
        raise SystemExit(f"bench.long_videos: the test split's other videos hold {total} clips, fewer than the "
                         f"{clips} a filler needs; lower --factors or raise data.synthetic_test")
    return np.concatenate(parts[::-1])[-clips:]


def long_video_requests(loc: Localizer, data: SyntheticData, queries: int, factor: int, filler: str, seed: int = 0,
                        ) -> tuple[list[Request], list[Truth], list[Request], list[Truth]]:
    """-> (short requests, their truths, long requests, their truths); seconds per clip are kept."""
    fill = {"empty": empty_filler, "events": events_filler}[filler]
    rng = np.random.default_rng(seed)
    long_clips = factor * loc.config.data.max_clips
    short, short_truth, long_, long_truth = [], [], [], []
    for moment in data.moments["test"][:queries]:
        features = data.features[moment.video_id]
        clips = len(features)
        if clips > long_clips:
            raise SystemExit(f"bench.long_videos: factor {factor} x max_clips {loc.config.data.max_clips} = "
                             f"{long_clips} clips is shorter than test video {moment.video_id} ({clips} clips)")
        seconds_per_clip = moment.duration / clips
        shift = (long_clips - clips) * seconds_per_clip  # the original video ends the long one
        short.append((features, moment.sentence, moment.duration))
        short_truth.append((moment.start, moment.end))
        long_.append((np.concatenate([fill(data, moment.video_id, long_clips - clips, rng), features]
                                     ).astype(np.float32), moment.sentence, long_clips * seconds_per_clip))
        long_truth.append((moment.start + shift, moment.end + shift))
    return short, short_truth, long_, long_truth


def recall(loc: Localizer, requests: list[Request], truths: list[Truth], policy: str) -> dict[str, float]:
    """R@1 at IoU 0.3 / 0.5 / 0.7 and mIoU (%) of the best span, with ``infer.windows = policy``."""
    loc.config.infer.windows = policy
    best = [spans[0][:2] for spans in loc.predict_many(requests, k=1)]
    return evaluate(best, truths, [duration for _, _, duration in requests])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.long_videos", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default="runs/synthetic",
                        help="a synthetic run directory (its best.pt) or checkpoint (default: runs/synthetic)")
    parser.add_argument("--queries", type=int, default=100, help="synthetic test videos to use (default 100)")
    parser.add_argument("--factors", type=int, nargs="+", default=list(DEFAULT_FACTORS),
                        help="long video lengths in max_clips units (default: 8 32)")
    parser.add_argument("--fillers", nargs="+", choices=FILLERS, default=list(FILLERS),
                        help="what fills a long video before the test video: empty = its own event-free clips, "
                             "events = other test videos without the queried event (default: both)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.queries < 1 or min(args.factors) < 1:
        parser.error(f"--queries and --factors must be >= 1, got {args.queries} and {args.factors}")
    loc = Localizer.from_checkpoint(args.ckpt, device="cpu")
    data = synthetic_test_split(loc)
    if args.queries > len(data.moments["test"]):
        parser.error(f"--queries {args.queries}: the checkpoint's test split has {len(data.moments['test'])} videos")
    max_clips = loc.config.data.max_clips
    print(f"{args.queries} synthetic test queries, {args.ckpt}: R@1 of the best span (%)")
    print(f"{'':<58}" + "".join(f"{name:>9}" for name in METRIC_NAMES))
    results = {}

    def row(name: str, requests: list[Request], truths: list[Truth], policy: str) -> None:
        start = time.perf_counter()
        results[name] = recall(loc, requests, truths, policy)
        print(f"{name:<58}" + "".join(f"{results[name][m]:9.1f}" for m in METRIC_NAMES)
              + f"   ({time.perf_counter() - start:.1f} s)", flush=True)

    for factor in args.factors:
        for filler in args.fillers:
            short, short_truth, long_, long_truth = long_video_requests(loc, data, args.queries, factor, filler)
            if not results:
                row("the videos as they are", short, short_truth, "auto")
            where = f"{factor}x: {factor * max_clips} clips, {filler} filler"
            row(f"{where}, windows", long_, long_truth, "windows")
            row(f"{where}, resampled to {max_clips}", long_, long_truth, "resample")
    if args.json:
        with atomic_output(args.json) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
