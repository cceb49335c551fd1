"""``python -m bench.hour_latency``: the wall time of one query over an hour of clips, windows batched.

An hour of video at ``--clip-seconds`` (0.5: 2 clips/s, 7,200 clips) is one request through
``engine.inference`` -- the one path of every runtime: the query's text processing once, the video cut into
sliding windows of ``data.max_clips`` clips, the windows run as batches of ``infer.batch_size`` rows, spans
merged across windows.  Timed for ``engine.Localizer`` (PyTorch) and, with ``--onnx``, ``export.OnnxLocalizer``
(ONNX Runtime) on ``--threads`` CPU threads; the median of ``--repeats`` runs after one warm-up.

A batch carries the query once and the models encode it once for all its window rows (``query_row``, the
network contract of :mod:`engine.models.spec`); ``query encoding`` reports the share of a batch's PyTorch forward
spent in the query encoder (``encode_query``), measured on the same batch.  Clip features are random: the models' cost
does not depend on the values.  Prints a table and writes it as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import torch

from engine import Localizer
from engine.atomic import write_json
from engine.inference import batch_inputs, prepare_request

HOUR_S = 3600.0
QUERY = "a person opens the door"


def timed(call: Any, repeats: int) -> float:
    """Median seconds of ``call()`` over ``repeats`` runs after one warm-up run."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return median(times)


@torch.no_grad()
def query_encoding_share(loc: Localizer, features: np.ndarray, repeats: int) -> float:
    """Share of the forward of one batch of ``infer.batch_size`` window rows spent encoding the query."""
    request = prepare_request(features, QUERY, loc.text, loc.config, HOUR_S)
    rows = [(request, segment) for segment in request.segments[:loc.config.infer.batch_size]]
    inputs = batch_inputs(rows)
    model = loc.model
    query_args = (inputs["words"], inputs["word_mask"], inputs["word_class"])
    return timed(lambda: model.encode_query(*query_args), repeats) / timed(lambda: model(**inputs), repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hour_latency", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default="runs/synthetic",
                        help="a run directory or checkpoint (default: runs/synthetic)")
    parser.add_argument("--onnx", type=Path, help="also time this ONNX export of the same run (python -m export)")
    parser.add_argument("--clip-seconds", type=float, default=0.5, help="seconds per clip (default 0.5: 7,200 clips)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of PyTorch and ONNX Runtime (default 2)")
    parser.add_argument("--batch-size", type=int, help="window rows per forward (default: the run's infer.batch_size)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per runtime, after a warm-up (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.clip_seconds <= 0 or args.threads < 1 or args.repeats < 1 or (args.batch_size or 1) < 1:
        parser.error("--clip-seconds must be > 0, --threads, --repeats and --batch-size >= 1")
    torch.set_num_threads(args.threads)
    loc = Localizer.from_checkpoint(args.ckpt, device="cpu")
    clips = round(HOUR_S / args.clip_seconds)
    features = np.random.default_rng(0).normal(size=(clips, loc.config.model.video_dim)).astype(np.float32)
    runtimes: dict[str, Any] = {"PyTorch": loc}
    if args.onnx:
        from export import OnnxLocalizer

        runtimes["ONNX Runtime"] = OnnxLocalizer(args.onnx, threads=args.threads)
    results: dict[str, Any] = {"clips": clips, "threads": args.threads}
    for name, runtime in runtimes.items():
        runtime.config.infer.windows = "windows"
        if args.batch_size:
            runtime.config.infer.batch_size = args.batch_size
        prediction = runtime.localize(features, QUERY, HOUR_S)
        seconds = timed(lambda runtime=runtime: runtime.localize(features, QUERY, HOUR_S), args.repeats)
        results[name] = {"seconds": seconds, "windows": prediction.windows,
                         "batch_size": runtime.config.infer.batch_size}
        print(f"{name:<14} {clips} clips, {prediction.windows} windows of {runtime.config.data.max_clips}, batches "
              f"of {runtime.config.infer.batch_size}: {seconds:.2f} s ({args.threads} threads)", flush=True)
    results["query_encoding_share"] = query_encoding_share(loc, features, args.repeats)
    print(f"query encoding: {100 * results['query_encoding_share']:.1f} % of a batch's PyTorch forward")
    if args.json:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
