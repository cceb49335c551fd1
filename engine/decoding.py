"""Span decoding and the clip-index <-> seconds conversions (docs/design.md §2.6, §2.7)."""

from __future__ import annotations

import torch

from kernels.checks import check_mask, check_tensor


def span_scores(
    start_logits: torch.Tensor, end_logits: torch.Tensor, mask: torch.Tensor, max_len: int | None = None
) -> torch.Tensor:
    """(B, T, T) joint scores ``P_s(s) * P_e(e)`` on valid ``s <= e < s + max_len``, -1 elsewhere."""
    B, T = check_tensor("start_logits", start_logits, 2).shape
    check_tensor("end_logits", end_logits, 2, shape=(B, T))
    valid = check_mask("mask", mask, B, T)
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be >= 1 clip, got {max_len}")
    p_s = start_logits.float().masked_fill(~valid, float("-inf")).softmax(-1)
    p_e = end_logits.float().masked_fill(~valid, float("-inf")).softmax(-1)
    joint = p_s.unsqueeze(2) * p_e.unsqueeze(1)
    idx = torch.arange(T, device=joint.device)
    width = idx[None, :] - idx[:, None]  # e - s
    allowed = (width >= 0) & (width < (max_len if max_len is not None else T))
    allowed = allowed & valid[:, :, None] & valid[:, None, :]
    return joint.masked_fill(~allowed, -1.0)


def topk_spans(
    start_logits: torch.Tensor, end_logits: torch.Tensor, mask: torch.Tensor, k: int = 1, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best (start_idx, end_idx, score), each (B, k), best first."""
    joint = span_scores(start_logits, end_logits, mask, max_len)
    T = joint.shape[-1]
    score, flat = joint.flatten(1).topk(min(k, T * T), dim=1)
    return flat // T, flat % T, score


def decode_spans(
    start_logits: torch.Tensor, end_logits: torch.Tensor, mask: torch.Tensor, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``argmax_{s <= e} P_s(s) * P_e(e)`` per sample: (start_idx, end_idx, score), each (B,)."""
    s, e, score = topk_spans(start_logits, end_logits, mask, 1, max_len)
    return s[:, 0], e[:, 0], score[:, 0]


def index_to_seconds(start_idx: torch.Tensor, end_idx: torch.Tensor, num_clips: torch.Tensor, duration: torch.Tensor):
    """Clip indices -> seconds: ``t_s = s * dur / L``, ``t_e = (e + 1) * dur / L``."""
    scale = duration.double() / num_clips.double()
    return start_idx.double() * scale, (end_idx.double() + 1) * scale


def seconds_to_index(start_s: float, end_s: float, num_clips: int, duration: float) -> tuple[int, int]:
    """Seconds -> label clip indices: ``s = int(st*L/dur)``, ``e = min(int(et*L/dur), L-1)``, ``s <= e``."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    s = max(int(start_s * num_clips / duration), 0)
    e = min(int(end_s * num_clips / duration), num_clips - 1)
    return min(s, e), e


def temporal_iou(spans_a: torch.Tensor, spans_b: torch.Tensor) -> torch.Tensor:
    """(n, m) IoU of (n, 2) and (m, 2) ``[start, end]`` spans (any unit; an empty union gives 0)."""
    a, b = spans_a.double(), spans_b.double()
    inter = (torch.minimum(a[:, None, 1], b[None, :, 1]) - torch.maximum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def temporal_nms(
    spans: torch.Tensor, scores: torch.Tensor, iou_threshold: float, k: int | None = None,
    demoted: torch.Tensor | None = None,
) -> torch.Tensor:
    """Greedy temporal non-maximum suppression: indices of the kept spans, best score first (at most ``k``).

    Spans are visited by decreasing score (ties: lower index first); a span is dropped when its IoU with a
    span already kept is ``>= iou_threshold`` (so ``iou_threshold=1`` drops exact duplicates only).
    ``demoted`` (n,) bool marks spans that may be truncated (cut by a window's edge inside the video): they
    are visited after all the others and are also dropped when ``>= iou_threshold`` of their length lies
    inside a kept span, so a moment seen whole by one window beats its cut-off part seen by the next.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if spans.dim() != 2 or spans.shape[1] != 2 or scores.shape != spans.shape[:1]:
        raise ValueError(f"spans must be (n, 2) and scores (n,), got {tuple(spans.shape)} and {tuple(scores.shape)}")
    spans, scores = spans.double(), scores.double()
    demoted = torch.zeros(len(scores), dtype=torch.bool) if demoted is None else demoted.bool().cpu()
    by_score = torch.sort(scores, descending=True, stable=True).indices
    order = torch.cat([by_score[~demoted[by_score]], by_score[demoted[by_score]]])
    kept: list[int] = []
    for i in order.tolist():
        if kept:
            others = spans[kept]
            overlap = temporal_iou(spans[i:i + 1], others)[0]
            if demoted[i]:
                inside = torch.minimum(spans[i, 1], others[:, 1]) - torch.maximum(spans[i, 0], others[:, 0])
                overlap = torch.maximum(overlap, inside.clamp(min=0) / (spans[i, 1] - spans[i, 0]).clamp(min=1e-12))
            if bool((overlap >= iou_threshold).any()):
                continue
        kept.append(i)
        if k is not None and len(kept) >= k and not demoted.any():
            break  # without demoted spans the visit order is the score order: the first k are the answer
    result = torch.tensor(kept, dtype=torch.int64)
    result = result[torch.sort(scores[result], descending=True, stable=True).indices]
    return result if k is None else result[:k]
