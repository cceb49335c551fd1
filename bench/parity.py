"""The perturbation that proves the parity rule bites (the rule itself: :mod:`kernels.parity`)."""

from __future__ import annotations

import torch
from torch import nn


def perturb_(module: nn.Module, rel: float) -> str:
    """Scale the first trainable weight matrix of ``module`` by ``1 + rel`` in place; returns its name.

    The bench's ``--perturb`` applies this to the copy a candidate variant runs with, so the parity
    table has something it must catch.
    """
    for name, param in module.named_parameters():
        if param.requires_grad and param.dim() >= 2:
            with torch.no_grad():
                param.mul_(1.0 + rel)
            return name
    raise ValueError(f"perturb: {type(module).__name__} has no trainable weight matrix")
