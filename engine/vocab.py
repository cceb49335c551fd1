"""The vocabulary of a model: words with frozen vectors, and the ids of padding and unknown words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocabulary:
    """Words with frozen vectors: ``itos[0] = "<pad>"``, ``itos[1] = "<unk>"``, both with zero vectors.

    ``vectors`` is a (V, word_dim) float32 tensor; ``encode`` maps a word without a vector to ``UNK_ID``.
    ``oov`` lists the corpus words that had no vector when the vocabulary was built (informational).
    """

    def __init__(self, itos: Sequence[str], vectors: torch.Tensor | np.ndarray, oov: Sequence[str] = ()):
        if isinstance(vectors, torch.Tensor):
            vectors = vectors.detach().to("cpu", torch.float32)
        else:
            vectors = torch.from_numpy(np.asarray(vectors, dtype=np.float32))
        if list(itos[:2]) != [PAD, UNK]:
            raise ValueError(f"Vocabulary: itos must start with {[PAD, UNK]}, got {list(itos[:2])}")
        if vectors.dim() != 2 or vectors.shape[0] != len(itos):
            raise ValueError(f"Vocabulary: vectors must be ({len(itos)}, word_dim), got {tuple(vectors.shape)}")
        if vectors[:2].abs().sum() != 0:
            raise ValueError("Vocabulary: the <pad> and <unk> rows of vectors must be zero")
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocabulary: itos holds duplicate words")
        self.vectors = vectors
        self.oov = tuple(oov)

    @classmethod
    def from_words(cls, words: Sequence[str], vectors: np.ndarray, oov: Sequence[str] = ()) -> Vocabulary:
        """``<pad>``, ``<unk>`` (zero rows) followed by ``words`` with their (len(words), D) ``vectors``."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(words), -1)
        specials = np.zeros((2, vectors.shape[1]), dtype=np.float32)
        return cls([PAD, UNK, *words], np.concatenate([specials, vectors]), oov)

    @property
    def word_dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(t, UNK_ID) for t in tokens]
