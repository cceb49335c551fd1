"""The safe default (:mod:`kernels.probe`): "auto" runs a fused op only after its one-time check passed, and falls
back to the reference -- with one line saying why -- when the kernel is made to fail."""

import pytest
import torch
from torch import nn

import kernels
from kernels import probe, registry
from kernels.ms_lstm import op as ms_lstm_op
from kernels.ms_lstm.op import Recurrence

HIDDEN, DIM, SCALES = 16, 8, 2
LENGTHS = [6, 3]
CQA_B, CQA_T, CQA_N, CQA_D = 2, 10, 4, 32
WRONG_BY = 1.01  # a kernel 1% off: far above every tolerance of §8.5


@pytest.fixture(autouse=True)
def fresh_verdicts():
    probe.forget()
    yield
    probe.forget()


def interpreter_only(device: torch.device) -> None:
    if device.type != "cpu":
        pytest.skip("injects failures into the interpreter's kernels")


def ms_lstm_args():
    torch.manual_seed(3)
    encoders = [[nn.LSTM(DIM, HIDDEN, bidirectional=True, batch_first=True) for _ in range(SCALES)]]
    return [torch.randn(len(LENGTHS), LENGTHS[0], DIM)], torch.tensor(LENGTHS), encoders


def counted(run, calls):
    def wrapped(*args):
        calls.append(1)
        return run(*args)
    return wrapped


def check(op, fused, args):
    return probe.verified(op, fused, registry.get_backend("reference").ops[op].run, args)


def test_a_working_kernel_passes_once_and_the_verdict_is_cached(device, capsys):
    interpreter_only(device)
    calls = []
    fused = counted(registry.get_backend("triton").ops["ms_lstm"].run, calls)
    with torch.inference_mode():  # as in Localizer.predict: the check still runs its backward
        assert check("ms_lstm", fused, ms_lstm_args())
    first = len(calls)
    assert first > 0 and check("ms_lstm", fused, ms_lstm_args()) and len(calls) == first
    assert list(probe.verdicts().values()) == [None] and capsys.readouterr().err == ""


def test_cqa_passes_its_check(device):
    interpreter_only(device)
    torch.manual_seed(4)
    video, query = torch.randn(CQA_B, CQA_T, CQA_D), torch.randn(CQA_B, CQA_N, CQA_D)
    masks = (torch.ones(CQA_B, CQA_T, dtype=torch.bool), torch.ones(CQA_B, CQA_N, dtype=torch.bool))
    rest = (*(torch.randn(CQA_D) for _ in range(3)), torch.randn(CQA_D, 4 * CQA_D), torch.randn(CQA_D))
    assert check("cqa", registry.get_backend("triton").ops["cqa"].run, (video, query, *masks, *rest))


def test_a_kernel_that_raises_fails_its_check_with_one_line(device, capsys):
    interpreter_only(device)
    calls = []

    def broken(*args):
        calls.append(1)
        raise RuntimeError("PTX JIT compilation failed")

    assert not check("ms_lstm", broken, ms_lstm_args())
    assert not check("ms_lstm", broken, ms_lstm_args()) and len(calls) == 1  # cached: checked once
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "failed its one-time check" in lines[0] and "PTX JIT compilation failed" in lines[0]
    assert "--kernels reference" in lines[0]


def test_a_kernel_with_wrong_numbers_fails_its_check(device, capsys):
    interpreter_only(device)
    fused = registry.get_backend("triton").ops["ms_lstm"].run
    assert not check("ms_lstm", lambda *args: [y * WRONG_BY for y in fused(*args)], ms_lstm_args())
    assert "relative error" in capsys.readouterr().err


def test_auto_falls_back_to_the_reference_when_the_kernel_is_forced_to_fail(device, monkeypatch, capsys):
    """auto, allowed onto the interpreter here, with the v1 recurrence made to raise: the op still answers -- with
    the reference's result -- and says why once."""
    interpreter_only(device)

    def failing(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(registry, "_auto_device", lambda tensors: True)
    monkeypatch.setitem(ms_lstm_op.RECURRENCES, "v1", Recurrence(failing, failing))
    xs, lengths, encoders = ms_lstm_args()
    got = kernels.multi_scale_lstm(xs, lengths, encoders, backend="auto")
    want = kernels.multi_scale_lstm(xs, lengths, encoders, backend="reference")
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
    err = capsys.readouterr().err
    assert err.count("failed its one-time check") == 1 and "illegal memory access" in err
    kernels.multi_scale_lstm(xs, lengths, encoders, backend="auto")
    assert capsys.readouterr().err == ""  # the verdict is cached: no second check, no second line


def test_auto_uses_the_kernel_once_it_passed(device, monkeypatch):
    interpreter_only(device)
    calls = []
    monkeypatch.setattr(registry, "_auto_device", lambda tensors: True)
    v1 = ms_lstm_op.RECURRENCES["v1"]
    monkeypatch.setitem(ms_lstm_op.RECURRENCES, "v1", Recurrence(counted(v1.forward, calls), v1.backward))
    xs, lengths, encoders = ms_lstm_args()
    kernels.multi_scale_lstm(xs, lengths, encoders, backend="auto")
    checked = len(calls)
    kernels.multi_scale_lstm(xs, lengths, encoders, backend="auto")
    assert checked > 0 and len(calls) == checked + 1  # the check's calls once, then one call per op
