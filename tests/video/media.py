"""Test media: a short video of a moving square (video.synthetic) and an audio-only file (skips without PyAV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason='decoding video needs PyAV: pip install -e ".[video]"')

from video.synthetic import write_test_video  # noqa: E402

FPS = 30  # the test videos' own rate (the recipes resample it)
SIZE = (64, 48)  # small frames: cheap to encode and decode (the I3D recipe upscales them)
AUDIO_RATE = 8000


def write_video(path: Path, frames: int) -> Path:
    """``frames`` frames of a square moving across a 64 x 48 frame at 30 fps (MPEG-4 part 2)."""
    return write_test_video(path, frames, FPS, SIZE)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A valid audio file (AAC in .m4a) with no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=AUDIO_RATE)
        samples = np.zeros((1, int(AUDIO_RATE * seconds)), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
