"""Every public release's feature layout reads back the same arrays; bad files name the file and the key."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.data.annotations import load_charades, load_tacos
from engine.data.detr_annotations import load_detr
from engine.data.feature_store import FolderStore, Hdf5Store, open_feature_store
from engine.data.features import FeatureFileError, StoredFeatures, scan_features, squeeze_clip_axes
from tests.engine.data.release_layouts import H5_GROUP_KEY, LAYOUTS, SPLIT_AT, TACOS_FPS, reference, write_layout

h5py = pytest.importorskip("h5py", reason="HDF5 features need h5py: pip install 'h5py>=3'")

MAX_CLIPS = 1000  # larger than every test video: the arrays come back as written
LOADERS = {"charades": load_charades, "tacos": load_tacos, "detr": load_detr}
SECONDS_TOLERANCE = 1.0 / TACOS_FPS  # TACoS stores times as frame numbers
DV = 6


@pytest.fixture(scope="module")
def ref():
    return reference()


@pytest.fixture(scope="module")
def layouts(ref, tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {name: write_layout(name, root / name, ref) for name in LAYOUTS}


def setting(written, key: str, default: str) -> str:
    return next((item.split("=", 1)[1] for item in written.extra if item.startswith(f"data.{key}=")), default)


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_reads_the_same_arrays(name, ref, layouts):
    written = layouts[name]
    store = open_feature_store(written.features, setting(written, "feature_key", ""))
    features = StoredFeatures(store, ref.features, MAX_CLIPS)
    assert features.video_dim == next(iter(ref.features.values())).shape[1]
    for video_id, array in ref.features.items():
        np.testing.assert_array_equal(features.load(video_id), array)
        assert store.num_clips(video_id) == array.shape[0]


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_reads_the_same_spans(name, ref, layouts):
    written = layouts[name]
    moments, reports = LOADERS[written.dataset](written.annotations, float(setting(written, "val_fraction", "0.1")))
    read = sorted((m.video_id, m.sentence, m.start, m.end, m.duration) for ms in moments.values() for m in ms)
    expected = sorted((m.video_id, m.sentence, m.start, m.end, m.duration) for ms in ref.moments.values() for m in ms)
    assert len(read) == len(expected) and not any(sum(r.dropped.values()) for r in reports.values())
    for got, want in zip(read, expected, strict=True):
        assert got[:2] == want[:2]
        np.testing.assert_allclose(got[2:], want[2:], atol=SECONDS_TOLERANCE)


def test_singleton_axes_are_squeezed_but_a_one_clip_video_stays():
    assert squeeze_clip_axes(np.ones((7, 1, 1, DV))).shape == (7, DV)
    assert squeeze_clip_axes(np.ones((1, 7, DV))).shape == (7, DV)
    assert squeeze_clip_axes(np.ones((1, DV))).shape == (1, DV)
    assert squeeze_clip_axes(np.ones((2, 4, DV))).shape == (2, 4, DV)  # refused later as no (T, dv) array


def test_joined_sources_are_cut_to_the_shorter_and_concatenated(ref, layouts):
    slowfast, clip = layouts["moment-detr"].features.split(",")
    video_id, array = next(iter(ref.features.items()))
    longer = np.load(Path(clip) / f"{video_id}.npz")["features"]
    assert longer.shape[0] == array.shape[0] + 1  # the CLIP-like source has one clip more
    joined = open_feature_store(f"{slowfast},{clip}").read(video_id)
    np.testing.assert_array_equal(joined, np.concatenate([array[:, :SPLIT_AT], longer[:-1]], axis=1))


def test_hdf5_is_read_lazily_and_workers_open_their_own_handle(layouts, ref):
    store = open_feature_store(layouts["2dtan-tacos"].features)
    assert isinstance(store, Hdf5Store)
    video_id = next(iter(ref.features))
    assert store.locate(video_id).endswith(f"[{video_id}.avi]")  # TACoS ids are found under <id>.avi
    clone = pickle.loads(pickle.dumps(store))  # what a DataLoader worker gets
    assert clone._file is None
    np.testing.assert_array_equal(clone.read(video_id), ref.features[video_id])


def test_hdf5_group_without_the_key_names_file_and_key(tmp_path):
    path = tmp_path / "groups.hdf5"
    with h5py.File(path, "w") as f:
        f.create_group("good").create_dataset(H5_GROUP_KEY, data=np.ones((4, DV)))
        bad = f.create_group("bad")
        bad.create_dataset("c3d_features", data=np.ones((4, DV)))
        bad.create_dataset("flow", data=np.ones((4, DV)))
    store = Hdf5Store(path, H5_GROUP_KEY)
    with pytest.raises(FeatureFileError, match=rf"{path}\[bad\]: a group with no dataset '{H5_GROUP_KEY}' "
                                               r"\(it holds \['c3d_features', 'flow'\]\)"):
        store.read("bad")
    with pytest.raises(FeatureFileError, match=r"2 datasets and no data.feature_key"):
        Hdf5Store(path).read("bad")
    scan = scan_features(store, ["good", "bad", "gone"])  # nothing already read is lost
    assert scan.clips == {"good": 4} and set(scan.unreadable) == {"bad"} and set(scan.missing) == {"gone"}
    assert scan.missing["gone"] == f"{path}[gone or gone.avi]"


def test_npz_without_features_names_file_and_key(tmp_path):
    np.savez(tmp_path / "good.npz", features=np.ones((3, DV)))
    np.savez(tmp_path / "bad.npz", feats=np.ones((3, DV)))
    store = FolderStore(tmp_path)
    with pytest.raises(FeatureFileError, match=rf"{tmp_path / 'bad.npz'}: no array 'features' in the .npz "
                                               r"\(it holds \['feats'\]\)"):
        store.read("bad")
    np.testing.assert_array_equal(FolderStore(tmp_path, "feats").read("bad"), np.ones((3, DV)))
    scan = scan_features(store, ["good", "bad"])
    assert scan.clips == {"good": 3} and "no array 'features'" in scan.unreadable["bad"]


def test_a_video_missing_from_the_features_is_named(tmp_path):
    np.save(tmp_path / "here.npy", np.ones((3, DV)))
    with pytest.raises(FileNotFoundError, match=r"video 'gone' not found: no .*gone\{\.npy,\.avi\.npy,\.npz\} "
                                                r"\(1 of 2 videos are missing"):
        StoredFeatures(FolderStore(tmp_path), ["here", "gone"], MAX_CLIPS)


def test_a_file_that_is_neither_folder_nor_hdf5_is_refused(tmp_path):
    (tmp_path / "features.txt").write_text("1 2 3\n")
    with pytest.raises(FeatureFileError, match="neither"):
        open_feature_store(str(tmp_path / "features.txt"))
    with pytest.raises(FileNotFoundError, match="not found"):
        open_feature_store(str(tmp_path / "nowhere"))


def test_clip_stride_keeps_every_kth_clip_after_pooling(tmp_path):
    array = np.arange(30, dtype=np.float32)[:, None] * np.ones(DV, dtype=np.float32)
    np.save(tmp_path / "v.npy", array)
    pooled = StoredFeatures(FolderStore(tmp_path), ["v"], max_clips=15, clip_stride=3).load("v")
    np.testing.assert_allclose(pooled, array.reshape(15, 2, DV).mean(axis=1)[::3])
