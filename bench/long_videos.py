"""``python -m bench.long_videos``: a synthetic-trained checkpoint on videos far longer than it was trained on.

Each of the first ``--queries`` synthetic test videos (regenerated from the checkpoint's own data config) is put
at the end of a video of ``--factor`` x ``data.max_clips`` clips, the clips before it drawn at random from its own
event-free clips, and the query is answered three ways through ``engine.Localizer.predict_many`` (the one
inference path of every runtime): the video as it is; the long video by sliding windows (``infer.windows =
windows``); the long video resampled to ``max_clips`` clips (``resample``, what a model sees without windows).
Prints R@1 / mIoU of the best span per way and writes them as JSON (``--json``).  README "Long videos" quotes
the default run's figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engine import Localizer
from engine.data.synthetic import generate
from engine.metrics import METRIC_NAMES, evaluate

Request = tuple[np.ndarray, str, float]
Truth = tuple[float, float]


def long_video_requests(loc: Localizer, queries: int, factor: int, seed: int = 0,
                        ) -> tuple[list[Request], list[Truth], list[Request], list[Truth]]:
    """-> (short requests, their truths, long requests, their truths); seconds per clip are kept."""
    data_config = loc.config.data
    if data_config.dataset != "synthetic":
        raise SystemExit(f"bench.long_videos: the checkpoint was trained on {data_config.dataset!r}, not synthetic")
    data = generate({"test": queries}, data_config.synthetic_seed, version=data_config.synthetic_version,
                    motion_signature=data_config.synthetic_motion_signature)
    rng = np.random.default_rng(seed)
    long_clips = factor * data_config.max_clips
    short, short_truth, long_, long_truth = [], [], [], []
    for moment in data.moments["test"]:
        features = data.features[moment.video_id]
        clips = len(features)
        if clips > long_clips:
            raise SystemExit(f"bench.long_videos: --factor {factor} x max_clips {data_config.max_clips} = {long_clips} "
                             f"clips is shorter than test video {moment.video_id} ({clips} clips)")
        seconds_per_clip = moment.duration / clips
        inside_an_event = np.zeros(clips, bool)
        for event in data.events[moment.video_id]:
            inside_an_event[event.first:event.last + 1] = True
        filler = features[~inside_an_event][rng.integers(0, int((~inside_an_event).sum()), long_clips - clips)]
        shift = (long_clips - clips) * seconds_per_clip  # the original video ends the long one
        short.append((features, moment.sentence, moment.duration))
        short_truth.append((moment.start, moment.end))
        long_.append((np.concatenate([filler, features]).astype(np.float32), moment.sentence,
                      long_clips * seconds_per_clip))
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
    parser.add_argument("--factor", type=int, default=8, help="long video length in max_clips units (default 8)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    loc = Localizer.from_checkpoint(args.ckpt, device="cpu")
    short, short_truth, long_, long_truth = long_video_requests(loc, args.queries, args.factor)
    clips = args.factor * loc.config.data.max_clips
    ways = (("the videos as they are", short, short_truth, "auto"),
            (f"inside {clips} clips, windows", long_, long_truth, "windows"),
            (f"inside {clips} clips, resampled to {loc.config.data.max_clips}", long_, long_truth, "resample"))
    print(f"{args.queries} synthetic test queries, {args.ckpt}: R@1 of the best span (%)")
    print(f"{'':<40}" + "".join(f"{name:>9}" for name in METRIC_NAMES))
    results = {}
    for name, requests, truths, policy in ways:
        start = time.perf_counter()
        results[name] = recall(loc, requests, truths, policy)
        print(f"{name:<40}" + "".join(f"{results[name][m]:9.1f}" for m in METRIC_NAMES)
              + f"   ({time.perf_counter() - start:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
