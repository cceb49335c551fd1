"""Context-query attention block (docs/design.md §2.4) as a module over ``kernels.context_query_attention``."""

from __future__ import annotations

import math

import torch
from torch import nn

import kernels


class ContextQueryAttention(nn.Module):
    """Trilinear-similarity CQA fused into the video stream: (B, T, dim) -> (B, T, dim).

    Parameters ``w_c``, ``w_q``, ``w_m`` (dim,) and the projection ``.proj`` (4*dim -> dim).  The trilinear
    weights start Xavier-uniform as in the VSLNet code both papers' CQA descends from, where ``w_c`` / ``w_q``
    are (dim, 1) matrices (bound sqrt(6 / (dim + 1))) and ``w_m`` a (1, 1, dim) tensor (bound sqrt(3 / dim)):
    similarity scores of order one from the first step, so the attention over words is not uniform.
    """

    def __init__(self, dim: int, kernels: str = "auto") -> None:
        super().__init__()
        vector_bound, product_bound = math.sqrt(6.0 / (dim + 1)), math.sqrt(3.0 / dim)
        self.w_c = nn.Parameter(torch.empty(dim).uniform_(-vector_bound, vector_bound))
        self.w_q = nn.Parameter(torch.empty(dim).uniform_(-vector_bound, vector_bound))
        self.w_m = nn.Parameter(torch.empty(dim).uniform_(-product_bound, product_bound))
        self.proj = nn.Linear(4 * dim, dim)
        self.kernels = kernels

    def forward(
        self, video: torch.Tensor, query: torch.Tensor, video_mask: torch.Tensor, query_mask: torch.Tensor
    ) -> torch.Tensor:
        return kernels.context_query_attention(
            video, query, video_mask, query_mask, self.w_c, self.w_q, self.w_m,
            self.proj.weight, self.proj.bias, backend=self.kernels,
        )
