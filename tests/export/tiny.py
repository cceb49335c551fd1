"""Tiny EAMAT / Dynamic Pathway checkpoints (d = 32) in the training checkpoint format, built without training."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.checkpoint import checkpoint_payload, save_checkpoint
from engine.config import Config
from engine.models import build_model
from engine.models.dynamic_pathway import DynamicPathway
from engine.vocab import Vocabulary
from export.graph import random_inputs

VIDEO_DIM, WORD_DIM = 24, 16
MAX_CLIPS, MAX_WORDS = 24, 8
WORDS = ["person", "opens", "door", "holds", "cup", "walks", "closes", "window", "sits", "chair"]
ITOS = ["<pad>", "<unk>", *WORDS]
PATH_PROBES = 64  # random queries that set DP's path threshold
PATH_MARGIN = 10.0  # path logit gap per standard deviation of the queries' path score


def tiny_config(name: str) -> Config:
    config = Config()
    config.apply_overrides([
        f"model.name={name}", "model.dim=32", "model.num_heads=4", "model.num_scales=2", "model.dropout=0.0",
        "model.entity_blocks=1", "model.motion_blocks=1", "model.query_lstm_layers=2", "model.kernels=reference",
        f"model.video_dim={VIDEO_DIM}", f"model.vocab_size={len(ITOS)}", f"model.word_dim={WORD_DIM}",
        f"data.max_clips={MAX_CLIPS}", f"data.max_words={MAX_WORDS}",
    ])
    return config


def word_vectors(seed: int) -> torch.Tensor:
    vectors = torch.randn(len(ITOS), WORD_DIM, generator=torch.Generator().manual_seed(seed))
    vectors[:2] = 0.0  # <pad>, <unk>
    return vectors


def balance_paths(model: DynamicPathway, config: Config, seed: int) -> None:
    """Make DP's path FC pick each pathway for about half of random queries, by a clear margin (a fresh
    model picks one pathway for every query, which would leave the other and the selection untested)."""
    inputs = random_inputs(config.model, PATH_PROBES, MAX_CLIPS, MAX_WORDS, torch.Generator().manual_seed(seed))
    direction = torch.randn(config.model.dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        _, sentence = model.encode_query(inputs["words"], inputs["word_mask"])
        scores = sentence @ direction
        scale = PATH_MARGIN / scores.std()
        model.path_fc.weight.copy_(torch.stack([direction, -direction]) * scale)
        model.path_fc.bias.copy_(torch.stack([-scores.median(), scores.median()]) * scale)


def write_checkpoint(path: Path, name: str, seed: int = 0) -> Path:
    """A freshly initialised model saved as ``python -m train`` saves best.pt."""
    torch.manual_seed(seed)
    config, vectors = tiny_config(name), word_vectors(seed)
    model = build_model(config, vectors).eval()
    if isinstance(model, DynamicPathway):
        balance_paths(model, config, seed)
    save_checkpoint(checkpoint_payload(model, config, Vocabulary(ITOS, vectors), epoch=1), path)
    return path
