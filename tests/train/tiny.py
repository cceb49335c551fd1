"""A tiny synthetic EAMAT run shared by the train tests: a few seconds per epoch on one CPU core."""

from __future__ import annotations

from pathlib import Path

from tests.markers import skip_without_text
from train.cli import main

TINY_OVERRIDES = [
    "model.dim=32", "model.num_heads=4", "model.num_scales=2", "model.dropout=0.1",
    "model.entity_blocks=1", "model.motion_blocks=1", "model.kernels=reference",
    "data.max_clips=16", "data.batch_size=8",
    "data.synthetic_train=48", "data.synthetic_val=16", "data.synthetic_test=16",
    "optim.lr=1e-3", "optim.warmup_fraction=0.2",
    "train.epochs=2", "train.device=cpu", "train.amp=off",
]


def tiny_args(out_dir: Path, *extra: str) -> list[str]:
    """CLI arguments of the tiny run into ``out_dir`` (``extra`` appended)."""
    sets = [arg for override in TINY_OVERRIDES for arg in ("--set", override)]
    return ["--config", "synthetic", *sets, "--out", str(out_dir), "--no-progress", *extra]


def train_tiny(out_dir: Path, *extra: str) -> Path:
    """Run ``python -m train`` in-process on the tiny config; return the run directory (skips the caller where
    the text packages are missing)."""
    skip_without_text()
    assert main(tiny_args(out_dir, *extra)) == 0
    return out_dir
