"""Extraction: video files -> ``(T, D)`` float32 clip features, one video or a whole folder (resumable).

Windows are cut from the decoded frames as they stream (:func:`iter_windows`: a few windows of frames are held,
never the whole video) by decoding threads (one per video being decoded: several on CUDA, to feed the GPU), while
the network runs batches of windows -- from several videos at a time -- on the device.
On CUDA the network runs channels-last in bf16 (``precision="auto"``) and, for a folder, compiled with
``torch.compile`` at a fixed batch shape (the last batch is padded); on the CPU it runs fp32 eager, the way the
public features were made.

A folder run (:func:`extract_folder`) writes ``<out>/<video_id>.npy`` (atomically: a file is whole or absent)
and ``<out>/extraction.json``::

    {"format": "grounding-engine/features/1", "recipe": str, "weights_sha256": str, "clip_seconds": float,
     "feature_dim": int, "precision": str,
     "videos": {video_id: {"frames": int, "clips": int, "duration": float, "fps": float}}}

``frames``: frames at the recipe's rate; ``duration`` and ``fps``: the file's own.  A killed run continues where
it stopped: a video counts as done when both its ``.npy`` and its entry exist.  A folder holding features of
another recipe or other weights is refused.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from engine.atomic import atomic_output
from engine.device import resolve_device
from video.backbones import FeatureNet, build_backbone, file_sha256, read_state_dict
from video.decode import DecodedVideo, VideoError, read_frames
from video.recipes import Recipe, get_recipe

FORMAT = "grounding-engine/features/1"
METADATA_FILE = "extraction.json"
Precision = Literal["auto", "fp32", "bf16"]
CPU_BATCH, CUDA_BATCH = 2, 32  # windows per forward pass
CUDA_DECODERS = 4  # videos decoded at once on CUDA (each also uses FFmpeg's own threads); 1 on the CPU
QUEUE_WINDOWS = 64  # windows the decoding threads may run ahead
METADATA_EVERY_S = 5.0  # a folder run rewrites extraction.json at most this often (and at the end)


@dataclass
class VideoFeatures:
    """One video's features: ``features`` (T, D) float32, ``clip_seconds`` per row, the file's ``duration``
    (seconds), ``frames`` decoded at the recipe's rate, the ``recipe`` name and the file's own ``fps``."""

    features: np.ndarray
    clip_seconds: float
    duration: float
    frames: int
    recipe: str
    fps: float = 0.0

    @property
    def clips(self) -> int:
        return int(self.features.shape[0])

    def metadata(self) -> dict[str, Any]:
        """The video's entry in ``extraction.json``."""
        return {"frames": self.frames, "clips": self.clips, "duration": round(self.duration, 6),
                "fps": round(self.fps, 6)}


def iter_windows(frames: Iterator[np.ndarray], recipe: Recipe, info: DecodedVideo) -> Iterator[np.ndarray]:
    """The recipe's windows (window, crop, crop, 3) uint8 of a stream of frames, in order, holding at most
    ``window + stride + 1`` frames; a VideoError when the video is shorter than one window.  A window that
    repeats the one before it (VSLNet's tail) is yielded as the same array object, so it is computed once."""
    held: list[np.ndarray] = []
    first = emitted = seen = 0  # index of held[0], windows emitted, frames seen
    extra = 1 if recipe.tail == "vslnet" else 0  # a full VSLNet window also needs the frame after it
    for frame in frames:
        held.append(frame)
        seen += 1
        while seen >= emitted * recipe.stride + recipe.window + extra:
            start = emitted * recipe.stride - first
            yield np.stack(held[start:start + recipe.window])
            emitted += 1
        keep = max(0, min(emitted * recipe.stride, seen - recipe.window - 1))
        if keep > first:
            del held[:keep - first]
            first = keep
    if seen < recipe.min_frames:
        raise VideoError(f"{info.path}: {info.duration:.3g} s = {seen} frames at {recipe.fps:g} fps, shorter than one "
                         f"clip of recipe {recipe.name} ({recipe.min_frames} frames)")
    bounds = recipe.window_bounds(seen)
    previous = None
    for k in range(emitted, len(bounds)):
        if previous is None or bounds[k] != bounds[k - 1]:
            start, end = bounds[k]
            previous = np.stack(held[start - first:end - first])
        yield previous


