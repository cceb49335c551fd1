"""Fused context-query attention: the autograd op over the Triton kernels, its limits and its FLOP count.

The kernels (:mod:`kernels.cqa.kernel`) emit X = [A | C⊙A | C⊙Bq] (B, T, 3d); the 4d -> d projection stays
two GEMMs outside them, with the weight split as W = [W1 | W234] (W1 (d', d) acts on C, W234 (d', 3d) on X):

    out = (C W1ᵀ + X W234ᵀ + b) ⊙ cm

so the concatenated (B, T, 4d) tensor is never built, and the product terms C⊙A, C⊙Bq are formed in the
kernel's registers (where C, A and Bq already are) instead of two extra elementwise passes.  Autograd runs
the projection; :class:`_CQAFeatures` has a hand-derived backward (see the kernel module).

Launches: forward 3 Triton + 2 GEMMs (bias in the first's epilogue, C W1ᵀ accumulated with beta = 1) + the
mask cast and multiply; backward 3 Triton + 1 batch sum of dw + autograd's 4 GEMMs, bias sum, weight-grad cat,
mask multiply and dC accumulation (+ dw casts when the weights are not float32).

Limits (:func:`kernels.policy.cqa_limits`): T <= 512 clips, N <= 32 words (the word axis is one register
tile), d <= 1024 features; float32, float16 or bfloat16 (bfloat16 only on GPU: the interpreter has no bf16
arithmetic).  T and d are looped over in tiles, so their caps are the design envelope rather than a hardware
bound.  Precision and autocast follow :mod:`kernels.policy`; FLOPs: :func:`kernels.policy.cqa_flops`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from kernels.cqa.kernel import ForwardState, cqa_backward, cqa_forward
from kernels.policy import compute_dtype

__all__ = ["cqa_features_triton", "cqa_triton"]


class _CQAFeatures(torch.autograd.Function):
    """(C, Q, masks, w_c, w_q, w_m) -> X = [A | C⊙A | C⊙Bq] (B, T, 3d); the masks get no gradient."""

    @staticmethod
    def forward(ctx, video, query, video_valid, query_valid, w_c, w_q, w_m):
        x, state = cqa_forward(video, query, video_valid, query_valid, w_c, w_q, w_m)
        ctx.save_for_backward(video, query, video_valid, query_valid, w_c, w_q, w_m, *state)
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_x):
        video, query, video_valid, query_valid, w_c, w_q, w_m, *state = ctx.saved_tensors
        d_video, d_query, dw = cqa_backward(
            grad_x.contiguous(), video, query, video_valid, query_valid, w_c, w_q, w_m, ForwardState(*state)
        )
        dw_c, dw_q, dw_m = dw.sum(dim=1)
        return d_video, d_query, None, None, dw_c.to(w_c.dtype), dw_q.to(w_q.dtype), dw_m.to(w_m.dtype)


def _check_same_device_and_dtype(video: torch.Tensor, **others: torch.Tensor) -> None:
    for name, t in others.items():
        if t.device != video.device:
            raise ValueError(f"cqa: {name} is on {t.device} but video is on {video.device}")
    if others["query"].dtype != video.dtype:
        raise TypeError(f"cqa: query dtype {others['query'].dtype} differs from video dtype {video.dtype}")


def cqa_features_triton(
    video: torch.Tensor, query: torch.Tensor, video_valid: torch.Tensor, query_valid: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor,
) -> torch.Tensor:
    """X = [A | C⊙A | C⊙Bq] (B, T, 3d), differentiable in video, query, w_c, w_q, w_m.

    Masks are (B, T) / (B, N) bool, True = valid.  Rows of padded clips are computed like any other row
    (the row softmax only masks words), as in ``kernels.cqa.reference.cqa_attend``.
    """
    _check_same_device_and_dtype(
        video, query=query, video_valid=video_valid, query_valid=query_valid, w_c=w_c, w_q=w_q, w_m=w_m
    )
    as_u8 = lambda valid: valid.to(torch.bool).contiguous().view(torch.uint8)
    return _CQAFeatures.apply(
        video.contiguous(), query.contiguous(), as_u8(video_valid), as_u8(query_valid),
        w_c.contiguous(), w_q.contiguous(), w_m.contiguous(),
    )


def cqa_triton(
    video: torch.Tensor, query: torch.Tensor, video_valid: torch.Tensor, query_valid: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor, proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None,
) -> torch.Tensor:
    """The full CQA block with the fused kernels: (B, T, d) out, zero on padded clips (same as the reference).

    Runs in :func:`kernels.policy.compute_dtype` (the autocast dtype under ``torch.autocast``).
    """
    B, T, d = video.shape
    clip_weight = video_valid.unsqueeze(-1).to(video.dtype)  # as the reference: fp32 video under autocast -> fp32 out
    dtype = compute_dtype(video)
    # autocast: every operand in its dtype, as the reference's matmuls do -- each one on its own (under bf16 autocast
    # the video may already be bf16 while the weights are fp32 parameters; the in-place addmm_ below takes no mix)
    if dtype != video.dtype or torch.is_autocast_enabled(video.device.type):
        video, query, w_c, w_q, w_m, proj_weight = (t.to(dtype) for t in (video, query, w_c, w_q, w_m, proj_weight))
        proj_bias = None if proj_bias is None else proj_bias.to(dtype)
    x = cqa_features_triton(video, query, video_valid, query_valid, w_c, w_q, w_m)
    w_video, w_features = proj_weight.split([d, 3 * d], dim=1)  # backward: one cat of the two weight grads
    out = F.linear(x.view(B * T, 3 * d), w_features, proj_bias)
    out.addmm_(video.reshape(B * T, d), w_video.t())  # += C W1ᵀ, accumulated by the GEMM (beta = 1)
    return out.view(B, T, proj_weight.shape[0]) * clip_weight
