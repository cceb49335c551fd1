"""Backbone weight files in the published layouts (no PyAV needed)."""

from __future__ import annotations

from pathlib import Path

import torch


def write_published_weights(path: Path, net: torch.nn.Module) -> Path:
    """``net``'s state dict saved as the published files are: plain tensors, no ``num_batches_tracked`` (the
    pytorch-i3d files predate it)."""
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path
