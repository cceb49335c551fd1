"""Reference context-query attention (VSLNet / EAMAT / DP), the oracle for the fused kernel.

Math (docs/design.md §2.4), per sample, C (T, d) clips, Q (N, d) words, masks cm (T,), qm (N,):

    S[i, j] = C[i]·w_c + Q[j]·w_q + (C[i] ⊙ w_m)·Q[j]            trilinear similarity (T, N)
    S_r     = softmax_j(S + (1 - qm[j]) * -1e30)                  over words   (T, N)
    S_c     = softmax_i(S + (1 - cm[i]) * -1e30)                  over clips   (T, N)
    A       = S_r · Q                                             (T, d)
    Bq      = S_r · (S_cᵀ · C)                                    (T, d), never the T×T S_r·S_cᵀ
    out     = ([C; A; C ⊙ A; C ⊙ Bq] · Wᵀ + b) * cm               W: (d, 4d)

Softmaxes are taken in float32 (float64 stays float64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_VALUE = -1e30


def masked_softmax(logits: torch.Tensor, valid: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax in at least float32, invalid logits pushed to -1e30 (a fully masked row is uniform)."""
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return wide.masked_fill(~valid, MASK_VALUE).softmax(dim)


def trilinear_similarity(
    video: torch.Tensor, query: torch.Tensor, w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor
) -> torch.Tensor:
    """(B, T, d), (B, N, d) -> S (B, T, N)."""
    return (video @ w_c).unsqueeze(2) + (query @ w_q).unsqueeze(1) + (video * w_m) @ query.transpose(1, 2)


def cqa_attend(
    video: torch.Tensor, query: torch.Tensor, video_valid: torch.Tensor, query_valid: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention part: returns A = S_r·Q and Bq = S_r·(S_cᵀ·C), both (B, T, d)."""
    S = trilinear_similarity(video, query, w_c, w_q, w_m)
    S_r = masked_softmax(S, query_valid[:, None, :], dim=2).to(video.dtype)
    S_c = masked_softmax(S, video_valid[:, :, None], dim=1).to(video.dtype)
    A = S_r @ query
    Bq = S_r @ (S_c.transpose(1, 2) @ video)
    return A, Bq


def cqa_reference(
    video: torch.Tensor, query: torch.Tensor, video_valid: torch.Tensor, query_valid: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor, proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None,
) -> torch.Tensor:
    """Full block: attention, the 4d concat and the 4d -> d projection, zeroed on padded clips."""
    A, Bq = cqa_attend(video, query, video_valid, query_valid, w_c, w_q, w_m)
    fused = torch.cat([video, A, video * A, video * Bq], dim=-1)
    return F.linear(fused, proj_weight, proj_bias) * video_valid.unsqueeze(-1).to(video.dtype)
