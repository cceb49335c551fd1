"""Reference strided multi-scale bidirectional LSTM (the oracle for the fused kernel).

Math (docs/design.md §2.1). For an encoder with scales s = 1..S, sample b of valid length L_b and
sub-sequence j in [0, s): ``out_s[b, j::s][:n] = BiLSTM_s(x[b, j::s][:n])`` with
``n = ceil((L_b - j) / s)`` -- each sub-sequence is run alone at its true length, so the reverse
direction starts at its last *valid* frame.  Padded frames are zero.  Output concatenates the
scales: ``(B, T, S * 2H)`` laid out ``[s=1 fwd | s=1 bwd | s=2 fwd | ...]``.

What a competent PyTorch user writes: the ``s`` sub-sequences of a scale are folded into the
batch (a free reshape after padding T to a multiple of s) and go through cuDNN as one packed call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def subsequence_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """(B,) valid lengths -> (B, stride) lengths of the sub-sequences j, j+s, j+2s, ... < L_b."""
    j = torch.arange(stride, device=lengths.device)
    return ((lengths[:, None] - j + stride - 1) // stride).clamp(min=0)


def strided_bilstm(x: torch.Tensor, lengths: torch.Tensor, lstm: nn.LSTM, stride: int) -> torch.Tensor:
    """One scale: (B, T, D) -> (B, T, 2H), the stride's sub-sequences folded into one packed batch."""
    B, T, D = x.shape
    steps = (T + stride - 1) // stride  # not -(-T // s): ONNX export traces // as truncating Div
    x = nn.functional.pad(x, (0, 0, 0, steps * stride - T))
    # (B, steps, s, D) -> (B, s, steps, D): row b*s + j holds frames j, j+s, j+2s, ...
    sub = x.view(B, steps, stride, D).transpose(1, 2).reshape(B * stride, steps, D)
    sub_len = subsequence_lengths(lengths, stride).reshape(-1)
    # empty sub-sequences (L_b <= j) run one step on padding; the frame mask below zeroes them
    packed = pack_padded_sequence(sub, sub_len.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
    out = out.view(B, stride, steps, -1).transpose(1, 2).reshape(B, steps * stride, -1)
    return out[:, :T]


def ms_lstm_reference(
    xs: Sequence[torch.Tensor], lengths: torch.Tensor, encoders: Sequence[Sequence[nn.LSTM]]
) -> list[torch.Tensor]:
    """For each encoder e: ``concat_s strided_bilstm(xs[e], lstm=encoders[e][s-1], stride=s)``."""
    valid = (torch.arange(xs[0].shape[1], device=lengths.device) < lengths[:, None]).unsqueeze(-1)
    outs = []
    for x, lstms in zip(xs, encoders, strict=True):
        scales = [strided_bilstm(x, lengths, lstm, stride) for stride, lstm in enumerate(lstms, start=1)]
        outs.append(torch.cat(scales, dim=-1) * valid.to(x.dtype))
    return outs
