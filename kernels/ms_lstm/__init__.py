"""Strided multi-scale bidirectional LSTM: the entry point :func:`multi_scale_lstm`, kernel or reference behind it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kernels.checks import check_lengths, check_tensor, on_host
from kernels.registry import resolve

__all__ = ["check_ms_lstm_args", "multi_scale_lstm"]


def check_ms_lstm_args(
    xs: Sequence[torch.Tensor], lengths: torch.Tensor, encoders: Sequence[Sequence[nn.LSTM]]
) -> None:
    if len(xs) == 0 or len(xs) != len(encoders):
        raise ValueError(f"ms_lstm: got {len(xs)} inputs for {len(encoders)} encoders (need >= 1, equal)")
    B, T, D = check_tensor("xs[0]", xs[0], 3).shape
    for e, (x, lstms) in enumerate(zip(xs, encoders, strict=True)):
        check_tensor(f"xs[{e}]", x, 3, shape=(B, T, D))
        if len(lstms) == 0:
            raise ValueError(f"ms_lstm: encoders[{e}] has no scales")
        for s, lstm in enumerate(lstms):
            where = f"encoders[{e}][{s}]"
            if not isinstance(lstm, nn.LSTM):
                raise TypeError(f"{where} must be torch.nn.LSTM, got {type(lstm).__name__}")
            if not (lstm.bidirectional and lstm.batch_first and lstm.num_layers == 1 and lstm.bias):
                raise ValueError(f"{where} must be a 1-layer bidirectional batch_first LSTM with biases")
            if lstm.input_size != D or lstm.proj_size:
                raise ValueError(
                    f"{where} takes input_size {lstm.input_size} (proj_size {lstm.proj_size}); xs have D={D}"
                )
    check_lengths("lengths", lengths, B, T, values=on_host(lengths))  # no host sync: the kernels clamp to [0, T]


def multi_scale_lstm(
    xs: Sequence[torch.Tensor],
    lengths: torch.Tensor,
    encoders: Sequence[Sequence[nn.LSTM]],
    backend: str = "auto",
) -> list[torch.Tensor]:
    """Run E multi-scale BiLSTM encoders over their (B, T, D) inputs with per-sample lengths.

    Args:
        xs: E inputs of shape (B, T, D) (e.g. the LayerNormed inputs of the Q, K, V encoders).
        lengths: (B,) int64 valid lengths, 1 <= L_b <= T (checked when on the host; device lengths are not read
            back -- that would be a sync per call -- and the kernels clamp them to [0, T]).
        encoders: E sequences of S ``nn.LSTM(D, H, bidirectional=True, batch_first=True)``; the
            LSTM at index s-1 runs at stride s.
        backend: "auto" or a registered backend name (see :mod:`kernels.registry`).

    Returns:
        E tensors (B, T, S*2H): per scale the forward then backward hidden states; padding is zero.
    """
    check_ms_lstm_args(xs, lengths, encoders)
    return resolve(backend, "ms_lstm", (*xs, lengths), xs, lengths, encoders).run(xs, lengths, encoders)
