"""Video suite: seconds of video turned into features per second, decoding and the backbone measured apart.

Per recipe (:data:`video.RECIPES`):

* ``decode <recipe>`` -- PyAV decoding of a synthetic H.264 video (a square moving over a flat background,
  480 x 270 at 30 fps: Charades' typical frame size; 10 s, 2 s with ``--quick``) into the recipe's frames:
  resampled, resized and cropped (:func:`video.decode.read_frames`); one variant, ``pyav``.
* ``extract <recipe>`` -- the backbone on a batch of the recipe's windows (uint8 frames in, feature rows out:
  normalisation included), random weights of the published layout.  Variants: ``eager`` (fp32, the way the
  public features were made: the baseline) and, on CUDA, ``bf16`` (channels-last under bf16 autocast) and
  ``compiled`` (the same, ``torch.compile``-d: what ``python -m train extract`` runs on a GPU), checked against
  fp32 at a bf16 tolerance.

``items_per_s`` of every record is seconds of video per second (a decode call covers the video; an extract call
covers ``batch x stride / fps`` seconds, the video each window advances); above 1 is faster than real time.
Decoding and the backbone overlap in ``python -m train extract`` (a decoding thread), so a whole run goes at
about the slower of the two.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.cases import Case, Result, Settings, Variant
from bench.records import SkipRecord
from bench.suites import compiled, generator
from kernels.parity import FEATURE_BF16_TOL
from video.backbones import FeatureNet
from video.c3d import C3D
from video.i3d import InceptionI3D
from video.recipes import RECIPES, Recipe

SUITE = "video"
NETWORKS = {"i3d": InceptionI3D, "c3d": C3D}
WEIGHTS_SEED = 0


@dataclass(frozen=True)
class VideoShapes:
    seconds: float  # of the decoded video
    size: tuple[int, int]  # (width, height) of the decoded video
    fps: int
    cpu_batch: int  # windows per extract call
    cuda_batch: int


FULL = VideoShapes(seconds=10.0, size=(480, 270), fps=30, cpu_batch=1, cuda_batch=32)
QUICK = VideoShapes(seconds=2.0, size=(160, 90), fps=30, cpu_batch=1, cuda_batch=2)


def _av_reason() -> str | None:
    from video.decode import VideoUnavailable, require_av

    try:
        require_av()
    except VideoUnavailable as err:
        return str(err)
    return None


def decode_case(recipe: Recipe, shapes: VideoShapes) -> Case:
    from video.decode import read_frames
    from video.synthetic import write_test_video

    folder = tempfile.TemporaryDirectory(prefix="bench-video-")  # removed with the case (the closure holds it)
    path = write_test_video(Path(folder.name) / f"{recipe.name}.mp4", round(shapes.seconds * shapes.fps),
                            shapes.fps, shapes.size, codec="libx264")

    def run(video: Path) -> Result:
        assert Path(folder.name).is_dir()
        frames = sum(1 for _ in read_frames(video, recipe))
        return [torch.tensor([float(frames)])], []

    return Case(SUITE, f"decode {recipe.name}", torch.float32,
                {"video": f"{shapes.size[0]}x{shapes.size[1]}", "fps": shapes.fps, "s": shapes.seconds},
                lambda seed: path, [Variant("pyav", run)], items=shapes.seconds)


def extract_case(recipe: Recipe, shapes: VideoShapes, settings: Settings) -> Case:
    from video.synthetic import random_network

    on_cuda = settings.device.type == "cuda"
    batch = shapes.cuda_batch if on_cuda else shapes.cpu_batch
    backbone = random_network(NETWORKS[recipe.backbone], WEIGHTS_SEED).to(settings.device)
    eager = FeatureNet(recipe, backbone).eval()
    shape = (batch, recipe.window, recipe.crop, recipe.crop, 3)

    def make_input(seed: int) -> torch.Tensor:
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator(seed)).to(settings.device)

    def variant(name: str, net: Any, dtype: torch.dtype) -> Variant:
        def run(windows: torch.Tensor) -> Result:
            with torch.inference_mode(), torch.autocast(settings.device.type, dtype=dtype,
                                                        enabled=dtype != torch.float32):
                return [net(windows)], []

        return Variant(name, run)

    variants = [variant("eager", eager, torch.float32)]
    if on_cuda:
        fast_backbone = random_network(NETWORKS[recipe.backbone], WEIGHTS_SEED).to(settings.device, torch.bfloat16)
        fast = FeatureNet(recipe, fast_backbone.to(memory_format=torch.channels_last_3d), torch.bfloat16).eval()
        variants.append(variant("bf16", fast, torch.bfloat16))
        if settings.compile_skip is None:
            variants.append(variant("compiled", compiled(fast), torch.bfloat16))
    return Case(SUITE, f"extract {recipe.name}", torch.float32,
                {"B": batch, "frames": recipe.window, "crop": recipe.crop}, make_input, variants,
                items=batch * recipe.stride / recipe.fps, tolerance=FEATURE_BF16_TOL if on_cuda else None)


def cases(settings: Settings, recipes: tuple[str, ...] = tuple(RECIPES), decode: bool = True,
          extract: bool = True) -> Iterator[Case | SkipRecord]:
    """The decode and extract cases of ``recipes`` (plan selection: which recipes, which kinds)."""
    shapes = QUICK if settings.quick else FULL
    reason = _av_reason()
    if decode and reason:
        yield SkipRecord(SUITE, "decode", "pyav", reason, part=settings.part)
    for name in recipes:
        recipe = RECIPES[name]
        if decode and not reason:
            yield decode_case(recipe, shapes)
        if extract:
            yield extract_case(recipe, shapes, settings)
