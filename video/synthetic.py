"""Test pattern videos and random backbone weights: inputs for the tests and the benchmark where no real video or
published weights file may be used (CI has no network and no media)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from video.decode import require_av

BACKGROUND, SQUARE_COLOUR = 40, (230, 30, 30)
WEIGHT_STD = 0.05  # random weights: enough spread that features depend on the pixels


def moving_square(index: int, frames: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: a red square (a quarter of the height) crossing the frame left to right."""
    side = max(1, height // 4)
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    x = round(index * (width - side) / max(frames - 1, 1))
    image[(height - side) // 2:(height + side) // 2, x:x + side] = SQUARE_COLOUR
    return image


def write_test_video(path: str | Path, frames: int, fps: int = 30, size: tuple[int, int] = (64, 48),
                     codec: str = "mpeg4") -> Path:
    """A ``codec`` video of ``frames`` frames of :func:`moving_square` at ``fps``, ``size`` = (width, height);
    0 frames = a zero-length video (a header and no frames)."""
    av = require_av()
    path = Path(path)
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()  # the header, even for a video of no frames
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_square(i, frames, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def random_network(net_type: type[nn.Module], seed: int) -> nn.Module:
    """``net_type()`` in eval mode with N(0, WEIGHT_STD) weights drawn from ``seed``, batch-norm statistics at
    their identity values; built on the meta device and then filled, so no initialisation cost."""
    with torch.device("meta"):
        net = net_type()
    net = net.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.fill_(1.0)
            elif name.endswith(("num_batches_tracked", "running_mean")):
                tensor.zero_()
            else:
                tensor.normal_(0.0, WEIGHT_STD, generator=generator)
    return net.eval()
