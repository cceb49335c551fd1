"""Pre-LN Transformer blocks: standard (Linear Q/K/V) and EAMAT's LSTM Transformer (docs/design.md §2.2, §2.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.ms_lstm import MultiScaleLSTM, lengths_from_mask, run_encoders
from engine.temporal_conv import MultiScaleTemporalConv

QKV_KINDS = ("linear", "lstm", "conv")
CONV_KERNELS = (3, 5, 7)  # the T-Conv Trans ablation's kernel sizes (EAMAT §4.4)


class FeedForward(nn.Sequential):
    """Linear(d, d) -> GELU -> Dropout -> Linear(d, d)."""

    def __init__(self, dim: int, dropout: float = 0.0, hidden: int | None = None) -> None:
        hidden = hidden or dim
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


class TransformerBlock(nn.Module):
    """``x += dropout(MHA(LN1 x))``; ``x += FFN(LN2 x)`` with a key padding mask.

    ``qkv="linear"`` projects Q/K/V with Linear layers (the standard block); ``qkv="lstm"`` uses three
    independent :class:`MultiScaleLSTM` encoders, run together in one ``kernels.multi_scale_lstm`` call
    (EAMAT's "LSTM Transformer"); ``qkv="conv"`` three :class:`MultiScaleTemporalConv` (kernels 3, 5, 7: the
    "T-Conv Trans" of EAMAT's ablation).  Attention has ``num_heads`` heads of ``dim / num_heads`` and no
    output projection, as in the authors' code.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        dropout: float = 0.0,
        qkv: str = "linear",
        num_scales: int = 3,
        kernels: str = "auto",
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"TransformerBlock: dim {dim} is not divisible by num_heads {num_heads}")
        if qkv not in QKV_KINDS:
            raise ValueError(f"TransformerBlock: qkv must be one of {QKV_KINDS}, got {qkv!r}")
        self.num_heads, self.dropout_p, self.qkv = num_heads, dropout, qkv
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        if qkv == "linear":
            self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        elif qkv == "conv":
            self.q, self.k, self.v = (MultiScaleTemporalConv(dim, CONV_KERNELS, dropout) for _ in range(3))
        else:
            self.q, self.k, self.v = (MultiScaleLSTM(dim, num_scales, dropout, kernels) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.ffn = FeedForward(dim, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, dim), mask (B, T) with 1 = valid -> (B, T, dim)."""
        h = self.norm1(x)
        if self.qkv == "lstm":
            q, k, v = run_encoders([self.q, self.k, self.v], h, lengths_from_mask(mask))
        elif self.qkv == "conv":
            q, k, v = self.q(h, mask), self.k(h, mask), self.v(h, mask)
        else:
            q, k, v = self.q(h), self.k(h), self.v(h)
        attn = multi_head_attention(q, k, v, mask, self.num_heads, self.dropout_p if self.training else 0.0)
        x = x + self.dropout(attn)
        return x + self.ffn(self.norm2(x))


def multi_head_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, num_heads: int, dropout_p: float = 0.0
) -> torch.Tensor:
    """Scaled dot-product attention over ``num_heads`` heads of ``D / num_heads``, heads concatenated.

    q, k, v (B, T, D); mask (B, T) with 1 = valid key (padded keys get no weight) -> (B, T, D).
    """
    B, T, D = q.shape
    q, k, v = (t.view(B, T, num_heads, D // num_heads).transpose(1, 2) for t in (q, k, v))
    key_valid = (mask != 0)[:, None, None, :]
    attn = F.scaled_dot_product_attention(q, k, v, attn_mask=key_valid, dropout_p=dropout_p)
    return attn.transpose(1, 2).reshape(B, T, D)
