"""Pre- and post-processing shared by every inference runtime (PyTorch, ONNX Runtime, TensorRT).

One request -- a video's clip features, a query sentence, the video's duration -- becomes a one-video
batch of model inputs (:func:`prepare_request`); a runtime turns the inputs into start / end scores; and
:func:`ranked_spans` turns the scores into the ``k`` best ``(start_s, end_s, score)`` spans, best first.
``engine.Localizer`` and the exported runtimes (``export.OnnxLocalizer``, ``export.TensorRTLocalizer``)
all go through these two functions, so they agree on resampling, text processing and decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.config import Config
from engine.data.features import resample_clips
from engine.decoding import index_to_seconds, topk_spans
from engine.text import TextProcessor

MODEL_INPUTS = ("video", "video_mask", "words", "word_mask", "word_class")  # the models' forward arguments


@dataclass
class Request:
    """A prepared query: ``inputs`` holds the :data:`MODEL_INPUTS` tensors of a one-video batch."""

    inputs: dict[str, torch.Tensor]
    clips: int  # clips the model sees (after resampling)
    duration: float  # seconds covered by those clips
    k: int  # spans to return (already capped at the number of spans that exist)


def prepare_request(
    features: np.ndarray,
    query: str,
    text: TextProcessor,
    config: Config,
    duration: float | None = None,
    k: int = 5,
    device: str | torch.device = "cpu",
) -> Request:
    """Check and batch one query.

    ``features`` (T, video_dim) are the video's clip features; a video longer than ``data.max_clips`` is
    resampled to that many clips.  ``duration`` (seconds) None means one second per clip (``T``).
    """
    feats = np.asarray(features, dtype=np.float32)
    dv = config.model.video_dim
    if feats.ndim != 2 or feats.shape[1] != dv or feats.shape[0] < 1:
        raise ValueError(f"features must be (T >= 1, {dv}) clip features, got shape {feats.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    duration = float(feats.shape[0]) if duration is None else float(duration)
    if not duration > 0:
        raise ValueError(f"duration must be positive seconds, got {duration}")
    if feats.shape[0] > config.data.max_clips:
        feats = resample_clips(feats, config.data.max_clips)
    clips = feats.shape[0]
    _, ids, classes = text.process(query)
    words = torch.tensor([ids], dtype=torch.int64, device=device)
    inputs = {
        "video": torch.from_numpy(np.ascontiguousarray(feats)).to(device)[None],
        "video_mask": torch.ones(1, clips, dtype=torch.bool, device=device),
        "words": words,
        "word_mask": torch.ones_like(words, dtype=torch.bool),
        "word_class": torch.tensor([classes], dtype=torch.int64, device=device),
    }
    return Request(inputs, clips, duration, min(k, clips * (clips + 1) // 2))


def ranked_spans(
    start_logits: torch.Tensor, end_logits: torch.Tensor, request: Request
) -> list[tuple[float, float, float]]:
    """The request's ``k`` best spans ``(start_s, end_s, P_start(s) * P_end(e))`` from (1, T) boundary scores.

    Any scores whose softmax is the boundary distribution work: logits, or log-probabilities (an
    exported graph outputs probabilities; their log differs from the logits by a per-row constant).
    """
    mask = request.inputs["video_mask"].to(start_logits.device)
    s, e, score = topk_spans(start_logits.float(), end_logits.float(), mask, request.k)
    start_s, end_s = index_to_seconds(s[0], e[0], torch.tensor(request.clips), torch.tensor(request.duration))
    columns = (start_s.tolist(), end_s.tolist(), score[0].tolist())
    return [(float(a), float(b), float(c)) for a, b, c in zip(*columns, strict=True)]
