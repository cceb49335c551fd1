"""video.extract and ``python -m train extract``: a video made here -> features of the recipe's shape and rate
(checked by arithmetic), the same numbers through the API and the command, resumable folder runs, one clear
error per bad input."""

import json
import math

import numpy as np
import pytest
import torch

from tests.video.media import FPS, write_video
from train.cli import main
from video import VideoError, extract_video
from video import extract as extract_module
from video.decode import DecodedVideo, read_frames
from video.extract import FORMAT, METADATA_FILE, Extractor, extract_folder, iter_windows, write_features
from video.recipes import get_recipe

# 31 frames at 30 fps -> 25 frames at 24 fps: the fewest for one charades-i3d window (VSLNet's loop then repeats it)
I3D_NATIVE_FRAMES = 31
C3D_NATIVE_FRAMES = 66  # -> 65 frames at 29.4 fps: one 64-frame tacos-c3d window
SHORT_NATIVE_FRAMES = 20  # -> 16 frames at 24 fps: shorter than one charades-i3d clip
USAGE_ERROR = 2


def at_rate(native_frames: int, fps: float) -> int:
    return math.floor(native_frames / FPS * fps + 0.5)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {"i3d": write_video(folder / "kitchen.mp4", I3D_NATIVE_FRAMES),
            "c3d": write_video(folder / "cooking.mkv", C3D_NATIVE_FRAMES),
            "short": write_video(folder / "blink.mp4", SHORT_NATIVE_FRAMES)}


@pytest.mark.parametrize("name", ["charades-i3d", "tacos-c3d"])
def test_streamed_windows_are_the_recipe_windows(name) -> None:
    recipe = get_recipe(name)
    for t in range(recipe.min_frames, recipe.min_frames + 3 * recipe.window):
        numbered = (np.array([i]) for i in range(t))  # frame i holds i
        windows = [w[:, 0] for w in iter_windows(numbered, recipe, DecodedVideo("v", 0.0))]
        assert all(np.array_equal(w, np.arange(w[0], w[0] + recipe.window)) for w in windows)
        assert [(int(w[0]), int(w[0]) + recipe.window) for w in windows] == recipe.window_bounds(t)
    with pytest.raises(VideoError, match="shorter than one clip"):
        list(iter_windows((np.array([i]) for i in range(recipe.min_frames - 1)), recipe, DecodedVideo("v", 0.0)))


@pytest.fixture(scope="module")
def i3d_result(videos, i3d_weights):
    return extract_video(videos["i3d"], "charades-i3d", i3d_weights, device="cpu")


def test_charades_i3d_features_have_the_recipe_shape_and_rate(i3d_result) -> None:
    recipe, result = get_recipe("charades-i3d"), i3d_result
    frames = at_rate(I3D_NATIVE_FRAMES, recipe.fps)
    assert result.frames == frames == 25
    assert result.features.shape == (recipe.rows_per_window * math.ceil(frames / recipe.window), 1024) == (4, 1024)
    assert result.features.dtype == np.float32 and np.isfinite(result.features).all()
    assert result.clip_seconds == recipe.stride / recipe.fps / recipe.rows_per_window == 0.5
    assert result.duration == pytest.approx(I3D_NATIVE_FRAMES / FPS) and result.fps == FPS
    assert np.array_equal(result.features[2:], result.features[:2])  # VSLNet's loop repeats the (0, 24) window
    assert np.abs(result.features[0] - result.features[1]).max() > 0  # two different rows per window


