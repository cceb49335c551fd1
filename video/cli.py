"""``python -m train extract``: a folder of videos -> ``<video_id>.npy`` clip features + ``extraction.json``.

Registered on ``python -m train``'s subcommands by :func:`add_extract_parser`; this module imports neither torch
nor PyAV until the command runs.
"""

from __future__ import annotations

import argparse
import sys

from video.recipes import RECIPES

USAGE_ERROR = 2

DESCRIPTION = """\
Extract clip features from video files the way a public feature release was made (docs/video-recipes.md):
decode (PyAV: any container / codec FFmpeg reads), resample to the recipe's frame rate, resize, crop and
normalise, run the backbone over the recipe's windows. Writes OUT/<video_id>.npy (T, D) float32 per video
(video_id = the file name without its extension) and OUT/extraction.json (recipe, weights sha256, seconds per
clip, frames used per video), which training reads. Resumable: a killed run continues where it stopped.
Bad input (an undecodable file, no video stream, a video shorter than one clip) is reported per video and
retried by the next run; exit code 2 when any video failed or the weights do not fit the recipe.

recipes:
""" + "\n".join(f"  {recipe.describe()}" for recipe in RECIPES.values())


def add_extract_parser(commands: argparse._SubParsersAction) -> None:
    extract = commands.add_parser(
        "extract", help="video files -> clip features of a public recipe (python -m train extract --help)",
        description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter,
    )
    extract.add_argument("videos", help="a folder of video files (every visible file in it), or one video file")
    extract.add_argument("out", help="the features folder: <video_id>.npy files and extraction.json")
    extract.add_argument("--recipe", required=True, choices=list(RECIPES),
                         help="how the features are made (docs/video-recipes.md)")
    extract.add_argument("--weights", required=True, metavar="FILE",
                         help="the backbone's weights file the recipe names (e.g. rgb_imagenet.pt or rgb_charades.pt\n"
                              "for charades-i3d, c3d.pickle for tacos-c3d); read with torch.load(weights_only=True)")
    extract.add_argument("--device", dest="extract_device", help="cpu | cuda | cuda:N (default: CUDA when available)")
    extract.add_argument("--batch-size", dest="extract_batch", type=int,
                         help="windows per forward pass, from one or several videos (default 32 on CUDA, 2 on CPU)")
    extract.add_argument("--decoders", type=int,
                         help="videos decoded at once, each in its own thread (default 4 on CUDA, 1 on the CPU)")
    extract.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                         help="network precision: auto = bf16 on CUDA, fp32 on the CPU (the releases were fp32)")
    extract.add_argument("--no-compile", action="store_true",
                         help="on CUDA, do not torch.compile the network (compiling takes a minute, then runs faster)")
    extract.add_argument("--no-progress", dest="extract_quiet", action="store_true", help="no progress bar")


def run_extract(args: argparse.Namespace) -> int:
    """``extract``: exit 0 when every video has its features, 2 on bad input or when any video failed."""
    from video.decode import VideoUnavailable
    from video.extract import Extractor, extract_folder

    try:
        import torch

        from engine.device import resolve_device

        device = resolve_device(args.extract_device)
        extractor = Extractor(args.recipe, args.weights, device, args.precision, args.extract_batch,
                              compile=device.type == "cuda" and not args.no_compile and hasattr(torch, "compile"),
                              decoders=args.decoders)
        report = extract_folder(args.videos, args.out, extractor, progress=not args.extract_quiet)
    except (ValueError, FileNotFoundError, VideoUnavailable) as err:
        print(f"python -m train extract: error: {' '.join(str(err).split())}", file=sys.stderr)
        return USAGE_ERROR
    speed = report.video_seconds / max(report.wall_seconds, 1e-9)
    print(f"{report.extracted} videos extracted ({report.video_seconds:.1f} s of video in {report.wall_seconds:.1f} "
          f"s, {speed:.2f} s of video per second, {extractor.device}, {extractor.precision}), {report.skipped} done "
          f"before, {len(report.failed)} failed -> {args.out}")
    for _, reason in report.failed:
        print(f"failed: {reason}", file=sys.stderr)
    return USAGE_ERROR if report.failed else 0
