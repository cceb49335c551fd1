"""What the demo page asks of the model, as plain functions of JSON-ready values (the HTTP layer is
:mod:`demo.server`): the model and its videos (``info``), adding an upload (``upload``), answering a query on a
video (``answer``).

A query is answered by ``Localizer.localize`` on the video's cached features, so the page shows exactly what
``Localizer.predict`` / ``python -m train predict`` return for the same features, query and duration: sliding
windows for long videos, the model's per-row choice (Dynamic Pathway's pathway).  Bad input
raises :class:`~demo.videos.DemoInputError` (shown on the page); a query none of whose words the model knows is
refused rather than answered, since the model would then ignore the query and the spans would mean nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from demo.videos import (
    DEFAULT_CAPACITY,
    DemoInputError,
    Video,
    VideoExtractor,
    VideoStore,
    builtin_videos,
    parse_duration,
)
from engine.inference import QueryWarning
from engine.localizer import Localizer

DEFAULT_K, MAX_K = 5, 20
MAX_QUERY_CHARS = 500
CURVE_DIGITS = 4  # curve values sent to the page


class DemoApp:
    """A localizer and its video store behind the page's JSON API.  Thread-safe: the model runs one query at
    a time (``model_lock``); the store guards itself."""

    def __init__(self, localizer: Localizer, checkpoint: str, store: VideoStore, builtins_note: str = "") -> None:
        self.localizer, self.checkpoint, self.store, self.builtins_note = localizer, checkpoint, store, builtins_note
        self.model_lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, media_dir: Path, device: str | None = None,
                        weights: str | Path | None = None, recipe: str | None = None,
                        capacity: int = DEFAULT_CAPACITY) -> DemoApp:
        """The page's app for a checkpoint (a file or run directory): its built-in synthetic videos, uploads kept
        for ``capacity`` videos (video files under ``media_dir``), video-file upload when ``weights`` and the
        video-in extractor are there (``recipe`` None = the checkpoint's ``data.feature_recipe``).  Raises
        ValueError / FileNotFoundError for a bad checkpoint or weights path."""
        if weights is not None and not Path(weights).is_file():
            raise FileNotFoundError(f"--weights {weights}: no such file")
        localizer = Localizer.from_checkpoint(checkpoint, device)
        builtins, note = builtin_videos(localizer)
        store = VideoStore(builtins, localizer.config, VideoExtractor(localizer, weights, recipe), media_dir, capacity)
        return cls(localizer, str(checkpoint), store, note)

    def info(self) -> dict[str, Any]:
        """The model, the built-in videos, and which uploads work (with the reason when one does not)."""
        config = self.localizer.config
        return {
            "checkpoint": self.checkpoint,
            "model": config.model.name,
            "video_dim": config.model.video_dim,
            "max_clips": config.data.max_clips,
            "windows": config.infer.windows,
            "seconds_per_clip": self.store.seconds_per_clip,
            "k": DEFAULT_K, "max_k": MAX_K,
            "builtins": [{"id": v.id, "name": v.name} for v in self.store.builtins.values()],
            "builtins_note": self.builtins_note,
            "video_upload": self.store.extractor.extract is not None,
            "video_upload_note": self.store.extractor.unavailable,
        }

    def video(self, video_id: str) -> dict[str, Any]:
        return self._video(video_id).to_json()

    def upload(self, kind: str, name: str, body: bytes, duration: str | None) -> dict[str, Any]:
        """Add an uploaded ``.npy`` (``kind="features"``) or video file; -> the video's JSON with ``cached`` (the
        same file was uploaded before, nothing was read again)."""
        with self.model_lock if kind == "video" else contextlib.nullcontext():  # extraction may use the model's device
            video, cached = self.store.add(kind, name, body, parse_duration(duration))
        return {**video.to_json(), "cached": cached}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"video": id, "query": text, "k": n}`` -> the top-k spans, the per-clip curves (with the labels of the
        model's own), the model's choice (DP's pathway), the
        grid, and ``seconds``: how long the answer took (the video's features are cached, never re-read)."""
        video = self._video(request.get("video"))
        query = request.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DemoInputError("type a query: a sentence describing the moment to find")
        if len(query) > MAX_QUERY_CHARS:
            raise DemoInputError(f"the query is {len(query)} characters long; at most {MAX_QUERY_CHARS}")
        k = request.get("k", DEFAULT_K)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise DemoInputError(f"k must be a whole number from 1 to {MAX_K}, got {k!r}")
        started = time.perf_counter()
        with self.model_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", QueryWarning)  # carried by prediction.warnings, refused below
            prediction = self.localizer.localize(video.features, query, video.duration, k)
        seconds = time.perf_counter() - started
        if prediction.warnings:
            raise DemoInputError(" ".join(prediction.warnings) + "; try words the model was trained on")
        return {
            "video": video.to_json(), "query": query, "seconds": seconds,
            "spans": [{"start": s, "end": e, "score": p} for s, e, p in prediction.spans],
            "clips": prediction.clips, "video_clips": prediction.video_clips, "duration": prediction.duration,
            "mode": prediction.mode, "windows": prediction.windows, "model": self.localizer.spec.title,
            "choice": dict(zip(("name", "value"), prediction.choice, strict=True)) if prediction.choice else None,
            "curves": {name: [round(float(v), CURVE_DIGITS) for v in values]
                       for name, values in prediction.curves.items()},
            "curve_labels": {curve.name: curve.label for curve in self.localizer.spec.curves},
        }

    def media(self, video_id: str) -> Path:
        """The uploaded video file of ``video_id`` (for the page's player)."""
        video = self._video(video_id)
        if video.media is None or not video.media.is_file():
            raise KeyError(f"video {video_id!r} has no playable file")
        return video.media

    def _video(self, video_id: Any) -> Video:
        if not isinstance(video_id, str) or not video_id:
            raise DemoInputError("pick a video first: a built-in one, or upload features or a video file")
        return self.store.get(video_id)

