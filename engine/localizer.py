"""Inference from a training checkpoint: ``Localizer.from_checkpoint(path).predict(features, query)``.

Checkpoint format (written by ``python -m train``; ``last.pt`` adds optimizer / scheduler / RNG state):
``{"format", "model": state_dict, "config": Config.to_dict(), "vocab": {"itos", "vectors"}, "epoch",
"best", "history"}``.  The vocabulary travels with the weights, so inference needs no GloVe file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.config import Config
from engine.inference import prepare_request, ranked_spans
from engine.models import build_model, set_kernels
from engine.text import TextProcessor, Vocabulary

REQUIRED_KEYS = ("model", "config", "vocab")
MAX_LISTED_KEYS = 12  # mismatched keys named in an error message, per kind


class CheckpointMismatch(ValueError):
    """A checkpoint's weights do not fit the model they are loaded into (the message lists the keys)."""


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file (tensors and plain types only) and check it has weights, config and vocabulary."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated file, not a torch file, foreign pickle
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err
    missing = [k for k in REQUIRED_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a grounding-engine checkpoint (missing {missing})")
    ckpt["path"] = str(path)
    return ckpt


def _listed(keys: list[str]) -> str:
    more = f" ... (+{len(keys) - MAX_LISTED_KEYS} more)" if len(keys) > MAX_LISTED_KEYS else ""
    return ", ".join(keys[:MAX_LISTED_KEYS]) + more


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict ``load_state_dict``: any missing, unexpected or differently shaped key is an error naming them.

    Never a partial load: the model is untouched when anything does not match.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or reshaped:
        problems = [
            f"{label} ({len(keys)}): {_listed(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", reshaped))
            if keys
        ]
        raise CheckpointMismatch(
            f"{source} does not fit this {type(model).__name__} (another model or config?); " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)


def vocabulary_of(ckpt: dict[str, Any]) -> Vocabulary:
    return Vocabulary(ckpt["vocab"]["itos"], ckpt["vocab"]["vectors"])


def model_from_checkpoint(ckpt: dict[str, Any], config: Config | None = None) -> nn.Module:
    """Rebuild the model of ``config`` (default: the checkpoint's own) and load the weights strictly."""
    config = config or Config.from_dict(ckpt["config"], ckpt.get("path", "checkpoint"))
    saved = ckpt["config"]["model"]["name"]
    if config.model.name != saved:
        raise CheckpointMismatch(
            f"{ckpt.get('path', 'checkpoint')} holds a {saved!r} model, the config asks for {config.model.name!r}"
        )
    model = build_model(config)
    load_model_state(model, ckpt["model"], ckpt.get("path", "checkpoint"))
    return model


class Localizer:
    """A trained model, its vocabulary and text processing, ready to localize queries in one video."""

    def __init__(self, model: nn.Module, config: Config, vocab: Vocabulary, device: torch.device) -> None:
        self.model, self.config, self.vocab, self.device = model.to(device).eval(), config, vocab, device
        self.text = TextProcessor(vocab, config.data.max_words, config.data.drop_unknown_pos)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, kernels: str | None = None
    ) -> Localizer:
        """Load ``best.pt`` / ``last.pt``; ``device`` None = CUDA when available; ``kernels`` overrides the
        checkpoint's ``model.kernels`` ("auto" | "triton" | "reference")."""
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        ckpt = read_checkpoint(path)
        config = Config.from_dict(ckpt["config"], str(path))
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
