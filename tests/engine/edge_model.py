"""A hand-weighted localizer for the long-video tests: it finds the run of clips whose feature channel 0 is
high (an "event"), by edge detection -- no training, exact, and exportable to ONNX.

``EdgeModel`` takes the models' forward arguments and returns ``start_logits = GAIN * (x_t - x_{t-1})``,
``end_logits = GAIN * (x_t - x_{t+1})`` and ``inner_logits = GAIN * (x_t - 1/2)`` on channel 0 (zero
padding outside the valid clips) and, as every model, ``presence_logits`` from the inner logits, so in a
video of noise plus one event it puts the start on the event's first clip and the end on its last.
:func:`event_video` builds such a video.
"""

from __future__ import annotations

import numpy as np
from torch import nn
from torch.nn import functional as F

from engine import Localizer
from engine.config import ModelConfig
from engine.heads import presence_logits
from engine.vocab import Vocabulary
from tests.export.tiny import ITOS, VIDEO_DIM, tiny_config, word_vectors

GAIN = 10.0
NOISE_STD = 0.05  # per-clip noise of every channel
EVENT_AMP = 1.0  # channel 0 inside the event


class EdgeModel(nn.Module):
    """Start / end at the rising / falling edge of channel 0 (module docstring)."""

    config = ModelConfig()  # the network contract (engine.models.spec): it stands in for the default model

    def forward(self, video, video_mask, words, word_mask, word_class=None, query_row=None):
        x = video[..., 0] * video_mask
        before = F.pad(x, (1, 0))[:, :-1]
        after = F.pad(x, (0, 1))[:, 1:]
        inner = GAIN * (x - 0.5)
        return {"start_logits": GAIN * (x - before), "end_logits": GAIN * (x - after), "inner_logits": inner,
                "presence_logits": presence_logits(inner, video_mask)}


def edge_localizer(windows: str = "auto") -> Localizer:
    """A :class:`~engine.Localizer` over :class:`EdgeModel` with the tiny export config (max_clips 24)."""
    config = tiny_config("eamat")
    config.infer.windows = windows
    return Localizer(EdgeModel(), config, Vocabulary(ITOS, word_vectors(0)), "cpu")


def event_video(num_clips: int, first: int, last: int, seed: int = 0) -> np.ndarray:
    """(num_clips, VIDEO_DIM) noise with an event on clips first..last."""
    video = np.random.default_rng(seed).normal(0.0, NOISE_STD, (num_clips, VIDEO_DIM)).astype(np.float32)
    video[first:last + 1, 0] += EVENT_AMP
    return video


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))

