"""Span decoding vs brute force; seconds <-> clip index conversions; temporal NMS vs greedy NMS."""

import itertools

import pytest
import torch

from engine import decode_spans, index_to_seconds, seconds_to_index, topk_spans
from engine.decoding import temporal_iou, temporal_nms

B, T = 6, 9
LENGTHS = [9, 5, 1, 9, 7, 3]


def brute_force(p_s, p_e, length, max_len=None):
    best = (-1.0, None, None)
    for s, e in itertools.product(range(length), repeat=2):
        if s <= e and (max_len is None or e - s < max_len):
            score = float(p_s[s] * p_e[e])
            if score > best[0]:
                best = (score, s, e)
    return best


@pytest.mark.parametrize("max_len", [None, 1, 3])
def test_decode_matches_brute_force(max_len):
    torch.manual_seed(0 if max_len is None else max_len)
    start, end = torch.randn(B, T) * 3, torch.randn(B, T) * 3
    mask = torch.arange(T) < torch.tensor(LENGTHS)[:, None]
    s_idx, e_idx, score = decode_spans(start, end, mask, max_len=max_len)
    for b, length in enumerate(LENGTHS):
        p_s = torch.softmax(start[b, :length].double(), 0)
        p_e = torch.softmax(end[b, :length].double(), 0)
        best_score, s, e = brute_force(p_s, p_e, length, max_len)
        assert (int(s_idx[b]), int(e_idx[b])) == (s, e)
        assert float(score[b]) == pytest.approx(best_score, rel=1e-5)


def test_topk_is_sorted_and_valid():
    torch.manual_seed(1)
    mask = torch.arange(T) < torch.tensor(LENGTHS)[:, None]
    s, e, score = topk_spans(torch.randn(B, T), torch.randn(B, T), mask, k=4)
    assert (score[:, :-1] >= score[:, 1:]).all()
    for b in range(B):
        valid = score[b] >= 0
        assert (s[b][valid] <= e[b][valid]).all() and (e[b][valid] < LENGTHS[b]).all()


def test_conversions_follow_the_design_notes():
    assert seconds_to_index(3.0, 7.9, num_clips=10, duration=10.0) == (3, 7)
    assert seconds_to_index(9.5, 12.0, num_clips=10, duration=10.0) == (9, 9)  # end clipped to L-1
    assert seconds_to_index(8.0, 8.01, num_clips=4, duration=10.0) == (3, 3)
    st, et = index_to_seconds(torch.tensor([3]), torch.tensor([7]), torch.tensor([10]), torch.tensor([20.0]))
    assert (float(st), float(et)) == (6.0, 16.0)
    with pytest.raises(ValueError, match="duration"):
        seconds_to_index(0.0, 1.0, 10, 0.0)


def brute_force_nms(spans, scores, threshold):
    """Textbook greedy NMS in plain Python: the oracle of temporal_nms."""
    def iou(a, b):
        inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
        union = (a[1] - a[0]) + (b[1] - b[0]) - inter
        return inter / union if union > 0 else 0.0

    kept = []
    for i in sorted(range(len(spans)), key=lambda j: (-scores[j], j)):
        if all(iou(spans[i], spans[j]) < threshold for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("threshold", [0.3, 0.5, 1.0])
def test_temporal_nms_matches_greedy_nms(threshold):
    generator = torch.Generator().manual_seed(int(threshold * 10))
    starts = torch.randint(0, 20, (40,), generator=generator).double()
    spans = torch.stack([starts, starts + torch.randint(1, 8, (40,), generator=generator)], 1)
    spans[5] = spans[3]  # an exact duplicate
    scores = torch.rand(40, generator=generator)
    want = brute_force_nms(spans.tolist(), scores.tolist(), threshold)
    assert temporal_nms(spans, scores, threshold).tolist() == want
    assert temporal_nms(spans, scores, threshold, k=3).tolist() == want[:3]
    assert 5 not in want or 3 not in want  # the duplicate never survives with its twin


def test_temporal_iou_and_nms_edge_cases():
    a = torch.tensor([[0.0, 4.0], [2.0, 6.0], [10.0, 12.0]])
    iou = temporal_iou(a, a)
    assert torch.allclose(torch.diag(iou), torch.ones(3, dtype=torch.float64))
    assert iou[0, 1] == pytest.approx(2 / 6) and iou[0, 2] == 0.0
    assert temporal_nms(a, torch.tensor([0.5, 0.9, 0.1]), 0.3).tolist() == [1, 2]  # 0 overlaps 1 by 1/3
    assert temporal_nms(a, torch.tensor([0.5, 0.9, 0.1]), 0.4).tolist() == [1, 0, 2]
    assert temporal_nms(a[:0], torch.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match="iou_threshold"):
        temporal_nms(a, torch.ones(3), 0.0)


def test_demoted_spans_yield_to_the_whole_moment():
    """A window-cut part of a moment (demoted) loses to the moment seen whole, even with a higher score and
    an IoU under the threshold; a demoted span that overlaps nothing is kept, ranked by its score."""
    spans = torch.tensor([[70.0, 78.0], [76.0, 78.0], [10.0, 12.0]])
    scores = torch.tensor([0.6, 0.9, 0.95])
    demoted = torch.tensor([False, True, True])
    assert temporal_nms(spans, scores, 0.5).tolist() == [2, 1, 0]  # plain NMS keeps the part (IoU 0.25)
    assert temporal_nms(spans, scores, 0.5, demoted=demoted).tolist() == [2, 0]
    assert temporal_nms(spans, scores, 0.5, k=1, demoted=demoted).tolist() == [2]
