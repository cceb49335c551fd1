"""A recipe's network: weights read from the user's file, checked against the architecture, ready on a device.

Weights cannot be downloaded here: the user passes the file the recipe names (``Recipe.weights``).  It is read
with ``torch.load(weights_only=True)`` (tensors only, nothing unpickled that could run code) and loaded
strictly; a missing, unreadable or mismatched file is a :class:`WeightsError` naming the file, the file the
recipe expects and where it comes from.  Batch-norm ``num_batches_tracked`` buffers absent from a file (the
pytorch-i3d files predate them) are the only keys filled in; they play no part in inference.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch
from torch import nn

from engine.checkpoint import CheckpointMismatch, load_model_state
from video.c3d import C3D, UNIT_FRAMES
from video.decode import normalise
from video.i3d import InceptionI3D
from video.recipes import Recipe

CLASSIFIER_WEIGHT = {"i3d": "logits.conv3d.weight", "c3d": "fc8.weight"}  # its rows give the class count
HASH_CHUNK = 1 << 20
ZIP_MAGIC, PICKLE_PROTOCOL = b"PK\x03\x04", b"\x80"  # torch.save's zip archive; the legacy pickle format


class WeightsError(ValueError):
    """A weights file that does not fit the recipe's network (one line naming the file and the expected one)."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str | Path, recipe: Recipe) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, or :class:`WeightsError` / FileNotFoundError naming what was expected."""
    path = Path(path)
    expected = f"recipe {recipe.name} expects {recipe.weights}"
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist; {expected}")
    with open(path, "rb") as f:
        head = f.read(len(ZIP_MAGIC))
    if not (head.startswith(ZIP_MAGIC) or head[:1] == PICKLE_PROTOCOL):
        raise WeightsError(f"{path}: not a PyTorch weights file (no torch.save header); {expected}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise WeightsError(f"{path}: torch.load(weights_only=True) refuses it (not a plain state dict); "
                           f"{expected}") from err
    except Exception as err:  # truncated file, not a torch file at all
        raise WeightsError(f"{path}: not a PyTorch weights file ({str(err).splitlines()[0][:120]}); "
                           f"{expected}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors; {expected}")
    return dict(state)


def build_backbone(recipe: Recipe, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """The recipe's network with ``state`` loaded strictly, in eval mode on the CPU."""
    expected = f"recipe {recipe.name} expects {recipe.weights}"
    classifier = state.get(CLASSIFIER_WEIGHT[recipe.backbone])
    if classifier is None:
        raise WeightsError(f"{source} has no {CLASSIFIER_WEIGHT[recipe.backbone]}: not {recipe.backbone.upper()} "
                           f"weights; {expected}")
    net = InceptionI3D(classifier.shape[0]) if recipe.backbone == "i3d" else C3D(classifier.shape[0])
    state = dict(state)
    for key, value in net.state_dict().items():
        if key.endswith(".num_batches_tracked"):
            state.setdefault(key, torch.zeros_like(value))
    try:
        load_model_state(net, state, source)
    except CheckpointMismatch as err:
        raise WeightsError(f"{err}; {expected}") from err
    return net.eval()


class FeatureNet(nn.Module):
    """uint8 windows (B, window, crop, crop, 3) -> feature rows (B, rows_per_window, feature_dim), float32.

    I3D sees the whole window; C3D sees it as ``units`` consecutive 16-frame inputs and averages their fc6."""

    def __init__(self, recipe: Recipe, backbone: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.recipe, self.backbone, self.dtype = recipe, backbone, dtype

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x = normalise(windows, self.recipe, self.dtype)
        if self.recipe.backbone == "i3d":
            return self.backbone.features(x).float()
        b, c, t, h, w = x.shape
        units = x.reshape(b, c, t // UNIT_FRAMES, UNIT_FRAMES, h, w).transpose(1, 2).reshape(-1, c, UNIT_FRAMES, h, w)
        return self.backbone.features(units).float().reshape(b, t // UNIT_FRAMES, -1).mean(1, keepdim=True)
