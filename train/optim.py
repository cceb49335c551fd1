"""The optimisation of a run, from ``OptimConfig``: AdamW parameter groups, the learning-rate schedule, clipping.

One home for these choices, used by the trainer and by the benchmark's train step:

* AdamW; no weight decay on biases, norm weights and other 1-D parameters (the frozen word table is a
  buffer, never optimized);
* learning rate: linear warmup over ``warmup_fraction`` of all steps, then linear decay to 0 at the last step;
* gradients clipped to ``grad_clip`` (0 = off).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.config import OptimConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: matrices decayed; biases, norm weights and other 1-D parameters not."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(parameter_groups(model, optim.weight_decay), lr=optim.lr)


def linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR: 0 -> 1 over the warmup steps, then 1 -> 0 linearly at ``total_steps``."""
    warmup = int(round(warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_gradients(model: nn.Module, optim: OptimConfig) -> None:
    """Clip the gradient norm of ``model``'s parameters to ``optim.grad_clip`` (0 = no clipping)."""
    if optim.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