def resolve_precision(precision: Precision, device: torch.device) -> torch.dtype:
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32


@dataclass
class _Pending:
    """A video being extracted: its rows so far, windows queued and whether decoding finished."""

    path: Path
    info: DecodedVideo
    rows: list[np.ndarray] = field(default_factory=list)
    queued: int = 0
    decoded: bool = False
    error: Exception | None = None


class Extractor:
    """A recipe's network on a device, turning video files into :class:`VideoFeatures`.

    ``weights``: the file the recipe names (read with ``weights_only=True``); ``device`` None = CUDA when
    available; ``precision`` auto = bf16 on CUDA, fp32 on the CPU; ``batch_size`` windows per forward pass
    (default 32 on CUDA, 2 on the CPU); ``compile`` torch.compile the network (default: never on its own --
    :func:`extract_folder` turns it on for CUDA, where a long run repays the compile time); ``decoders`` videos
    decoded at once (default 4 on CUDA, 1 on the CPU, where the network needs the cores).
    """

    def __init__(self, recipe: str | Recipe, weights: str | Path, device: str | torch.device | None = None,
                 precision: Precision = "auto", batch_size: int | None = None, compile: bool = False,
                 decoders: int | None = None) -> None:
        self.recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.precision = "bf16" if self.dtype == torch.bfloat16 else "fp32"
        self.weights = Path(weights)
        state = read_state_dict(self.weights, self.recipe)
        self.weights_sha256 = file_sha256(self.weights)
        backbone = build_backbone(self.recipe, state, str(self.weights)).to(self.device, self.dtype)
        if self.device.type == "cuda":
            backbone = backbone.to(memory_format=torch.channels_last_3d)  # the windows arrive channels-last
        self.net = FeatureNet(self.recipe, backbone, self.dtype).eval()
        self.batch_size = batch_size or (CUDA_BATCH if self.device.type == "cuda" else CPU_BATCH)
        self.compiled = compile
        self.decoders = decoders or (CUDA_DECODERS if self.device.type == "cuda" else 1)
        if self.batch_size < 1 or self.decoders < 1:
            raise ValueError(f"batch_size and decoders must be >= 1, got {batch_size} and {decoders}")
        self.forward = torch.compile(self.net, dynamic=False) if compile else self.net

    def extract(self, path: str | Path) -> VideoFeatures:
        """One video's features; raises FileNotFoundError / :class:`~video.decode.VideoError` naming the file."""
        ((_, result),) = list(self.run([Path(path)]))
        if isinstance(result, Exception):
            raise result
        return result

    def run(self, paths: Sequence[Path], progress: Any = None) -> Iterator[tuple[Path, VideoFeatures | Exception]]:
        """``(path, features or the error that stopped it)`` per video, in ``paths``' order; windows of the videos
        being decoded share batches.  ``progress``: a tqdm bar advanced per video."""
        items: queue.Queue = queue.Queue(maxsize=QUEUE_WINDOWS)
        stop = threading.Event()
        unclaimed, lock = iter(range(len(paths))), threading.Lock()

        def claim() -> int | None:
            """The next video no decoding thread has taken, None when all are taken."""
            with lock:
                return next(unclaimed, None)

        threads = [threading.Thread(target=self._decode, args=(paths, claim, items, stop), daemon=True)
                   for _ in range(min(self.decoders, len(paths)) or 1)]
        for thread in threads:
            thread.start()
        pending: dict[int, _Pending] = {}
        batch: list[tuple[int, np.ndarray]] = []
        done_upto = ended = 0
        try:
            while True:
                kind, index, payload = items.get()
                if kind == "fatal":
                    raise payload
                ended += kind == "end"
                if kind == "end" and ended < len(threads):
                    continue
                if kind == "start":
                    pending[index] = _Pending(paths[index], payload)
                elif kind == "window":
                    pending[index].queued += 1
                    batch.append((index, payload))
                    if len(batch) == self.batch_size:
                        self._run_batch(batch, pending)
                        batch = []
                elif kind in ("done", "error"):
                    pending[index].decoded = True
                    pending[index].error = payload
                if kind == "end":
                    if batch:
                        self._run_batch(batch, pending)
                        batch = []
                while done_upto in pending and pending[done_upto].decoded and pending[done_upto].queued == 0:
                    yield self._finish(pending.pop(done_upto), progress)
                    done_upto += 1
                if kind == "end" and not pending:
                    return
                if kind == "end":  # only the batch above could still hold windows
                    raise RuntimeError("extraction ended with videos unfinished")
        finally:
            stop.set()
            for thread in threads:
                while thread.is_alive():  # unblock a producer waiting on a full queue
                    try:
                        items.get_nowait()
                    except queue.Empty:
                        thread.join(timeout=0.1)

    def _decode(self, paths: Sequence[Path], claim: Any, items: queue.Queue, stop: threading.Event) -> None:
        """A decoding thread: for each video it claims, ("start" | "window" | "done" | "error", index, payload);
        "end" when none is left."""
        try:
            for index in iter(claim, None):
                if stop.is_set():
                    return
                path = paths[index]
                info = DecodedVideo(path, 0.0)
                items.put(("start", index, info))
                try:
                    last = None
                    for window in iter_windows(read_frames(path, self.recipe, info), self.recipe, info):
                        if stop.is_set():
                            return
                        items.put(("window", index, None if window is last else window))
                        last = window
                except (VideoError, FileNotFoundError) as err:
                    items.put(("error", index, err))
                    continue
                items.put(("done", index, None))
            items.put(("end", -1, None))
        except BaseException as err:  # noqa: BLE001 -- handed to the consuming thread, which raises it
            items.put(("fatal", -1, err))

    @torch.inference_mode()
    def _run_batch(self, batch: list[tuple[int, np.ndarray | None]], pending: dict[int, _Pending]) -> None:
        """Run the batch's windows and append each window's rows to its video, in order (a None window repeats
        the rows of the window before it)."""
        fresh = [w for _, w in batch if w is not None]
        computed = iter(self._forward(fresh) if fresh else [])
        for index, window in batch:
            video = pending[index]
            video.rows.append(video.rows[-1] if window is None else next(computed))
            video.queued -= 1

    def _forward(self, fresh: list[np.ndarray]) -> np.ndarray:
        windows = torch.from_numpy(np.stack(fresh))
        real = len(fresh)
        if self.compiled and real < self.batch_size:  # one shape for the compiled graph
            windows = torch.cat([windows, windows[-1:].expand(self.batch_size - real, *windows.shape[1:])])
        windows = windows.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            rows = self.forward(windows)[:real].cpu().numpy()
        expected = self.recipe.rows_per_window
        if rows.shape[1:] != (expected, self.recipe.feature_dim):
            raise RuntimeError(f"the {self.recipe.backbone} network gave {rows.shape[1:]} per window, recipe "
                               f"{self.recipe.name} expects ({expected}, {self.recipe.feature_dim})")
        return rows

    def _finish(self, video: _Pending, progress: Any) -> tuple[Path, VideoFeatures | Exception]:
        if progress is not None:
            progress.update(1)
        if video.error is not None:
            return video.path, video.error
        info = video.info
        features = np.concatenate(video.rows).astype(np.float32, copy=False)
        return video.path, VideoFeatures(features, self.recipe.clip_seconds, info.duration, info.frames,
                                         self.recipe.name, info.native_fps)


