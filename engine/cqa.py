"""Context-query attention block (docs/design.md §2.4) as a module over ``kernels.context_query_attention``."""

from __future__ import annotations

import math

import torch
from torch import nn

import kernels


class ContextQueryAttention(nn.Module):
    """Trilinear-similarity CQA fused into the video stream: (B, T, dim) -> (B, T, dim).

    Parameters ``w_c``, ``w_q``, ``w_m`` (dim,) and the projection ``.proj`` (4*dim -> dim).
    """

    def __init__(self, dim: int, kernels: str = "auto") -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(dim)
        self.w_c = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.w_q = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.w_m = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))
        self.proj = nn.Linear(4 * dim, dim)
        self.kernels = kernels

    def forward(
        self, video: torch.Tensor, query: torch.Tensor, video_mask: torch.Tensor, query_mask: torch.Tensor
    ) -> torch.Tensor:
        return kernels.context_query_attention(
            video, query, video_mask, query_mask, self.w_c, self.w_q, self.w_m,
            self.proj.weight, self.proj.bias, backend=self.kernels,
        )
