"""``python -m bench.hour_latency``: the wall time of one query over an hour of clips, windows batched.

An hour of video at ``--clip-seconds`` (0.5: 2 clips/s, 7,200 clips) is one request through
``engine.inference`` -- the one path of every runtime: the query's text processing once, the video cut into
sliding windows of ``data.max_clips`` clips, the windows run as batches of ``infer.batch_size`` rows, spans
merged across windows.  The median of ``--repeats`` runs after one warm-up, synchronized on CUDA.

What runs:

* ``--ckpt RUN`` (the default: ``runs/synthetic``): the trained model of a run through ``engine.Localizer``
  (PyTorch) and, with ``--onnx``, its export through ``export.OnnxLocalizer`` (ONNX Runtime, CPU);
* ``--preset NAME`` (repeatable, instead of ``--ckpt``): a model of a ``train/configs`` preset with random
  weights, for a machine with no trained run and no NLTK (the GPU machine, ``bench/gpu.sh hour``): the query's
  text processing comes from its recorded NLTK tagging (:data:`QUERY_TAGGED`, checked against the tagger by the
  tests) and the vocabulary holds its words with random vectors.  The cost of a forward does not depend on
  the weights' values.

On ``--device cuda`` each model runs with the reference modules and with ``model.kernels=auto`` (the fused
Triton kernels once they pass their check there).  Clip features are random, for the same reason.

A batch carries the query once and the models encode it once for all its window rows (``query_row``, the
network contract of :mod:`engine.models.spec`); ``query encoding`` reports the share of a batch's PyTorch
forward spent in the query encoder (``encode_query``), measured on the same batch.  Prints a table and writes
it as JSON (``--json``, rewritten after each model).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import torch

from bench.timing import synchronize
from engine import Localizer
from engine.atomic import write_json
from engine.device import resolve_device
from engine.inference import BaseLocalizer, batch_inputs, prepare_request
from engine.models import build_model, set_kernels
from engine.text import TextProcessor, classify_words
from engine.vocab import Vocabulary

HOUR_S = 3600.0
QUERY = "a person opens the door"
QUERY_TAGGED = (("a", "DT"), ("person", "NN"), ("opens", "VBZ"), ("the", "DT"), ("door", "NN"))  # NLTK's tags


class RecordedText(TextProcessor):
    """:class:`engine.text.TextProcessor` for :data:`QUERY` alone, from its recorded tagging: steps 1-3 of the
    text rule (tokens, tags) are :data:`QUERY_TAGGED`, steps 4-5 the engine's own (:func:`classify_words`)."""

    def process(self, sentence: str) -> tuple[list[str], list[int], list[int]]:
        if sentence != QUERY:
            raise ValueError(f"RecordedText knows only the query {QUERY!r}, got {sentence!r}")
        tokens, classes = classify_words(QUERY_TAGGED[:self.max_words], self.drop_unknown_pos, self.masked)
        return tokens, self.vocab.encode(tokens), classes


def preset_localizer(name: str, device: torch.device, seed: int = 0) -> Localizer:
    """A :class:`engine.Localizer` of preset ``name``'s model with random weights (seeded), whose vocabulary is
    the query's words with random vectors and whose text processing is :class:`RecordedText`."""
    from train.cli import load_config

    config = load_config(name)
    words = sorted({token.lower() for token, _ in QUERY_TAGGED})
    vectors = np.random.default_rng(seed).normal(size=(len(words), config.model.word_dim)).astype(np.float32)
    vocab = Vocabulary.from_words(words, vectors)
    config.model.vocab_size = len(vocab)
    torch.manual_seed(seed)
    localizer = Localizer(build_model(config, vocab.vectors), config, vocab, device)
    localizer.text = RecordedText.for_config(vocab, config)
    return localizer