def test_tacos_c3d_features_have_the_recipe_shape_and_rate(videos, c3d_weights) -> None:
    recipe = get_recipe("tacos-c3d")
    result = extract_video(videos["c3d"], "tacos-c3d", c3d_weights, device="cpu")
    frames = at_rate(C3D_NATIVE_FRAMES, recipe.fps)
    assert result.frames == frames == 65
    assert result.features.shape == ((frames - recipe.window) // recipe.stride + 1, 4096) == (1, 4096)
    assert result.clip_seconds == pytest.approx(12 / 29.4) and (result.features >= 0).all()  # ReLU(fc6)


def test_folder_run_writes_the_same_features_and_resumes(videos, i3d_weights, i3d_result, tmp_path, capsys) -> None:
    source, out = tmp_path / "videos", tmp_path / "features"
    source.mkdir()
    (source / "kitchen.mp4").write_bytes(videos["i3d"].read_bytes())
    args = ["extract", "--recipe", "charades-i3d", "--weights", str(i3d_weights), "--device", "cpu",
            "--no-progress", str(source), str(out)]
    assert main(args) == 0
    features = np.load(out / "kitchen.npy")
    assert np.array_equal(features, i3d_result.features)  # another network read from the same file: same numbers
    meta = json.loads((out / METADATA_FILE).read_text())
    assert meta["format"] == FORMAT and meta["recipe"] == "charades-i3d" and meta["clip_seconds"] == 0.5
    assert meta["feature_dim"] == 1024 and len(meta["weights_sha256"]) == 64
    assert meta["videos"]["kitchen"] == {"frames": 25, "clips": 4, "duration": round(I3D_NATIVE_FRAMES / FPS, 6),
                                         "fps": FPS}
    # a second run only does what is missing; a bad file is reported, named, and fails the run
    (source / "blink.mp4").write_bytes(videos["short"].read_bytes())
    (source / "broken.avi").write_bytes(b"RIFF" + bytes(200))
    before = (out / "kitchen.npy").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == USAGE_ERROR
    captured = capsys.readouterr()
    assert "0 videos extracted" in captured.out and "1 done before, 2 failed" in captured.out
    assert "blink.mp4" in captured.err and "shorter than one clip" in captured.err
    assert "broken.avi" in captured.err and (out / "kitchen.npy").stat().st_mtime_ns == before
    assert sorted(p.name for p in out.iterdir()) == ["extraction.json", "kitchen.npy"]  # no partial file


def test_a_features_folder_refuses_other_weights(videos, i3d_weights, tmp_path, capsys) -> None:
    out = tmp_path / "features"
    out.mkdir()
    (out / METADATA_FILE).write_text(json.dumps({"format": FORMAT, "recipe": "charades-i3d", "weights_sha256": "0" * 64,
                                                 "clip_seconds": 0.5, "feature_dim": 1024, "videos": {}}))
    assert main(["extract", "--recipe", "charades-i3d", "--weights", str(i3d_weights), "--no-progress",
                 str(videos["i3d"]), str(out)]) == USAGE_ERROR
    assert "weights_sha256" in capsys.readouterr().err


def window_means(windows: torch.Tensor) -> torch.Tensor:
    """A stand-in for the network in batching tests: each window's mean pixel as its 2 rows of 1024."""
    return windows.float().mean(dim=(1, 2, 3, 4))[:, None, None].expand(-1, 2, 1024)


def test_batches_mix_videos_and_keep_each_videos_rows_in_order(videos, i3d_weights) -> None:
    recipe = get_recipe("charades-i3d")
    paths = [videos["i3d"], videos["short"], videos["c3d"], videos["i3d"]]  # the short one fails in between
    results = {}
    for batch, decoders in ((1, 1), (3, 3)):  # one video at a time; three decoded at once, windows mixed
        extractor = Extractor(recipe, i3d_weights, "cpu", batch_size=batch, decoders=decoders)
        extractor.forward = window_means  # the batching is under test here, not the network
        results[batch] = list(extractor.run(paths))
    for (path, one), (same, three) in zip(results[1], results[3], strict=True):
        assert path == same
        if path == videos["short"]:
            assert isinstance(one, VideoError) and isinstance(three, VideoError)
            continue
        expected = [window_means(torch.from_numpy(w[None]))[0] for w in
                    iter_windows(read_frames(path, recipe), recipe, DecodedVideo(path, 0.0))]
        assert np.array_equal(one.features, three.features)
        assert np.array_equal(one.features, torch.cat(expected).numpy())


def test_a_killed_folder_run_continues_where_it_stopped(videos, i3d_weights, tmp_path, monkeypatch) -> None:
    source, out = tmp_path / "videos", tmp_path / "features"
    source.mkdir()
    for name, video in (("a.mp4", "i3d"), ("b.mp4", "i3d"), ("c.mkv", "c3d")):
        (source / name).write_bytes(videos[video].read_bytes())
    extractor = Extractor("charades-i3d", i3d_weights, "cpu")
    extractor.forward = window_means  # resuming is under test here, not the network
    written = []

    def killed_after_one(path, features):
        if written:
            raise KeyboardInterrupt  # as a Ctrl-C between two videos
        written.append(path)
        write_features(path, features)

    monkeypatch.setattr(extract_module, "write_features", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        extract_folder(source, out, extractor, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["a.npy", "extraction.json"]
    assert list(json.loads((out / METADATA_FILE).read_text())["videos"]) == ["a"]
    monkeypatch.undo()
    report = extract_folder(source, out, extractor, progress=False)
    assert (report.skipped, report.extracted, report.failed) == (1, 2, [])
    assert sorted(json.loads((out / METADATA_FILE).read_text())["videos"]) == ["a", "b", "c"]


def test_bad_inputs_get_one_clear_error(videos, i3d_weights, c3d_weights, tmp_path) -> None:
    with pytest.raises(VideoError, match="shorter than one clip of recipe charades-i3d") as err:
        extract_video(videos["short"], "charades-i3d", i3d_weights, "cpu")
    assert str(videos["short"]) in str(err.value)
    with pytest.raises(ValueError, match="rgb_imagenet.pt"):
        extract_video(videos["i3d"], "charades-i3d", c3d_weights, "cpu")
    with pytest.raises(ValueError, match="unknown feature recipe"):
        extract_video(videos["i3d"], "kinetics-i3d", i3d_weights, "cpu")