_CACHE: dict[tuple, Extractor] = {}
_CACHE_LOCK = threading.Lock()  # a server may extract from several threads


def extract_video(path: str | Path, recipe: str, weights: str | Path,
                  device: str | torch.device | None = None) -> VideoFeatures:
    """The features of one video by ``recipe`` (a name of :data:`video.RECIPES`) with the given weights file.

    The loaded network is kept for later calls with the same recipe, weights file (path, size, mtime) and
    device.  Raises FileNotFoundError, :class:`~video.decode.VideoError`, :class:`~video.backbones.WeightsError`
    or :class:`~video.decode.VideoUnavailable` (PyAV missing), each one line naming the file."""
    weights = Path(weights)
    stat = weights.stat() if weights.is_file() else None
    key = (recipe, str(weights.resolve()), stat and (stat.st_size, stat.st_mtime_ns), str(resolve_device(device)))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE.clear()  # one network at a time: they are large
            _CACHE[key] = Extractor(recipe, weights, device)
        extractor = _CACHE[key]
    return extractor.extract(path)


# ---------------------------------------------------------------------------------------------- folders
def list_videos(source: Path) -> list[Path]:
    """The video files of a folder (every visible file, sorted; FFmpeg decides what decodes), or ``source``
    itself when it is a file; a ValueError for two files with the same video id (file stem)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such video file or folder")
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise ValueError(f"{seen[path.stem]} and {path} have the same video id {path.stem!r}; rename one")
        seen[path.stem] = path
    if not files:
        raise ValueError(f"{source}: holds no files to extract")
    return files


def read_metadata(out_dir: Path, extractor: Extractor) -> dict[str, Any]:
    """The folder's extraction.json (a fresh one when absent), refused when it describes another recipe,
    other weights or another precision."""
    fresh = {"format": FORMAT, "recipe": extractor.recipe.name, "weights_sha256": extractor.weights_sha256,
             "clip_seconds": extractor.recipe.clip_seconds, "feature_dim": extractor.recipe.feature_dim,
             "precision": extractor.precision, "videos": {}}
    path = out_dir / METADATA_FILE
    if not path.is_file():
        return fresh
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable ({err}); remove it to start this folder afresh") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("videos"), dict):
        raise ValueError(f"{path}: not a {FORMAT} file; use another output folder")
    for key in ("recipe", "weights_sha256", "precision"):
        if meta.get(key, fresh[key]) != fresh[key]:
            raise ValueError(f"{out_dir} holds features made with {key} {meta.get(key)!r}, this run uses "
                             f"{fresh[key]!r}; use another output folder")
    return meta


def write_metadata(out_dir: Path, meta: dict[str, Any]) -> None:
    with atomic_output(out_dir / METADATA_FILE) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def write_features(path: Path, features: np.ndarray) -> None:
    """``np.save`` atomically (through a file handle: np.save would append .npy to the temporary name)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.save(f, features)


