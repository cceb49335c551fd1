"""The videos a demo page can query: built-in synthetic test videos, uploaded ``.npy`` clip features and uploaded
video files, each held as clip features so that every query on a video reuses them.

A video's features are read (an ``.npy``) or extracted (a video file, through the ``video`` package's
``extract_video``) exactly once, when it is added; :class:`VideoStore` keeps the last ``capacity`` uploads
(least recently used goes first) and every built-in video.  An upload is named by the SHA-256 of its bytes, so
sending the same file again reuses the features already there instead of reading or extracting them again.

Built-in videos are the synthetic test split regenerated from the checkpoint's own data config (seed, version,
sizes), so a synthetic run's checkpoint answers them out of the box; the first few also come at the end of a
video ``LONG_FACTOR`` x ``data.max_clips`` clips long, after other test videos that do not hold the queried
action (:mod:`engine.data.long_videos`, filler ``events``), which the localizer answers through its sliding windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import Config
from engine.data.features import FeatureFileError, check_clip_features, read_feature_file
from engine.data.long_videos import long_video_requests, synthetic_test_split
from engine.data.synthetic import VIDEO_DIM
from engine.inference import check_feature_source, seconds_per_clip
from engine.localizer import Localizer

LONG_FACTOR = 8  # a built-in long video is this many times data.max_clips clips
LONG_BUILTINS = 3  # how many test videos also come embedded in a long one
LONG_FILLER = "events"  # the clips before it: other test videos without the queried action
DEFAULT_CAPACITY = 8  # uploads kept in memory (their features and, for video files, the file)
VIDEO_INSTALL = "pip install -e '.[demo]'"
UPLOAD_KINDS = ("features", "video")


class DemoInputError(ValueError):
    """Input the page sent that cannot be used; the message is shown on the page as it is."""


@dataclass
class Video:
    """One queryable video: its (T, video_dim) float32 clip features and what the page shows about it.

    ``duration`` None means ``seconds_per_clip`` per clip (the checkpoint's clip rate, as ``Localizer.predict``
    does without a duration); ``load_seconds`` is how long reading or extracting the features took (once);
    ``media`` is the uploaded video file the page's player plays (None for features); ``truth`` the built-in
    videos' ground truth ``(query, start_s, end_s)``.
    """

    id: str
    name: str
    kind: str  # "synthetic", "features" or "video"
    features: np.ndarray
    duration: float | None
    load_seconds: float = 0.0
    media: Path | None = None
    truth: tuple[str, float, float] | None = None
    seconds_per_clip: float = 1.0

    def to_json(self) -> dict[str, Any]:
        clips = int(self.features.shape[0])
        out: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind, "clips": clips,
                               "duration": clips * self.seconds_per_clip if self.duration is None else self.duration,
                               "load_seconds": self.load_seconds, "player": self.media is not None}
        if self.truth is not None:
            out["truth"] = {"query": self.truth[0], "start": self.truth[1], "end": self.truth[2]}
        return out


def builtin_videos(localizer: Localizer) -> tuple[list[Video], str]:
    """The synthetic test videos of a checkpoint's data config and, for the first :data:`LONG_BUILTINS`, the
    same video at the end of a long one (:mod:`engine.data.long_videos`); or ``([], why there are none)``."""
    config = localizer.config
    data = config.data
    if data.dataset != "synthetic":
        return [], f"the checkpoint was trained on {data.dataset!r} data, so there are no built-in synthetic videos"
    if config.model.video_dim != VIDEO_DIM:
        return [], f"the model reads {config.model.video_dim}-d clips; the synthetic videos are {VIDEO_DIM}-d"
    generated = synthetic_test_split(data)
    videos = []
    for moment in generated.moments["test"]:
        features = generated.features[moment.video_id]
        videos.append(Video(moment.video_id, f"{moment.video_id} ({len(features)} clips): {moment.sentence}",
                            "synthetic", features, moment.duration,
                            truth=(moment.sentence, moment.start, moment.end)))
    if all(len(v.features) <= LONG_FACTOR * data.max_clips for v in videos[:LONG_BUILTINS]):
        _, _, requests, truths = long_video_requests(generated, data.max_clips, LONG_BUILTINS, LONG_FACTOR,
                                                    LONG_FILLER)
        for short, (features, sentence, duration), (start, end) in zip(videos, requests, truths, strict=False):
            videos.append(Video(f"{short.id}-long", f"{short.id} inside {len(features)} clips: {sentence}",
                                "synthetic", features, duration, truth=(sentence, start, end)))
    return videos, ""


def read_uploaded_features(body: bytes, name: str, video_dim: int) -> np.ndarray:
    """The clip features of an uploaded ``.npy`` file, checked as every feature file is (no pickles, a
    (T, video_dim) finite array); raises :class:`DemoInputError` naming the file."""
    with _spooled(body, ".npy") as path:
        try:
            array = read_feature_file(path)
        except FeatureFileError as err:
            raise DemoInputError(str(err).replace(str(path), name, 1)) from err
    try:
        return check_clip_features(array, name, video_dim)
    except FeatureFileError as err:
        raise DemoInputError(f"{err} (the model reads {video_dim}-d clip features)") from err


@contextlib.contextmanager
def _spooled(body: bytes, suffix: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="demo-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(body)
        yield path


class VideoExtractor:
    """Clip features of a video file through the video-in extractor (``video.extract_video``), with the
    checkpoint's feature recipe and a weights file, when the ``video`` package and PyAV are installed;
    :attr:`unavailable` says why not otherwise.  The features must be what the checkpoint was trained on
    (``engine.inference.check_feature_source``: width, recipe, clip rate)."""

    def __init__(self, localizer: Localizer, weights: str | Path | None, recipe: str | None = None) -> None:
        self.localizer, self.weights, self.recipe = localizer, weights, ""
        self.extract: Callable[..., Any] | None = None
        self.unavailable = self._find(recipe)

    def _find(self, recipe: str | None) -> str:
        if self.weights is None:
            return "video upload is off: start the demo with --weights FILE (the feature extractor's weights)"
        if importlib.util.find_spec("video") is None or importlib.util.find_spec("av") is None:
            return f"video upload is off: it needs the video-in extractor and PyAV ({VIDEO_INSTALL})"
        try:
            self.recipe = self.localizer.video_recipe(recipe)  # the checkpoint's; refuses a conflicting --recipe
        except ValueError as err:
            return f"video upload is off: {err}"
        self.extract = importlib.import_module("video").extract_video
        return ""

    def __call__(self, path: Path, name: str) -> tuple[np.ndarray, float]:
        """(features, duration in seconds) of the video file at ``path`` (shown to the user as ``name``)."""
        if self.extract is None:
            raise DemoInputError(self.unavailable)
        try:
            result = self.extract(path, self.recipe, self.weights, self.localizer.device)
            check_feature_source(self.localizer.config, name, result.features.shape[1], self.recipe,
                                 result.clip_seconds)
        except (ValueError, OSError, ImportError) as err:  # video.VideoError / WeightsError are ValueErrors
            text = " ".join(str(err).replace(str(path), name).split()) or type(err).__name__
            raise DemoInputError(text if name in text else f"{name}: {text}") from err
        return result.features, float(result.duration)


class VideoStore:
    """Built-in videos and the last ``capacity`` uploads, by id; thread-safe.  Uploaded video files are kept
    under ``media_dir`` for the player while their entry lives."""

    def __init__(self, builtins: list[Video], config: Config, extractor: VideoExtractor, media_dir: Path,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"the upload cache must hold at least 1 video, got {capacity}")
        self.builtins = {v.id: v for v in builtins}
        self.video_dim, self.seconds_per_clip = config.model.video_dim, seconds_per_clip(config)
        self.extractor, self.media_dir, self.capacity = extractor, media_dir, capacity
        self.uploads: OrderedDict[str, Video] = OrderedDict()
        self.lock = threading.Lock()  # guards ``uploads``
        self.adding = threading.Lock()  # one upload at a time: the same file sent twice is read or extracted once

    def get(self, video_id: str) -> Video:
        with self.lock:
            if video_id in self.builtins:
                return self.builtins[video_id]
            if video_id in self.uploads:
                self.uploads.move_to_end(video_id)
                return self.uploads[video_id]
        raise KeyError(f"no video {video_id!r} here (uploads are kept for the last {self.capacity} videos; "
                       "upload it again)")

    def add(self, kind: str, name: str, body: bytes, duration: float | None = None) -> tuple[Video, bool]:
        """Read or extract an upload's features (once per distinct file); -> (the video, whether it was cached).

        ``duration`` (seconds) applies to features (a video file knows its own); None = the clip rate's."""
        if kind not in UPLOAD_KINDS:
            raise DemoInputError(f"upload kind must be one of {list(UPLOAD_KINDS)}, got {kind!r}")
        if not body:
            raise DemoInputError(f"{name}: the file is empty")
        video_id = f"{kind}-{hashlib.sha256(body).hexdigest()[:16]}"
        with self.adding:
            with self.lock:
                cached = self.uploads.get(video_id)
                if cached is not None and (kind == "video" or cached.duration == duration):
                    self.uploads.move_to_end(video_id)
                    return cached, True
            started = time.perf_counter()
            media = None
            if kind == "features":
                features = read_uploaded_features(body, name, self.video_dim)
            else:
                suffix = "".join(c for c in Path(name).suffix.lower()[:8] if c.isalnum() or c == ".")
                media = self.media_dir / f"{video_id}{suffix}"  # the suffix tells the player the container
                media.write_bytes(body)
                try:
                    features, duration = self.extractor(media, name)
                    features = check_clip_features(features, f"{name}: extracted features", self.video_dim)
                except BaseException as err:  # no entry, no file
                    media.unlink(missing_ok=True)
                    if isinstance(err, FeatureFileError):
                        raise DemoInputError(str(err)) from err
                    raise
            video = Video(video_id, name, kind, features, duration, time.perf_counter() - started, media,
                          seconds_per_clip=self.seconds_per_clip)
            with self.lock:
                self.uploads[video_id] = video
                while len(self.uploads) > self.capacity:
                    _, evicted = self.uploads.popitem(last=False)
                    if evicted.media is not None:
                        evicted.media.unlink(missing_ok=True)
            return video, False


def parse_duration(text: str | None) -> float | None:
    """A duration field of the page: blank = None (the checkpoint's clip rate), else positive seconds."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise DemoInputError(f"duration must be a number of seconds, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise DemoInputError(f"duration must be positive seconds, got {text!r}")
    return value
