"""Context-query attention: the entry point :func:`context_query_attention`, kernel or reference behind it."""

from __future__ import annotations

import torch

from kernels.checks import check_mask, check_tensor, on_host
from kernels.registry import resolve

__all__ = ["context_query_attention"]


def context_query_attention(
    video: torch.Tensor, query: torch.Tensor, video_mask: torch.Tensor, query_mask: torch.Tensor,
    w_c: torch.Tensor, w_q: torch.Tensor, w_m: torch.Tensor, proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None = None, backend: str = "auto",
) -> torch.Tensor:
    """Context-query attention block (see :mod:`kernels.cqa.reference` for the math).

    Args:
        video: (B, T, d) clip features C.  query: (B, N, d) word features Q.
        video_mask: (B, T), query_mask: (B, N); 1/True = valid, each row needs a valid entry (checked when on the
            host; a device mask is not read back, and an all-invalid row then weighs its entries uniformly).
        w_c, w_q, w_m: (d,) trilinear weights.  proj_weight: (d, 4d), proj_bias: (d,) or None.
        backend: "auto" or a registered backend name (see :mod:`kernels.registry`).

    Returns:
        (B, T, d), zero on padded clips.
    """
    B, T, d = check_tensor("video", video, 3).shape
    N = check_tensor("query", query, 3, shape=(B, None, d)).shape[1]
    if N == 0:
        raise ValueError("query is empty (N = 0 words)")
    cm = check_mask("video_mask", video_mask, B, T, values=on_host(video_mask))  # device masks: no host sync
    qm = check_mask("query_mask", query_mask, B, N, values=on_host(query_mask))
    for name, w in (("w_c", w_c), ("w_q", w_q), ("w_m", w_m)):
        check_tensor(name, w, 1, shape=(d,))
    check_tensor("proj_weight", proj_weight, 2, shape=(None, 4 * d))
    if proj_bias is not None:
        check_tensor("proj_bias", proj_bias, 1, shape=(proj_weight.shape[0],))
    args = (video, query, cm, qm, w_c, w_q, w_m, proj_weight, proj_bias)
    return resolve(backend, "cqa", (video, query), *args).run(*args)
