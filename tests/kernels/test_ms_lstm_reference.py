"""The reference MS-LSTM against nn.LSTM run alone on every sample's every sub-sequence, on ``--device`` (on CUDA
the reference's packed cuDNN LSTMs; inputs drawn on the CPU and moved)."""

import pytest
import torch
from torch import nn

from kernels.ms_lstm.reference import ms_lstm_reference

DIM, HIDDEN = 12, 5
T = 11
LENGTHS = [11, 7, 1, 4]  # ragged, not multiples of the scales, a length-1 sample
ATOL = 1e-6


def per_subsequence_oracle(x: torch.Tensor, lengths: list[int], lstm: nn.LSTM, stride: int) -> torch.Tensor:
    """Run ``lstm`` separately on each sub-sequence j, j+s, ... < L_b and scatter back; zeros elsewhere."""
    out = torch.zeros(x.shape[0], x.shape[1], 2 * lstm.hidden_size, dtype=x.dtype, device=x.device)
    for b, length in enumerate(lengths):
        for j in range(min(stride, length)):
            frames = torch.arange(j, length, stride)
            y, _ = lstm(x[b, frames].unsqueeze(0))
            out[b, frames] = y[0]
    return out


@pytest.mark.parametrize("num_scales", [1, 2, 3, 4])
def test_matches_each_subsequence_run_alone(num_scales, device):
    torch.manual_seed(num_scales)
    lstms = [nn.LSTM(DIM, HIDDEN, bidirectional=True, batch_first=True).double().to(device)
             for _ in range(num_scales)]
    x = torch.randn(len(LENGTHS), T, DIM, dtype=torch.float64).to(device)
    (out,) = ms_lstm_reference([x], torch.tensor(LENGTHS).to(device), [lstms])
    expected = torch.cat(
        [per_subsequence_oracle(x, LENGTHS, lstm, stride) for stride, lstm in enumerate(lstms, start=1)], dim=-1
    )
    assert out.shape == (len(LENGTHS), T, num_scales * 2 * HIDDEN)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_several_encoders_are_independent(device):
    torch.manual_seed(0)
    encoders = [[nn.LSTM(DIM, HIDDEN, bidirectional=True, batch_first=True).to(device) for _ in range(2)]
                for _ in range(3)]
    xs = [torch.randn(2, T, DIM).to(device) for _ in range(3)]
    lengths = torch.tensor([T, 6]).to(device)
    together = ms_lstm_reference(xs, lengths, encoders)
    for x, lstms, out in zip(xs, encoders, together, strict=True):
        torch.testing.assert_close(out, ms_lstm_reference([x], lengths, [lstms])[0])


def test_reverse_direction_starts_at_last_valid_frame(device):
    """Garbage after L_b must not reach the backward direction (the authors' code lets it)."""
    torch.manual_seed(1)
    lstm = nn.LSTM(DIM, HIDDEN, bidirectional=True, batch_first=True).to(device)
    x = torch.randn(1, T, DIM).to(device)
    noisy = x.clone()
    noisy[:, 5:] = 1e3
    lengths = torch.tensor([5]).to(device)
    (a,) = ms_lstm_reference([x], lengths, [[lstm]])
    (b,) = ms_lstm_reference([noisy], lengths, [[lstm]])
    torch.testing.assert_close(a, b)
    assert a[:, 5:].abs().max() == 0
