"""Clip features per video, read from a :mod:`~engine.data.feature_store` (or in-memory arrays) and resampled.

A feature array is (T, dv) float with any dv (I3D 1024, C3D 4096, synthetic 64), the same for every video
of a dataset; singleton axes are squeezed first (pytorch-i3d writes (T, 1, 1, 1024)). Videos longer than
``max_clips`` are average-pooled to ``max_clips`` clips (:func:`resample_clips`); shorter ones are kept as
they are.  ``data.clip_stride`` k > 1 then keeps every k-th clip (EAMAT's TACoS code: pool to 1500 clips,
keep every 3rd).

Every reader of feature files -- the datasets, ``python -m train predict`` and ``check-data`` -- goes
through :func:`read_feature_file` and :func:`check_clip_features`, so a bad file gets the same one-line
message everywhere: not a ``.npy`` file, a pickled object array, the wrong shape or width, NaN / Inf
(with the first bad row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the stores read files through this module
    from engine.data.feature_store import FeatureStore

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"  # an .npz archive
NPZ_KEY = "features"  # the array of a DETR-family .npz (Moment-DETR, QD-DETR, lighthouse, UniVTG)


class FeatureFileError(ValueError):
    """A clip-feature file or array that cannot be used; the message names it and the problem, on one line."""


def read_feature_file(path: str | Path, mmap_mode: str | None = None, key: str = "") -> np.ndarray:
    """The array of a ``.npy`` file, or of an ``.npz`` file's member ``key`` (default ``features``), never
    unpickling anything.

    Raises FileNotFoundError for a missing file and :class:`FeatureFileError` for a file that is not a
    ``.npy`` array (e.g. a pickle, an ``.npz`` archive named ``.npy``, text), holds Python objects, is
    truncated, or (``.npz``) has no member ``key``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such feature file")
    if path.suffix == ".npz":
        return _read_npz(path, key or NPZ_KEY)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
            if magic != NPY_MAGIC:
                kind = "it is an .npz archive; save one array with np.save" if magic.startswith(ZIP_MAGIC) else (
                    "no NumPy header: a pickle or another format?")
                raise FeatureFileError(f"{path}: not a .npy array file ({kind})")
            f.seek(0)
            version = np.lib.format.read_magic(f)
            header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            dtype = header[version](f)[2] if version in header else None
        if dtype is not None and dtype.hasobject:
            raise FeatureFileError(
                f"{path}: holds an array of Python objects (dtype {dtype}, pickled), not numbers; "
                "save a numeric array: np.save(path, features.astype(np.float32))")
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except FeatureFileError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise FeatureFileError(f"{path}: unreadable .npy file ({_first_line(err)})") from err


