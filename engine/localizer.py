"""Inference from a training checkpoint: ``Localizer.from_checkpoint(path).predict(features, query)``.

The checkpoint (:mod:`engine.checkpoint`) carries the vocabulary with the weights, so inference needs no GloVe file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from engine.checkpoint import BEST, config_of, model_from_checkpoint, read_checkpoint, resolve_checkpoint, vocabulary_of
from engine.config import Config
from engine.device import resolve_device
from engine.inference import DEFAULT_K, BaseLocalizer, Prediction, check_feature_source
from engine.models import set_kernels
from engine.text import TextProcessor
from engine.vocab import Vocabulary

if TYPE_CHECKING:
    from video import VideoFeatures


class Localizer(BaseLocalizer):
    """A trained model, its vocabulary and text processing, ready to localize queries in videos.

    ``predict`` (one query), ``predict_many`` (batched), ``localize`` (with the curves a plot shows): see
    :class:`engine.inference.BaseLocalizer`; long videos follow ``config.infer`` (sliding windows or
    resampling), which may be changed on ``localizer.config.infer`` before predicting.  ``predict_video`` /
    ``localize_video`` start from a video file (features extracted with the checkpoint's recipe).
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

    def video_recipe(self, recipe: str | None = None) -> str:
        """The feature recipe videos are extracted with: the checkpoint's ``data.feature_recipe``; ``recipe``
        names one for a checkpoint that does not record it (and must agree with one that does)."""
        known = self.config.data.feature_recipe
        if recipe and known and recipe != known:
            raise ValueError(f"the checkpoint was trained on {known!r} features; recipe {recipe!r} would give "
                             "features it was not trained on")
        if not (recipe or known):
            from video.recipes import RECIPES

            raise ValueError("the checkpoint does not record the recipe of its features (data.feature_recipe); "
                             f"name the one it was trained on: one of {', '.join(RECIPES)}")
        return recipe or known

    def localize_video(
        self, path: str | Path, query: str, weights: str | Path, k: int = DEFAULT_K, recipe: str | None = None
    ) -> tuple[Prediction, VideoFeatures]:
        """Extract the video's features (:func:`video.extract_video`, the checkpoint's recipe, the backbone
        ``weights`` file) on this localizer's device, then :meth:`localize` them with the video's own duration
        (the mapping from clips to seconds training used).  Returns the prediction and the features."""
        from video import extract_video, get_recipe

        name = self.video_recipe(recipe)
        made = get_recipe(name)
        check_feature_source(self.config, f"video {path}", made.feature_dim, name, made.clip_seconds)  # before the work
        features = extract_video(path, name, weights, self.device)
        return self.localize(features.features, query, features.duration, k), features

    def predict_video(
        self, path: str | Path, query: str, weights: str | Path, k: int = DEFAULT_K
    ) -> list[tuple[float, float, float]]:
        """The ``k`` best spans ``(start_s, end_s, score)`` for ``query`` in a video file (:meth:`localize_video`)."""
        return self.localize_video(path, query, weights, k)[0].spans
