"""Where a dataset's clip features live, in the layouts the public releases ship: per-video files or one HDF5 file.

``data.features`` names one source, or several joined with ``,`` (each is read, all are cut to the shortest
clip count and concatenated along the feature axis, as Moment-DETR / QD-DETR / lighthouse / UniVTG join
their SlowFast and CLIP features).  A source is chosen by its path and contents (:func:`open_feature_store`):

* a **folder** of per-video files, looked up in this order: ``<id>.npy`` (VSLNet, pytorch-i3d / LGI),
  ``<id>.avi.npy`` (TALL's C3D features for TACoS as VSLNet converts them), ``<id>.npz`` (the DETR family:
  the array under ``data.feature_key``, default ``features``);
* an **HDF5 file** (``.h5`` / ``.hdf5`` / ``.hdf`` or the HDF5 signature): a dataset per video (2D-TAN / MMN:
  ``tall_c3d_features.hdf5`` keyed ``sXX-dYY.avi``, ``vgg_rgb_features.hdf5`` keyed by Charades id), or a
  group per video whose dataset ``data.feature_key`` names (SCDM / CMIN: ``i3d_rgb_features``; a group
  holding one dataset needs no key).

A video is found under its annotation id or, failing that, the id + ``.avi`` (TACoS ids lose the suffix in
the annotation parser).  HDF5 is read lazily through h5py: the file is opened once per process (after a
DataLoader fork, anew) and only the requested video's dataset is read, so a file of many GB is never
loaded whole.  Problems raise :class:`~engine.data.features.FeatureFileError` naming the file and the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.data.features import FeatureFileError, read_feature_file, squeeze_clip_axes

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FILE_SUFFIXES = (".npy", ".avi.npy", ".npz")  # per-video files of a folder, in lookup order
ID_SUFFIXES = ("", ".avi")  # HDF5 keys tried for a video id, in order
SOURCE_SEPARATOR = ","


class FeatureStore:
    """One source of per-video clip features (module docstring).

    ``locate(video_id)`` says where a video's features are (None: absent), ``expected(video_id)`` where they
    were looked for, ``read(video_id)`` returns the array with singleton axes squeezed (checked by the caller),
    ``num_clips(video_id)`` its clip count without reading the values.
    """

    source: str

    def locate(self, video_id: str) -> str | None:
        raise NotImplementedError

    def expected(self, video_id: str) -> str:
        raise NotImplementedError

    def read(self, video_id: str) -> np.ndarray:
        raise NotImplementedError

    def num_clips(self, video_id: str) -> int:
        raise NotImplementedError

    def metadata_folder(self) -> Path | None:
        """The folder whose ``extraction.json`` describes these features (None: several sources)."""
        return None


class FolderStore(FeatureStore):
    """A folder of ``<id>.npy`` / ``<id>.avi.npy`` / ``<id>.npz`` files."""

    def __init__(self, directory: str | Path, feature_key: str = ""):
        self.directory = Path(directory)
        self.source = str(self.directory)
        self.feature_key = feature_key
        if not self.directory.is_dir():
            raise FileNotFoundError(f"feature folder {self.directory} not found (data.features)")

    def _path(self, video_id: str) -> Path | None:
        for suffix in FILE_SUFFIXES:
            path = self.directory / f"{video_id}{suffix}"
            if path.is_file():
                return path
        return None

    def locate(self, video_id: str) -> str | None:
        path = self._path(video_id)
        return None if path is None else str(path)

    def expected(self, video_id: str) -> str:
        return str(self.directory / f"{video_id}{{{','.join(FILE_SUFFIXES)}}}")

    def read(self, video_id: str, mmap_mode: str | None = None) -> np.ndarray:
        path = self._path(video_id)
        if path is None:
            raise FileNotFoundError(f"clip features of video '{video_id}' not found: no {self.expected(video_id)}")
        return squeeze_clip_axes(read_feature_file(path, mmap_mode, self.feature_key))

    def num_clips(self, video_id: str) -> int:
        return int(self.read(video_id, mmap_mode="r").shape[0])

    def metadata_folder(self) -> Path | None:
        return self.directory


class Hdf5Store(FeatureStore):
    """One HDF5 file: a dataset per video, or a group per video holding the dataset ``feature_key``."""

    def __init__(self, path: str | Path, feature_key: str = ""):
        self.path = Path(path)
        self.source = str(self.path)
        self.feature_key = feature_key
        self._file = None
        self._pid = -1
        if not self.path.is_file():
            raise FileNotFoundError(f"feature file {self.path} not found (data.features)")
        self._handle()  # a file h5py cannot open fails here, before any training

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": -1}  # DataLoader workers open their own handle

    def _handle(self):
        """The open file of this process (h5py handles must not cross a fork)."""
        if self._file is None or self._pid != os.getpid():
            import h5py

            try:
                self._file = h5py.File(self.path, "r")
            except OSError as err:
                raise FeatureFileError(f"{self.path}: not a readable HDF5 file ({err})") from err
            self._pid = os.getpid()
        return self._file

    def _key(self, video_id: str) -> str | None:
        names = self._handle()
        return next((video_id + s for s in ID_SUFFIXES if video_id + s in names), None)

    def locate(self, video_id: str) -> str | None:
        key = self._key(video_id)
        return None if key is None else f"{self.path}[{key}]"

    def expected(self, video_id: str) -> str:
        return f"{self.path}[{' or '.join(video_id + s for s in ID_SUFFIXES)}]"

    def _dataset(self, video_id: str):
        import h5py

        key = self._key(video_id)
        if key is None:
            raise FileNotFoundError(f"clip features of video '{video_id}' not found: no {self.expected(video_id)}")
        node = self._handle()[key]
        if isinstance(node, h5py.Dataset):
            return node, f"{self.path}[{key}]"
        members = sorted(name for name, item in node.items() if isinstance(item, h5py.Dataset))
        name = self.feature_key or (members[0] if len(members) == 1 else "")
        if name not in members:
            wanted = f"no dataset '{name}'" if name else f"{len(members)} datasets and no data.feature_key to pick one"
            raise FeatureFileError(f"{self.path}[{key}]: a group with {wanted} (it holds {members}); "
                                   "set --set data.feature_key=NAME")
        return node[name], f"{self.path}[{key}/{name}]"

    def read(self, video_id: str) -> np.ndarray:
        dataset, where = self._dataset(video_id)
        try:
            array = dataset[()]
        except (OSError, TypeError, ValueError) as err:
            raise FeatureFileError(f"{where}: unreadable dataset ({err})") from err
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            raise FeatureFileError(f"{where}: not a numeric array (dtype {getattr(array, 'dtype', type(array))})")
        return squeeze_clip_axes(array)

    def num_clips(self, video_id: str) -> int:
        dataset, _ = self._dataset(video_id)
        shape = tuple(n for n in dataset.shape[:-1] if n != 1) or (1,)
        return int(shape[0])

    def metadata_folder(self) -> Path | None:
        return self.path.parent


class JoinedStore(FeatureStore):
    """Several sources per video: each cut to the shortest clip count, concatenated along the feature axis."""

    def __init__(self, stores: list[FeatureStore]):
        self.stores = stores
        self.source = SOURCE_SEPARATOR.join(store.source for store in stores)

    def locate(self, video_id: str) -> str | None:
        places = [store.locate(video_id) for store in self.stores]
        return None if None in places else " + ".join(places)

    def expected(self, video_id: str) -> str:
        missing = [store.expected(video_id) for store in self.stores if store.locate(video_id) is None]
        return " and ".join(missing) or " + ".join(store.expected(video_id) for store in self.stores)

    def read(self, video_id: str) -> np.ndarray:
        arrays = [store.read(video_id) for store in self.stores]
        for store, array in zip(self.stores, arrays, strict=True):
            if array.ndim != 2:
                raise FeatureFileError(f"{store.locate(video_id)}: shape {array.shape}; expected (T, dv) to join")
        length = min(array.shape[0] for array in arrays)
        return np.concatenate([array[:length] for array in arrays], axis=1)

    def num_clips(self, video_id: str) -> int:
        return min(store.num_clips(video_id) for store in self.stores)


def open_feature_store(features: str, feature_key: str = "") -> FeatureStore:
    """The store that ``data.features`` names (module docstring): a folder, an HDF5 file, or several joined."""
    if not features:
        raise ValueError("data.features must name a feature folder or file")
    parts = [features] if Path(features).exists() else [p.strip() for p in features.split(SOURCE_SEPARATOR)]
    stores = [_open_one(Path(part), feature_key) for part in parts if part]
    return stores[0] if len(stores) == 1 else JoinedStore(stores)


def _open_one(path: Path, feature_key: str) -> FeatureStore:
    if path.is_dir():
        return FolderStore(path, feature_key)
    if path.is_file():
        with open(path, "rb") as f:
            is_hdf5 = f.read(len(HDF5_MAGIC)) == HDF5_MAGIC
        if is_hdf5 or path.suffix.lower() in HDF5_SUFFIXES:
            return Hdf5Store(path, feature_key)
        raise FeatureFileError(f"{path}: data.features must be a folder of per-video files or an HDF5 file "
                               f"({', '.join(HDF5_SUFFIXES)}); this file is neither")
    raise FileNotFoundError(f"feature folder or file {path} not found (data.features)")