@dataclass
class FolderReport:
    """What a folder run did: videos extracted, skipped (done before), failed (path, one-line reason), seconds of
    video extracted and the wall time."""

    extracted: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    video_seconds: float = 0.0
    wall_seconds: float = 0.0


def extract_folder(source: str | Path, out_dir: str | Path, extractor: Extractor,
                   progress: bool = True) -> FolderReport:
    """Extract every video of ``source`` (a folder or one file) into ``out_dir`` (module docstring); videos
    already done are skipped, a video that fails is reported and retried by the next run."""
    from tqdm import tqdm

    source, out_dir = Path(source), Path(out_dir)
    videos = list_videos(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = read_metadata(out_dir, extractor)
    todo = [p for p in videos if not ((out_dir / f"{p.stem}.npy").is_file() and p.stem in meta["videos"])]
    report = FolderReport(skipped=len(videos) - len(todo))
    started = last_write = time.perf_counter()
    bar = tqdm(total=len(todo), unit="video", disable=not progress, dynamic_ncols=True)
    try:
        for path, result in extractor.run(todo, bar):
            if isinstance(result, Exception):
                report.failed.append((str(path), str(result).splitlines()[0]))
                continue
            write_features(out_dir / f"{path.stem}.npy", result.features)
            meta["videos"][path.stem] = result.metadata()
            report.extracted += 1
            report.video_seconds += result.duration
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(f"{report.video_seconds / max(elapsed, 1e-9):.2f} s of video/s")
            if time.perf_counter() - last_write >= METADATA_EVERY_S:
                write_metadata(out_dir, meta)
                last_write = time.perf_counter()
    finally:
        bar.close()
        write_metadata(out_dir, meta)
    report.wall_seconds = time.perf_counter() - started
    return report
