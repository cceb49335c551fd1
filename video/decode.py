"""Decoding: a video file -> RGB frames at the recipe's rate, resized and centre-cropped as the recipe says.

PyAV (``pip install -e ".[video]"``) binds FFmpeg's libraries, bundled in its wheel: every container and codec
FFmpeg reads decodes without a system FFmpeg, and frames arrive as numpy arrays (torchcodec, the other maintained
binding, needs a torch build it matches and a system FFmpeg).

Frame rate: the public scripts let ``ffmpeg -filter:v fps=R`` resample; :class:`FrameRateResampler` does what that
filter does by default (``round=near``): input frame i lands in output slot ``round((t_i - t_0) * R)``; output
frame n is the last input frame whose slot is <= n; the output has ``round((t_end - t_0) * R)`` frames, t_end
being the end of the last frame.  Frames stay uint8 (H, W, 3) here: normalisation is arithmetic on the device
(:func:`normalise`), so a quarter of the bytes cross to it.

Every failure is a :class:`VideoError` (or FileNotFoundError) whose one line names the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from video.recipes import Recipe

INSTALL_HINT = 'decoding video needs PyAV: pip install -e ".[video]"'


class VideoError(ValueError):
    """A video that cannot be used: undecodable, no video stream, no frames, shorter than one clip."""


class VideoUnavailable(ImportError):
    """PyAV is not installed."""


def require_av() -> Any:
    """The ``av`` module, or :class:`VideoUnavailable` with the install command."""
    try:
        import av
    except ImportError as err:
        raise VideoUnavailable(INSTALL_HINT) from err
    return av


@dataclass
class DecodedVideo:
    """What decoding found: the native frame rate and frame count, the duration (seconds) and the number of
    frames after resampling to the recipe's rate (filled in as frames are read)."""

    path: Path
    native_fps: float
    native_frames: int = 0
    duration: float = 0.0
    frames: int = 0


def _first_line(err: BaseException) -> str:
    """FFmpeg's reason without the errno and the path PyAV adds (the message names the file already)."""
    text = (getattr(err, "strerror", None) or str(err)).strip().splitlines()
    return text[0] if text else type(err).__name__


def centre_crop_offsets(height: int, width: int, crop: int) -> tuple[int, int]:
    """(top, left) of a centre crop, rounded half to even as ``np.round`` in pytorch-i3d's CenterCrop."""
    return round((height - crop) / 2), round((width - crop) / 2)


def scaled_size(height: int, width: int, recipe: Recipe) -> tuple[int, int] | None:
    """(height, width) the frame is resized to before cropping, or None to keep it: the recipe's fixed
    ``resize``, or an upscale of the short side to ``min_short_side`` (both sides scaled alike, rounded as
    ``cv2.resize(fx=, fy=)``)."""
    if recipe.resize is not None:
        return recipe.resize
    short = min(height, width)
    if recipe.min_short_side is None or short >= recipe.min_short_side:
        return None
    scale = recipe.min_short_side / short
    return round(height * scale), round(width * scale)


class FrameRateResampler:
    """``ffmpeg -filter:v fps=R`` (round=near) over a stream of timestamped frames (module docstring)."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.start: float | None = None
        self.emitted = 0
        self.pending: Any = None  # the latest input frame, not yet emitted for every slot it owns

    def push(self, time: float, frame: Any) -> Iterator[Any]:
        """Feed one input frame; yields the output frames now decided (the previous input frame, repeated)."""
        if self.start is None:
            self.start = time
        slot = math.floor((time - self.start) * self.fps + 0.5)
        if self.pending is not None:
            while self.emitted < slot:
                self.emitted += 1
                yield self.pending
        self.pending = frame

    def finish(self, end_time: float) -> Iterator[Any]:
        """The remaining output frames once the stream ended at ``end_time`` (the end of its last frame)."""
        if self.pending is None or self.start is None:
            return
        total = max(1, math.floor((end_time - self.start) * self.fps + 0.5))
        while self.emitted < total:
            self.emitted += 1
            yield self.pending


def _to_rgb(frame: Any, recipe: Recipe) -> np.ndarray:
    """A decoded frame as the recipe's (crop, crop, 3) uint8 RGB array."""
    size = scaled_size(frame.height, frame.width, recipe)
    if size is None:
        rgb = frame.to_ndarray(format="rgb24")
    else:
        rgb = frame.reformat(width=size[1], height=size[0], format="rgb24", interpolation="BILINEAR").to_ndarray()
    height, width = rgb.shape[:2]
    if min(height, width) < recipe.crop:
        raise VideoError(f"frames of {width}x{height} are smaller than the recipe's {recipe.crop}x{recipe.crop} crop")
    top, left = centre_crop_offsets(height, width, recipe.crop)
    return np.ascontiguousarray(rgb[top:top + recipe.crop, left:left + recipe.crop])