def _read_npz(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if key not in archive.files:
                raise FeatureFileError(f"{path}: no array '{key}' in the .npz (it holds {archive.files}); "
                                       "set --set data.feature_key=NAME")
            return archive[key]
    except FeatureFileError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise FeatureFileError(f"{path}: unreadable .npz file, array '{key}' ({_first_line(err)})") from err


def squeeze_clip_axes(array: np.ndarray) -> np.ndarray:
    """``array`` without its singleton axes between the first and the last ((T, 1, 1, dv) -> (T, dv)), and
    without a leading singleton axis when more than two axes remain ((1, T, dv) -> (T, dv)); a (1, dv)
    one-clip array and every 2-d array stay as they are."""
    if array.ndim <= 2:
        return array
    inner = [axis for axis in range(1, array.ndim - 1) if array.shape[axis] == 1]
    array = array.squeeze(axis=tuple(inner)) if inner else array
    if array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    return array


def check_clip_features(array: np.ndarray, where: str, video_dim: int | None = None) -> np.ndarray:
    """``array`` as float32 after squeezing its singleton axes (:func:`squeeze_clip_axes`) and checking it is a
    finite, real-valued (T >= 1, video_dim) array.

    ``where`` names the array in the messages (e.g. ``clip features /data/v.npy``); ``video_dim`` None
    accepts any width.  Raises :class:`FeatureFileError`.
    """
    array = squeeze_clip_axes(np.asarray(array))
    if array.dtype.hasobject or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise FeatureFileError(f"{where}: {array.dtype} array; clip features must be real numbers (float32)")
    dv = "dv" if video_dim is None else video_dim
    if array.ndim != 2 or array.shape[0] < 1 or (video_dim is not None and array.shape[1] != video_dim):
        raise FeatureFileError(f"{where}: shape {array.shape}; expected (T >= 1, {dv}) clip features")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        row = int(bad[0])
        what = "NaN" if np.isnan(array[row]).any() else "Inf"
        raise FeatureFileError(f"{where}: row {row} (clip {row}) holds {what}; "
                               f"{len(bad)} of {array.shape[0]} rows are not finite")
    return array.astype(np.float32, copy=False)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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

    def __init__(self, max_clips: int, clip_stride: int = 1):
        if max_clips < 1:
            raise ValueError(f"data.max_clips must be >= 1, got {max_clips}")
        if clip_stride < 1:
            raise ValueError(f"data.clip_stride must be >= 1, got {clip_stride}")
        self.max_clips, self.clip_stride = max_clips, clip_stride

    def load(self, video_id: str) -> np.ndarray:
        raise NotImplementedError

    def _checked(self, video_id: str, array: np.ndarray, where: str) -> np.ndarray:
        """``array`` resampled (then strided), after checking it is a finite (T >= 1, video_dim) array."""
        array = resample_clips(check_clip_features(array, f"clip features of video '{video_id}' ({where})",
                                                   self.video_dim), self.max_clips)
        return array[::self.clip_stride]


class StoredFeatures(ClipFeatures):
    """The listed videos' features in a :class:`~engine.data.feature_store.FeatureStore`, read on demand; every
    listed video must be in the store (checked up front)."""

    def __init__(self, store: FeatureStore, video_ids: Iterable[str], max_clips: int, clip_stride: int = 1):
        super().__init__(max_clips, clip_stride)
        self.store = store
        video_ids = sorted(set(video_ids))
        if not video_ids:
            raise ValueError(f"no videos to read from {store.source}")
        missing = [v for v in video_ids if store.locate(v) is None]
        if missing:
            raise FileNotFoundError(
                f"clip features of video '{missing[0]}' not found: no {store.expected(missing[0])} "
                f"({len(missing)} of {len(video_ids)} videos are missing from {store.source})")
        first = self._read(video_ids[0])
        if first.ndim != 2:
            raise FeatureFileError(f"clip features of video '{video_ids[0]}' ({store.locate(video_ids[0])}) have "
                                   f"shape {first.shape}; expected (T, dv)")
        self.video_dim = first.shape[1]

    def load(self, video_id: str) -> np.ndarray:
        return self._checked(video_id, self._read(video_id), str(self.store.locate(video_id)))

    def _read(self, video_id: str) -> np.ndarray:
        try:
            return self.store.read(video_id)
        except FeatureFileError as err:  # the message starts with the file (and key)
            raise FeatureFileError(f"cannot read clip features of video '{video_id}' from {err}") from err


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


@dataclass
class FeatureScan:
    """What :func:`scan_features` found: one entry per video, every file read once."""

    clips: dict[str, int] = field(default_factory=dict)  # readable, valid videos -> clip count T
    widths: dict[str, int] = field(default_factory=dict)  # readable, valid videos -> width dv
    places: dict[str, str] = field(default_factory=dict)  # readable, valid videos -> file (and key)
    missing: dict[str, str] = field(default_factory=dict)  # video -> where its features were looked for
    unreadable: dict[str, str] = field(default_factory=dict)  # video -> one-line problem (format, shape, NaN / Inf)

    @property
    def width(self) -> int | None:
        """The most common width (the dataset's dv), None when no file was readable."""
        if not self.widths:
            return None
        values, counts = np.unique(list(self.widths.values()), return_counts=True)
        return int(values[np.argmax(counts)])

    @property
    def other_widths(self) -> dict[str, int]:
        """Videos whose width differs from :attr:`width`."""
        return {v: w for v, w in self.widths.items() if w != self.width}

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unreadable or self.other_widths)


def scan_features(store: FeatureStore, video_ids: Iterable[str], progress: bool = False) -> FeatureScan:
    """Read every listed video's features from ``store`` once and record its clip count and width, or its
    problem; a problem with one video never stops the scan."""
    scan = FeatureScan()
    ids = sorted(set(video_ids))
    if progress:
        from tqdm import tqdm

        ids = tqdm(ids, desc="feature files", unit="video", leave=False, dynamic_ncols=True)
    for video_id in ids:
        place = store.locate(video_id)
        if place is None:
            scan.missing[video_id] = store.expected(video_id)
            continue
        try:
            array = check_clip_features(store.read(video_id), place)
        except (FeatureFileError, OSError) as err:
            scan.unreadable[video_id] = str(err)
            continue
        scan.clips[video_id], scan.widths[video_id] = array.shape
        scan.places[video_id] = place
    return scan
