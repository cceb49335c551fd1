"""Inference from a training checkpoint: ``Localizer.from_checkpoint(path).predict(features, query)``.

The checkpoint (:mod:`engine.checkpoint`) carries the vocabulary with the weights, so inference needs no GloVe file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from engine.checkpoint import BEST, config_of, model_from_checkpoint, read_checkpoint, resolve_checkpoint, vocabulary_of
from engine.config import Config
from engine.device import resolve_device
from engine.inference import BaseLocalizer
from engine.models import set_kernels
from engine.text import TextProcessor
from engine.vocab import Vocabulary


class Localizer(BaseLocalizer):
    """A trained model, its vocabulary and text processing, ready to localize queries in videos.

    ``predict`` (one query), ``predict_many`` (batched), ``localize`` (with the curves a plot shows): see
    :class:`engine.inference.BaseLocalizer`; long videos follow ``config.infer`` (sliding windows or
    resampling), which may be changed on ``localizer.config.infer`` before predicting.
    """

    def __init__(self, model: nn.Module, config: Config, vocab: Vocabulary, device: torch.device | str = "cpu") -> None:
        device = torch.device(device)
        self.model, self.config, self.vocab, self.device = model.to(device).eval(), config, vocab, device
        self.text = TextProcessor.for_config(vocab, config)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, kernels: str | None = None
    ) -> Localizer:
        """Load ``best.pt`` / ``last.pt`` (a run directory means its best.pt); ``device`` None = CUDA when
        available; ``kernels`` overrides the checkpoint's ``model.kernels``."""
        device = resolve_device(device)
        ckpt = read_checkpoint(resolve_checkpoint(path, BEST))
        config = config_of(ckpt)
        model = model_from_checkpoint(ckpt, config)
        if kernels is not None:
            set_kernels(model, kernels)
            config.model.kernels = kernels
        return cls(model, config, vocabulary_of(ckpt), device)

    @torch.no_grad()
    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(**inputs)
