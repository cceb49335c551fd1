"""Multi-scale temporal convolution (DP's LoL / SpL, Eq. 7)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MultiScaleTemporalConv(nn.Module):
    """``FFN(concat_k ReLU(Conv1d_k(x)))`` over odd kernel sizes ``k`` (default 3, 5, 7).

    Each Conv1d maps dim -> dim with 'same' padding; FFN = Linear(K*dim, dim) -> ReLU -> Dropout ->
    Linear(dim, dim) (the paper's FFN_5 projecting Kd -> d).  Padded frames are zeroed before the
    convolutions (so they never leak into valid frames) and in the output.
    """

    def __init__(self, dim: int, kernel_sizes: Sequence[int] = (3, 5, 7), dropout: float = 0.0) -> None:
        super().__init__()
        kernel_sizes = tuple(kernel_sizes)
        if not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"MultiScaleTemporalConv: kernel_sizes must be odd and >= 1, got {kernel_sizes}")
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, k, padding=k // 2) for k in kernel_sizes)
        self.ffn = nn.Sequential(
            nn.Linear(len(kernel_sizes) * dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, dim), mask (B, T) with 1 = valid -> (B, T, dim)."""
        valid = (mask != 0).unsqueeze(-1).to(x.dtype)
        h = (x * valid).transpose(1, 2)
        feats = torch.cat([torch.relu(conv(h)) for conv in self.convs], dim=1).transpose(1, 2)
        return self.ffn(feats) * valid