def read_frames(path: str | Path, recipe: Recipe, info: DecodedVideo | None = None) -> Iterator[np.ndarray]:
    """The video's frames resampled to ``recipe.fps``, resized and cropped: (crop, crop, 3) uint8 RGB each.

    ``info`` (optional) is filled in as decoding goes (native rate, frames, duration, resampled frames).
    Raises FileNotFoundError, :class:`VideoUnavailable` or :class:`VideoError` (one line naming ``path``).
    """
    av = require_av()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise VideoError(f"{path}: cannot be decoded as a video ({_first_line(err)})") from err
    with container:
        if not container.streams:
            raise VideoError(f"{path}: holds no streams and no frames (a zero-length video?)")
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams}))
            raise VideoError(f"{path}: has no video stream (only {kinds})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(recipe.fps)
        info = info if info is not None else DecodedVideo(path, float(rate))
        info.native_fps = float(rate)
        resampler = FrameRateResampler(recipe.fps)
        last_time, last_duration = None, 1.0 / float(rate)
        try:
            for frame in container.decode(stream):
                time = info.native_frames / float(rate) if frame.pts is None else float(frame.pts * stream.time_base)
                if frame.duration:
                    last_duration = float(frame.duration * stream.time_base)
                info.native_frames += 1
                last_time = time
                for chosen in resampler.push(time, frame):
                    info.frames += 1
                    yield _to_rgb(chosen, recipe)
        except av.FFmpegError as err:
            raise VideoError(f"{path}: decoding failed after {info.native_frames} frames ({_first_line(err)})") from err
        except VideoError as err:
            raise VideoError(f"{path}: {err}") from err
        if last_time is None:
            raise VideoError(f"{path}: the video stream holds no frames (zero-length video)")
        info.duration = last_time + last_duration - (resampler.start or 0.0)
        for chosen in resampler.finish(last_time + last_duration):
            info.frames += 1
            yield _to_rgb(chosen, recipe)


def normalise(frames: torch.Tensor, recipe: Recipe, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 -> (B, 3, T, H, W) ``pixel * pixel_scale + pixel_offset`` in ``dtype``."""
    x = frames.permute(0, 4, 1, 2, 3).to(dtype)
    return x * recipe.pixel_scale + recipe.pixel_offset


def thumbnails(path: str | Path, times: list[float], height: int = 72) -> list[tuple[float, np.ndarray]]:
    """``(time, (height, w, 3) uint8 RGB)`` of the frame shown at each of ``times`` (seconds), aspect kept: one
    pass over the video, for the pictures of ``predict --video --plot``."""
    av = require_av()
    wanted = sorted(times)
    found: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if not wanted:
                    break
                time = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                while wanted and time >= wanted[0] - 0.5 / float(stream.average_rate or 25):
                    small = frame.reformat(width=max(1, round(frame.width * height / frame.height)), height=height,
                                           format="rgb24")
                    found.append((wanted.pop(0), small.to_ndarray()))
    except (av.FFmpegError, IndexError) as err:
        raise VideoError(f"{path}: cannot read thumbnails ({_first_line(err)})") from err
    return found
