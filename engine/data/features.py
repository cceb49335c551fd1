"""Clip features per video: ``<features>/<video_id>.npy`` files (or in-memory arrays), resampled to ``max_clips``.

A feature array is (T, dv) float with any dv (I3D 1024, C3D 4096, synthetic 64), the same for every video
of a dataset. Videos longer than ``max_clips`` are average-pooled to ``max_clips`` clips
(:func:`resample_clips`); shorter ones are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np


def resample_clips(features: np.ndarray, max_clips: int) -> np.ndarray:
    """(T, dv) -> (min(T, max_clips), dv) float32; a longer video is average-pooled into ``max_clips`` bins.

    Bin i averages clips ``[round(i*T/M), round((i+1)*T/M))``: every clip lies in exactly one bin and,
    as T > M, every bin holds at least one clip. (VSLNet's ``visual_feature_sampling`` uses the same
    bounds but clamps them to T-1, which leaves the last clip out of every bin; we keep it.)
    """
    if max_clips < 1:
        raise ValueError(f"max_clips must be >= 1, got {max_clips}")
    num_clips = features.shape[0]
    if num_clips <= max_clips:
        return features.astype(np.float32, copy=False)
    bounds = np.round(np.arange(max_clips + 1) * num_clips / max_clips).astype(np.int64)
    sums = np.add.reduceat(features, bounds[:-1], axis=0, dtype=np.float64)
    return (sums / np.diff(bounds)[:, None]).astype(np.float32)


class ClipFeatures:
    """Base of the feature sources: ``video_dim`` and ``load(video_id) -> (L <= max_clips, dv) float32``."""

    video_dim: int

    def __init__(self, max_clips: int):
        if max_clips < 1:
            raise ValueError(f"data.max_clips must be >= 1, got {max_clips}")
        self.max_clips = max_clips

    def load(self, video_id: str) -> np.ndarray:
        raise NotImplementedError

    def _checked(self, video_id: str, array: np.ndarray, where: str) -> np.ndarray:
        """``array`` resampled, after checking it is a finite (T >= 1, video_dim) array."""
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != self.video_dim:
            raise ValueError(
                f"clip features of video '{video_id}' ({where}) have shape {array.shape}; "
                f"expected (T >= 1, {self.video_dim}) like the other videos of the dataset"
            )
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise ValueError(f"clip features of video '{video_id}' ({where}) must be finite floats ({array.dtype})")
        return resample_clips(array, self.max_clips)


class NpyFeatures(ClipFeatures):
    """``<directory>/<video_id>.npy`` files, loaded on demand; every listed video's file must exist."""

    def __init__(self, directory: str | Path, video_ids: Iterable[str], max_clips: int):
        super().__init__(max_clips)
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"feature folder {self.directory} not found (data.features)")
        video_ids = sorted(set(video_ids))
        missing = [v for v in video_ids if not self.path(v).is_file()]
        if missing:
            raise FileNotFoundError(
                f"clip features of video '{missing[0]}' not found: {self.path(missing[0])} "
                f"({len(missing)} of {len(video_ids)} videos have no <video_id>.npy in {self.directory})"
            )
        if not video_ids:
            raise ValueError("NpyFeatures: no videos")
        first = self._read(video_ids[0], mmap_mode="r")
        if first.ndim != 2:
            raise ValueError(
                f"clip features of video '{video_ids[0]}' ({self.path(video_ids[0])}) have shape {first.shape}; "
                "expected (T, dv)"
            )
        self.video_dim = first.shape[1]

    def path(self, video_id: str) -> Path:
        return self.directory / f"{video_id}.npy"

    def load(self, video_id: str) -> np.ndarray:
        return self._checked(video_id, self._read(video_id), str(self.path(video_id)))

    def _read(self, video_id: str, mmap_mode: str | None = None) -> np.ndarray:
        path = self.path(video_id)
        try:
            return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read clip features of video '{video_id}' from {path}: {err}") from err


class ArrayFeatures(ClipFeatures):
    """In-memory ``{video_id: (T, dv) array}`` (synthetic data), checked and resampled once up front."""

    def __init__(self, arrays: Mapping[str, np.ndarray], max_clips: int):
        super().__init__(max_clips)
        if not arrays:
            raise ValueError("ArrayFeatures: no videos")
        first = np.asarray(next(iter(arrays.values())))
        self.video_dim = first.shape[-1]
        self.arrays = {v: self._checked(v, np.asarray(a), "in memory") for v, a in arrays.items()}

    def load(self, video_id: str) -> np.ndarray:
        try:
            return self.arrays[video_id]
        except KeyError:
            raise KeyError(f"no clip features for video '{video_id}' in memory") from None
