"""Span decoding vs brute force; seconds <-> clip index conversions."""

import itertools

import pytest
import torch

from engine import decode_spans, index_to_seconds, seconds_to_index, topk_spans

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


def test_conversions_follow_the_spec():
    assert seconds_to_index(3.0, 7.9, num_clips=10, duration=10.0) == (3, 7)
    assert seconds_to_index(9.5, 12.0, num_clips=10, duration=10.0) == (9, 9)  # end clipped to L-1
    assert seconds_to_index(8.0, 8.01, num_clips=4, duration=10.0) == (3, 3)
    st, et = index_to_seconds(torch.tensor([3]), torch.tensor([7]), torch.tensor([10]), torch.tensor([20.0]))
    assert (float(st), float(et)) == (6.0, 16.0)
    with pytest.raises(ValueError, match="duration"):
        seconds_to_index(0.0, 1.0, 10, 0.0)
