"""Inference from a training checkpoint: ``Localizer.from_checkpoint(path).predict(features, query)``.

The checkpoint (:mod:`engine.checkpoint`) carries the vocabulary with the weights, so inference needs no GloVe file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.checkpoint import BEST, config_of, model_from_checkpoint, read_checkpoint, resolve_checkpoint, vocabulary_of
from engine.config import Config
from engine.inference import prepare_request, ranked_spans
from engine.models import set_kernels
from engine.text import TextProcessor
from engine.vocab import Vocabulary


class Localizer:
    """A trained model, its vocabulary and text processing, ready to localize queries in one video."""

    def __init__(self, model: nn.Module, config: Config, vocab: Vocabulary, device: torch.device) -> None:
        self.model, self.config, self.vocab, self.device = model.to(device).eval(), config, vocab, device
        self.text = TextProcessor(vocab, config.data.max_words, config.data.drop_unknown_pos)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, kernels: str | None = None
    ) -> Localizer:
        """Load ``best.pt`` / ``last.pt`` (a run directory means its best.pt); ``device`` None = CUDA when
        available; ``kernels`` overrides the checkpoint's ``model.kernels``."""
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        ckpt = read_checkpoint(resolve_checkpoint(path, BEST))
        config = config_of(ckpt)
        model = model_from_checkpoint(ckpt, config)
        if kernels is not None:
            set_kernels(model, kernels)
            config.model.kernels = kernels
        return cls(model, config, vocabulary_of(ckpt), device)

    @torch.no_grad()
    def predict(
        self, features: np.ndarray, query: str, duration: float | None = None, k: int = 5
    ) -> list[tuple[float, float, float]]:
        """The ``k`` best spans ``(start_s, end_s, score)`` for ``query``, best first.

        ``features`` (T, video_dim) are the video's clip features; a video longer than the config's
        ``data.max_clips`` is resampled to that many clips first.  ``duration`` (seconds) maps clip
        indices to seconds; None means one second per clip (``duration = T``).  ``score`` is
        ``P_start(s) * P_end(e)``.  At most ``L (L + 1) / 2`` spans exist for L clips.
        """
        request = prepare_request(features, query, self.text, self.config, duration, k, self.device)
        out = self.model(**request.inputs)
        return ranked_spans(out["start_logits"], out["end_logits"], request)
