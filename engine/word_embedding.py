"""Frozen word-vector lookup with a learned ``<unk>`` row (shared by EAMAT and Dynamic Pathway)."""

from __future__ import annotations

import torch
from torch import nn

from engine.config import ModelConfig
from engine.vocab import UNK_ID


class FrozenWordEmbedding(nn.Module):
    """``ids (B, N) -> vectors (B, N, word_dim)`` from a frozen table, ``<unk>`` (id 1) learned.

    The table (``.vectors``, (V, word_dim)) is a persistent buffer: it is saved in the state_dict (a
    checkpoint rebuilds the model without GloVe), never trained and never weight-decayed.  Row 0
    (``<pad>``) is whatever the table holds (zero from the vocabulary) and is masked downstream.
    Choice (docs/design.md §6.4; a zero or a learned row would both do): id 1 maps to the trainable vector ``.unk``,
    initialised to zero, so out-of-vocabulary words start as "no information" and may learn a shared meaning.
    """

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        if vectors.dim() != 2 or vectors.shape[0] <= UNK_ID:
            raise ValueError(f"word_vectors must be (V >= 2, word_dim), got shape {tuple(vectors.shape)}")
        self.register_buffer("vectors", vectors.detach().float().clone())
        self.unk = nn.Parameter(torch.zeros(vectors.shape[1]))

    @classmethod
    def from_config(cls, config: ModelConfig, word_vectors: torch.Tensor | None) -> FrozenWordEmbedding:
        """Use ``word_vectors`` (checked against ``config.vocab_size`` / ``word_dim`` when those are set),
        or zeros of ``(config.vocab_size, config.word_dim)`` for a checkpoint to fill."""
        if word_vectors is None:
            if config.vocab_size <= UNK_ID:
                raise ValueError(
                    f"model.vocab_size is {config.vocab_size}: pass word_vectors or set model.vocab_size "
                    "(and model.word_dim) from the vocabulary"
                )
            return cls(torch.zeros(config.vocab_size, config.word_dim))
        if not isinstance(word_vectors, torch.Tensor) or word_vectors.dim() != 2:
            raise ValueError(f"word_vectors must be a (V, word_dim) tensor, got {getattr(word_vectors, 'shape', None)}")
        V, dim = word_vectors.shape
        if (config.vocab_size and config.vocab_size != V) or dim != config.word_dim:
            raise ValueError(
                f"word_vectors has shape ({V}, {dim}) but model.vocab_size={config.vocab_size}, "
                f"model.word_dim={config.word_dim} (set them from the vocabulary)"
            )
        return cls(word_vectors)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        vectors = nn.functional.embedding(ids, self.vectors)
        return torch.where((ids == UNK_ID).unsqueeze(-1), self.unk.to(vectors.dtype), vectors)
