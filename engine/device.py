"""Which device to run on: ``"auto"`` (or None) means CUDA when torch sees a GPU, the CPU otherwise."""

from __future__ import annotations

import torch


def resolve_device(requested: str | torch.device | None = "auto") -> torch.device:
    """The device named by ``requested`` ("auto" | None | "cpu" | "cuda" | "cuda:N"); a CUDA request on a machine
    without CUDA, or another device type, is a ValueError naming the request."""
    if requested is None or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as err:
        raise ValueError(f"device {requested!r} is not a device name (auto, cpu, cuda, cuda:N)") from err
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {requested!r}: only cpu and cuda[:N] are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} but torch sees no CUDA device on this machine")
    return device
