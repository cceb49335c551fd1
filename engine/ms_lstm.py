"""Strided multi-scale LSTM encoder (docs/design.md §2.1; EAMAT Eq. 3-4, DP Eq. 3-4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

import kernels


def lengths_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) prefix mask (1 = valid) -> (B,) int64 lengths."""
    return (mask != 0).sum(dim=1)


class MultiScaleLSTM(nn.Module):
    """``merge(concat_s dropout(BiLSTM_s at stride s (norm(x))))``, zero on padded frames.

    Each scale owns a ``torch.nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True)`` in
    ``.lstms`` (so weights load from / into plain PyTorch), ``.norm`` is the input LayerNorm of the
    authors' code and ``.merge`` the ``S*dim -> dim`` Linear.
    """

    def __init__(self, dim: int, num_scales: int = 3, dropout: float = 0.0, kernels: str = "auto") -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"MultiScaleLSTM: dim must be even (hidden = dim/2 per direction), got {dim}")
        if num_scales < 1:
            raise ValueError(f"MultiScaleLSTM: num_scales must be >= 1, got {num_scales}")
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.lstms = nn.ModuleList(
            nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True) for _ in range(num_scales)
        )
        self.dropout = nn.Dropout(dropout)
        self.merge = nn.Linear(num_scales * dim, dim)
        self.kernels = kernels

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, dim), lengths (B,) int64 -> (B, T, dim)."""
        return run_encoders([self], x, lengths)[0]


def run_encoders(encoders: Sequence[MultiScaleLSTM], x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    """Run several encoders over the same input with one ``kernels.multi_scale_lstm`` call (one launch set)."""
    recurrent = kernels.multi_scale_lstm(
        [e.norm(x) for e in encoders], lengths, [list(e.lstms) for e in encoders], backend=encoders[0].kernels
    )
    valid = (torch.arange(x.shape[1], device=x.device) < lengths[:, None]).unsqueeze(-1).to(x.dtype)
    return [e.merge(e.dropout(h)) * valid for e, h in zip(encoders, recurrent, strict=True)]