def timed(call: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Median seconds of ``call()`` over ``repeats`` runs after one warm-up run (``device`` synchronized)."""
    call()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        call()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return median(times)


@torch.no_grad()
def query_encoding_share(loc: Localizer, features: np.ndarray, repeats: int) -> float:
    """Share of the forward of one batch of ``infer.batch_size`` window rows spent encoding the query."""
    request = prepare_request(features, QUERY, loc.text, loc.config, HOUR_S)
    rows = [(request, segment) for segment in request.segments[:loc.config.infer.batch_size]]
    inputs = batch_inputs(rows, loc.device)
    model = loc.model
    query_args = (inputs["words"], inputs["word_mask"], inputs["word_class"])
    return (timed(lambda: model.encode_query(*query_args), repeats, loc.device)
            / timed(lambda: model(**inputs), repeats, loc.device))


def hour_of(runtime: BaseLocalizer, features: np.ndarray, repeats: int, batch_size: int | None,
            overlap: float | None) -> dict[str, Any]:
    """Time ``runtime.localize`` of :data:`QUERY` over ``features`` as one hour, under sliding windows."""
    runtime.config.infer.windows = "windows"
    if batch_size:
        runtime.config.infer.batch_size = batch_size
    if overlap is not None:
        runtime.config.infer.window_overlap = overlap
    prediction = runtime.localize(features, QUERY, HOUR_S)
    seconds = timed(lambda: runtime.localize(features, QUERY, HOUR_S), repeats, runtime.device)
    return {"seconds": seconds, "windows": prediction.windows, "batch_size": runtime.config.infer.batch_size,
            "max_clips": runtime.config.data.max_clips, "overlap": runtime.config.infer.window_overlap}


def runtimes_of(loc: Localizer, onnx: Path | None, threads: int) -> dict[str, Callable[[], BaseLocalizer]]:
    """The runtimes to time for one model: name -> a function that readies it."""
    def kernels(backend: str) -> Callable[[], BaseLocalizer]:
        def ready() -> BaseLocalizer:
            set_kernels(loc.model, backend)
            loc.config.model.kernels = backend
            return loc
        return ready

    if loc.device.type == "cuda":
        runtimes = {"PyTorch (reference)": kernels("reference"), "PyTorch (fused Triton)": kernels("auto")}
    else:
        runtimes = {"PyTorch": lambda: loc}
    if onnx:
        def ort() -> BaseLocalizer:
            from export import OnnxLocalizer

            return OnnxLocalizer(onnx, threads=threads)
        runtimes["ONNX Runtime"] = ort
    return runtimes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hour_latency", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", help="a run directory or checkpoint (default: runs/synthetic, unless --preset)")
    parser.add_argument("--preset", action="append", default=[],
                        help="a train/configs preset with random weights and the recorded query tagging "
                             "(repeatable; instead of --ckpt)")
    parser.add_argument("--onnx", type=Path, help="also time this ONNX export of --ckpt (python -m export)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda[:N] | auto (default cpu)")
    parser.add_argument("--clip-seconds", type=float, default=0.5, help="seconds per clip (default 0.5: 7,200 clips)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of PyTorch and ONNX Runtime (default 2)")
    parser.add_argument("--batch-size", type=int, help="window rows per forward (default: the run's infer.batch_size)")
    parser.add_argument("--overlap", type=float, help="window overlap in [0, 1) (default: the run's / preset's "
                        "infer.window_overlap)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per runtime, after a warm-up (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.clip_seconds <= 0 or args.threads < 1 or args.repeats < 1 or (args.batch_size or 1) < 1:
        parser.error("--clip-seconds must be > 0, --threads, --repeats and --batch-size >= 1")
    if args.overlap is not None and not 0.0 <= args.overlap < 1.0:
        parser.error(f"--overlap must be in [0, 1), got {args.overlap}")
    if args.preset and (args.ckpt or args.onnx):
        parser.error("--preset times random weights: name no --ckpt / --onnx with it")
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(args.threads)
    clips = round(HOUR_S / args.clip_seconds)
    models = ({f"preset {name}": lambda name=name: preset_localizer(name, device) for name in args.preset}
              or {f"run {args.ckpt or 'runs/synthetic'}":
                  lambda: Localizer.from_checkpoint(args.ckpt or "runs/synthetic", device=device)})
    results: dict[str, Any] = {"clips": clips, "threads": args.threads, "device": str(device),
                               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                               "query": QUERY, "models": {}}
    print(f"one query over {clips} clips ({HOUR_S / 3600:g} h at {args.clip_seconds:g} s per clip) on "
          f"{results['device_name']}, {args.threads} CPU threads; median of {args.repeats}", flush=True)
    for label, load in models.items():
        loc = load()
        features = np.random.default_rng(0).normal(size=(clips, loc.config.model.video_dim)).astype(np.float32)
        model = results["models"][label] = {"model": loc.config.model.name, "dim": loc.config.model.dim,
                                            "runtimes": {}}
        for name, ready in runtimes_of(loc, args.onnx, args.threads).items():
            timing = model["runtimes"][name] = hour_of(ready(), features, args.repeats, args.batch_size,
                                                              args.overlap)
            print(f"{label:<24} {name:<23} {clips} clips, {timing['windows']} windows of {timing['max_clips']} "
                  f"(overlap {timing['overlap']:g}), "
                  f"batches of {timing['batch_size']}: {timing['seconds']:.3f} s", flush=True)
        model["query_encoding_share"] = query_encoding_share(loc, features, args.repeats)
        print(f"{label:<24} query encoding: {100 * model['query_encoding_share']:.1f} % of a batch's PyTorch "
              f"forward ({loc.config.model.kernels})", flush=True)
        if args.json:  # after each model: a run cut at a time limit keeps what it measured
            write_json(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
