"""``python -m bench.long_videos``: a synthetic-trained checkpoint on videos far longer than it was trained on.

Each of the first ``--queries`` synthetic test videos (regenerated from the checkpoint's own data config) is put
at the end of a video of ``factor`` x ``data.max_clips`` clips (every ``--factors`` value), the clips before it
taken from a filler (every ``--fillers`` value): ``empty`` (the video's own event-free clips) or ``events`` (other
test videos without the queried event); :mod:`engine.data.long_videos` builds them.

The query is answered through ``engine.Localizer.predict_many`` (the one inference path of every runtime): the
video as it is; each long video by sliding windows (``infer.windows = windows``) and resampled to ``max_clips``
clips (``resample``, what a model sees without windows).  Prints R@1 / mIoU of the best span per way and writes
them as JSON (``--json``); ``--overlap`` / ``--no-consensus`` override the checkpoint's ``infer`` options (a run
made before they changed keeps its own).  README "Long videos" quotes the default runs' figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from engine import Localizer
from engine.atomic import write_json
from engine.data.long_videos import FILLERS, Request, Truth, long_video_requests, synthetic_test_split
from engine.metrics import METRIC_NAMES, evaluate

DEFAULT_FACTORS = (8, 32)


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
    parser.add_argument("--overlap", type=float,
                        help="window overlap in [0, 1) (default: the checkpoint's infer.window_overlap)")
    parser.add_argument("--no-consensus", dest="consensus", action="store_false", default=None,
                        help="rank by each window's own inner logits (infer.window_consensus=false)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.queries < 1 or min(args.factors) < 1:
        parser.error(f"--queries and --factors must be >= 1, got {args.queries} and {args.factors}")
    loc = Localizer.from_checkpoint(args.ckpt, device="cpu")
    try:
        for key, value, flag in (("window_overlap", args.overlap, "--overlap"),
                                 ("window_consensus", args.consensus, "--no-consensus")):
            if value is not None:
                loc.config.set(f"infer.{key}", value, flag)
        loc.config.infer.validate()
    except ValueError as err:
        parser.error(str(err))
    try:
        data = synthetic_test_split(loc.config.data)
    except ValueError as err:
        parser.error(f"--ckpt {args.ckpt}: {err}")
    if args.queries > len(data.moments["test"]):
        parser.error(f"--queries {args.queries}: the checkpoint's test split has {len(data.moments['test'])} videos")
    max_clips = loc.config.data.max_clips
    infer = loc.config.infer
    print(f"{args.queries} synthetic test queries, {args.ckpt}: R@1 of the best span (%); windows overlap by "
          f"{infer.window_overlap:g}, window consensus {'on' if infer.window_consensus else 'off'}")
    print(f"{'':<58}" + "".join(f"{name:>9}" for name in METRIC_NAMES))
    results = {}

    def row(name: str, requests: list[Request], truths: list[Truth], policy: str) -> None:
        start = time.perf_counter()
        results[name] = recall(loc, requests, truths, policy)
        print(f"{name:<58}" + "".join(f"{results[name][m]:9.1f}" for m in METRIC_NAMES)
              + f"   ({time.perf_counter() - start:.1f} s)", flush=True)

    for factor in args.factors:
        for filler in args.fillers:
            try:
                short, short_truth, long_, long_truth = long_video_requests(data, max_clips, args.queries, factor,
                                                                            filler)
            except ValueError as err:
                parser.error(f"--factors {factor}, --fillers {filler}: {err}")
            if not results:
                row("the videos as they are", short, short_truth, "auto")
            where = f"{factor}x: {factor * max_clips} clips, {filler} filler"
            row(f"{where}, windows", long_, long_truth, "windows")
            row(f"{where}, resampled to {max_clips}", long_, long_truth, "resample")
    if args.json:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
