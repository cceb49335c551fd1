"""Clip features: resampling to max_clips, .npy loading and the errors that name the video and file."""

import numpy as np
import pytest

from engine.data.feature_store import FolderStore
from engine.data.features import ArrayFeatures, StoredFeatures, resample_clips

DV = 5


def test_short_video_is_kept():
    features = np.random.default_rng(0).normal(size=(7, DV)).astype(np.float32)
    np.testing.assert_array_equal(resample_clips(features, 7), features)
    np.testing.assert_array_equal(resample_clips(features, 64), features)


def test_multiple_length_is_average_pooled():
    features = np.random.default_rng(1).normal(size=(12, DV))
    expected = features.reshape(4, 3, DV).mean(axis=1)
    np.testing.assert_allclose(resample_clips(features, 4), expected, rtol=1e-6)


def test_uneven_bins_cover_every_clip():
    features = np.arange(10, dtype=np.float64)[:, None] * np.ones(DV)
    # bounds round([0, 2.5, 5, 7.5, 10]) = [0, 2, 5, 8, 10] (round half to even): bins 0-1, 2-4, 5-7, 8-9
    expected = np.array([0.5, 3.0, 6.0, 8.5])[:, None] * np.ones(DV)
    out = resample_clips(features, 4)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected)


def npy_features(directory, video_ids, max_clips):
    return StoredFeatures(FolderStore(directory), video_ids, max_clips)


def test_npy_features_load_and_resample(tmp_path):
    np.save(tmp_path / "vidA.npy", np.ones((100, DV), dtype=np.float64))
    np.save(tmp_path / "vidB.npy", np.zeros((3, DV), dtype=np.float32))
    store = npy_features(tmp_path, ["vidA", "vidB"], max_clips=20)
    assert store.video_dim == DV
    assert store.load("vidA").shape == (20, DV) and store.load("vidA").dtype == np.float32
    assert store.load("vidB").shape == (3, DV)


def test_missing_file_names_video_and_path(tmp_path):
    np.save(tmp_path / "vidA.npy", np.ones((4, DV), dtype=np.float32))
    with pytest.raises(FileNotFoundError, match=r"video 'vidZ' not found: no .*vidZ\{\.npy,.*\} \(1 of 2 videos"):
        npy_features(tmp_path, ["vidA", "vidZ"], max_clips=8)
    with pytest.raises(FileNotFoundError, match="feature folder"):
        npy_features(tmp_path / "nope", ["vidA"], max_clips=8)


@pytest.mark.parametrize("bad", [np.ones((4, DV + 1)), np.ones((2, 4, DV)), np.ones((0, DV)), np.full((3, DV), np.nan)])
def test_wrong_shape_or_values_name_video_and_path(tmp_path, bad):
    np.save(tmp_path / "good.npy", np.ones((4, DV), dtype=np.float32))
    np.save(tmp_path / "zbad.npy", bad)
    store = npy_features(tmp_path, ["good", "zbad"], max_clips=8)
    with pytest.raises(ValueError, match=r"video 'zbad' \(.*zbad\.npy\)"):
        store.load("zbad")


def test_wrong_rank_of_first_file_and_unreadable_file(tmp_path):
    np.save(tmp_path / "flat.npy", np.ones(DV))  # (T, 1, 1, dv) is squeezed; a 1-d array is no clip sequence
    with pytest.raises(ValueError, match=r"video 'flat' \(.*flat\.npy\) have shape \(5,\)"):
        npy_features(tmp_path, ["flat"], max_clips=8)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"cannot read clip features of video 'junk' from .*junk\.npy"):
        npy_features(tmp_path, ["junk"], max_clips=8)


def test_array_features_check_dims():
    with pytest.raises(ValueError, match="video 'b'"):
        ArrayFeatures({"a": np.ones((3, DV)), "b": np.ones((3, DV + 2))}, max_clips=8)
