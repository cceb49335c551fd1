"""The built-in backends: ``"reference"`` (PyTorch), ``"triton"`` (the fused kernels) and ``"triton-v2"`` (the
same, with the MS-LSTM recurrence v2 -- weights resident on chip -- where it fits the device; an explicit opt-in
until it is measured on a GPU, so it declares no ``auto_priority``).

The Triton implementations are imported on first use: Triton may be absent, and ``TRITON_INTERPRET`` must be
set before a kernel is defined.  Limits come from :mod:`kernels.policy`, which needs no Triton.
"""

from __future__ import annotations

from typing import Any

from kernels import policy, registry
from kernels.cqa.reference import cqa_reference
from kernels.ms_lstm.reference import ms_lstm_reference
from kernels.registry import Backend, OpImpl, register_backend


def _ms_lstm_triton(*args: Any) -> Any:
    from kernels.ms_lstm.op import ms_lstm_triton

    return ms_lstm_triton(*args)


def _ms_lstm_triton_v2(*args: Any) -> Any:
    from kernels.ms_lstm.op import ms_lstm_triton

    return ms_lstm_triton(*args, recurrence="v2")


def _cqa_triton(*args: Any) -> Any:
    from kernels.cqa.op import cqa_triton

    return cqa_triton(*args)


def _ms_lstm_limits(xs, lengths, encoders) -> str | None:
    return policy.ms_lstm_limits(xs, encoders)


def _cqa_limits(video, query, *rest) -> str | None:
    (_, T, d), N = video.shape, query.shape[1]
    return policy.cqa_limits(T, N, d, policy.compute_dtype(video))


REFERENCE = Backend(
    registry.REFERENCE, "plain PyTorch (cuDNN LSTMs), any device",
    {"ms_lstm": OpImpl(ms_lstm_reference), "cqa": OpImpl(cqa_reference)},
)
TRITON = Backend(
    "triton", "the fused Triton kernels (CUDA, or TRITON_INTERPRET=1 on CPU)",
    {"ms_lstm": OpImpl(_ms_lstm_triton, _ms_lstm_limits), "cqa": OpImpl(_cqa_triton, _cqa_limits)},
    needs_triton=True, auto_priority=1,  # "auto" runs it where it passed its check
)
TRITON_V2 = Backend(
    "triton-v2", "the fused Triton kernels, MS-LSTM recurrence v2 (resident weights; v1 where it does not fit)",
    {"ms_lstm": OpImpl(_ms_lstm_triton_v2, _ms_lstm_limits), "cqa": OpImpl(_cqa_triton, _cqa_limits)},
    needs_triton=True,
)
for _backend in (REFERENCE, TRITON, TRITON_V2):
    register_backend(_backend)
