"""video.decode: frame counts at the recipe's rate by arithmetic, crops, determinism, one clear error per bad file."""

import math
import re
import sys

import numpy as np
import pytest

from tests.video.media import FPS, write_audio_only, write_video
from video.decode import DecodedVideo, FrameRateResampler, VideoError, VideoUnavailable, read_frames, thumbnails
from video.recipes import get_recipe

NATIVE_FRAMES = 60  # 2 s at 30 fps
THUMB_HEIGHT = 24


def resampled_count(native_frames: int, fps: float) -> int:
    """ffmpeg's fps filter (round=near): round(duration x fps) output frames."""
    return math.floor(native_frames / FPS * fps + 0.5)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("decode") / "square.mp4", NATIVE_FRAMES)


@pytest.mark.parametrize("name", ["charades-i3d", "tacos-c3d"])
def test_frames_come_at_the_recipe_rate_cropped_and_identical_twice(clip, name) -> None:
    recipe = get_recipe(name)
    info = DecodedVideo(clip, 0.0)
    frames = list(read_frames(clip, recipe, info))
    assert len(frames) == info.frames == resampled_count(NATIVE_FRAMES, recipe.fps)
    assert info.native_frames == NATIVE_FRAMES and info.native_fps == FPS
    assert info.duration == pytest.approx(NATIVE_FRAMES / FPS)
    assert all(f.shape == (recipe.crop, recipe.crop, 3) and f.dtype == np.uint8 for f in frames)
    again = list(read_frames(clip, recipe))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    red = [np.flatnonzero(((f[..., 0] > 150) & (f[..., 1] < 100)).any(axis=0)) for f in (frames[0], frames[-1])]
    assert red[0].size and red[1].size and red[1].mean() > red[0].mean()  # the square moved right


def test_resampler_keeps_the_last_frame_of_each_output_slot() -> None:
    out_fps, native = 24, 31
    resampler = FrameRateResampler(out_fps)
    chosen = [i for i in range(native) for i in resampler.push(i / FPS, i)]
    chosen += list(resampler.finish(native / FPS))
    slots = [math.floor(i * out_fps / FPS + 0.5) for i in range(native)]
    assert chosen == [max(i for i in range(native) if slots[i] <= n) for n in range(len(chosen))]
    assert len(chosen) == resampled_count(native, out_fps)


def test_bad_files_get_one_line_naming_the_file(tmp_path) -> None:
    recipe = get_recipe("charades-i3d")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases = {
        corrupt: "cannot be decoded as a video",
        write_audio_only(tmp_path / "speech.m4a"): "has no video stream",
        write_video(tmp_path / "zero.mp4", 0): "zero-length video",
        empty: "is empty",
    }
    for path, message in cases.items():
        with pytest.raises(VideoError, match=message) as err:
            list(read_frames(path, recipe))
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        list(read_frames(tmp_path / "missing.mp4", recipe))


def test_without_pyav_decoding_says_how_to_install_it(clip, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails as if PyAV were not installed
    with pytest.raises(VideoUnavailable, match=re.escape('pip install -e ".[video]"')):
        list(read_frames(clip, get_recipe("charades-i3d")))


def test_thumbnails_are_small_frames_at_the_asked_times(clip) -> None:
    times = [0.1, 1.0, 1.9]
    found = thumbnails(clip, times, THUMB_HEIGHT)
    assert [t for t, _ in found] == times and all(img.shape[0] == THUMB_HEIGHT for _, img in found)
