"""Fused Triton MS-LSTM (TRITON_INTERPRET=1 on CPU) against the reference: outputs and every gradient."""

import copy

import pytest
import torch
from torch import nn

import kernels
from kernels import UnsupportedInput
from kernels.ms_lstm.op import MsLstmFunction
from kernels.policy import ms_lstm_flops

T = 13
LENGTHS = [13, 7, 1]  # ragged, not multiples of the scales, a length-1 sample (empty sub-sequences at s > 1)
REL_TOL = {torch.float32: 1e-5, torch.float16: 1e-2}
# (dtype, encoders E, scales S, input dim D -> hidden D/2): S = 1..4, E = 1 and the Q/K/V triple
PARITY_CASES = [
    (torch.float32, 1, 3, 32),
    (torch.float32, 3, 2, 64),
    (torch.float16, 3, 4, 32),
    (torch.float16, 1, 1, 64),
]


def make_encoders(num_encoders: int, num_scales: int, dim: int) -> list[list[nn.LSTM]]:
    return [
        [nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True) for _ in range(num_scales)]
        for _ in range(num_encoders)
    ]


def parameters(encoders: list[list[nn.LSTM]]) -> list[nn.Parameter]:
    return [p for lstms in encoders for lstm in lstms for p in lstm.parameters()]


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|, NaN when got has a non-finite entry (so it never passes)."""
    if not torch.isfinite(got).all():
        return float("nan")
    return ((got.double() - want.double()).abs().max() / want.double().abs().max()).item()


def outputs_and_grads(xs, lengths, encoders, backend, upstream):
    outs = kernels.multi_scale_lstm(xs, lengths, encoders, backend=backend)
    grads = torch.autograd.grad(outs, [*xs, *parameters(encoders)], upstream)
    return outs, grads


@pytest.mark.parametrize("dtype,num_encoders,num_scales,dim", PARITY_CASES)
def test_forward_and_all_gradients_match_reference(dtype, num_encoders, num_scales, dim):
    """The fp32 reference runs on the same (dtype-rounded) inputs and weights: it is the exact answer."""
    torch.manual_seed(num_scales * 10 + num_encoders)
    lengths = torch.tensor(LENGTHS)
    encoders = make_encoders(num_encoders, num_scales, dim)
    for p in parameters(encoders):
        p.data = p.data.to(dtype).float()
    xs = [torch.randn(len(LENGTHS), T, dim).to(dtype).float().requires_grad_() for _ in range(num_encoders)]
    upstream = [torch.randn(len(LENGTHS), T, num_scales * dim) for _ in range(num_encoders)]
    want_outs, want_grads = outputs_and_grads(xs, lengths, encoders, "reference", upstream)

    low_encoders = [[copy.deepcopy(lstm).to(dtype) for lstm in lstms] for lstms in encoders]
    low_xs = [x.detach().to(dtype).requires_grad_() for x in xs]
    low_upstream = [u.to(dtype) for u in upstream]
    got_outs, got_grads = outputs_and_grads(low_xs, lengths, low_encoders, "triton", low_upstream)

    names = [f"xs[{e}]" for e in range(num_encoders)]
    names += [f"{i}:{name}" for i, lstm in enumerate(lstm for ls in encoders for lstm in ls)
              for name, _ in lstm.named_parameters()]
    for e, (got, want) in enumerate(zip(got_outs, want_outs, strict=True)):
        assert got.dtype == dtype and got.shape == want.shape
        assert rel_err(got, want) <= REL_TOL[dtype], f"output {e}: rel err {rel_err(got, want):.2e}"
        assert got[1, LENGTHS[1]:].abs().max() == 0 and got[2, LENGTHS[2]:].abs().max() == 0, "padding not zero"
    for name, got, want in zip(names, got_grads, want_grads, strict=True):
        assert got.dtype == dtype
        assert rel_err(got, want) <= REL_TOL[dtype], f"grad {name}: rel err {rel_err(got, want):.2e}"


def test_gradcheck_float64():
    """The interpreter does fp64 tl.dot, so the autograd op's backward is checked against finite differences."""
    torch.manual_seed(3)
    num_scales, batch, frames, dim, hidden = 2, 2, 5, 3, 2
    sets = 2 * num_scales
    x = torch.randn(1, batch, frames, dim, dtype=torch.float64, requires_grad=True)
    w_ih = torch.randn(1, sets * 4 * hidden, dim, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(sets, 4 * hidden, hidden, dtype=torch.float64, requires_grad=True)
    b_ih, b_hh = (torch.randn(1, sets * 4 * hidden, dtype=torch.float64, requires_grad=True) for _ in range(2))
    lengths = torch.tensor([frames, 2], dtype=torch.int32)

    def op(x, w_ih, w_hh, b_ih, b_hh):
        return MsLstmFunction.apply(x, lengths, w_ih, w_hh, b_ih, b_hh, num_scales, torch.float64, True)

    assert torch.autograd.gradcheck(op, (x, w_ih, w_hh, b_ih, b_hh), fast_mode=True)


def test_bias_gradients_do_not_alias():
    """In-place gradient clipping must scale bias_ih and bias_hh once each, as with the reference."""
    torch.manual_seed(4)
    lstm = nn.LSTM(16, 16, bidirectional=True, batch_first=True)
    x = torch.randn(2, 5, 16)
    (y,) = kernels.multi_scale_lstm([x], torch.tensor([5, 3]), [[lstm]], backend="triton")
    y.square().sum().backward()
    expected = lstm.bias_hh_l0.grad.clone()
    lstm.bias_ih_l0.grad.mul_(0.5)
    torch.testing.assert_close(lstm.bias_hh_l0.grad, expected)


def test_autocast_runs_in_low_precision_with_fp32_weight_grads():
    torch.manual_seed(5)
    lengths = torch.tensor(LENGTHS)
    encoders = make_encoders(1, 2, 32)
    x = torch.randn(len(LENGTHS), T, 32, requires_grad=True)
    upstream = [torch.randn(len(LENGTHS), T, 2 * 32)]
    want_outs, want_grads = outputs_and_grads([x], lengths, encoders, "reference", upstream)
    with torch.autocast("cpu", dtype=torch.float16):
        got_outs, got_grads = outputs_and_grads([x], lengths, encoders, "triton", upstream)
    assert got_outs[0].dtype == torch.float16
    assert rel_err(got_outs[0], want_outs[0]) <= REL_TOL[torch.float16]
    for got, want in zip(got_grads, want_grads, strict=True):
        assert got.dtype == torch.float32
        assert rel_err(got, want) <= REL_TOL[torch.float16]


@pytest.mark.parametrize(
    "scales_per_encoder,hidden,message",
    [([1], 300, "hidden size 300 exceeds"), ([2, 1], 8, "encoders[1] has 1 scales")],
)
def test_triton_backend_rejects_unsupported_input(scales_per_encoder, hidden, message):
    dim = 8
    encoders = [[nn.LSTM(dim, hidden, bidirectional=True, batch_first=True) for _ in range(s)]
                for s in scales_per_encoder]
    xs = [torch.randn(1, 4, dim) for _ in encoders]
    with pytest.raises(UnsupportedInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        kernels.multi_scale_lstm(xs, torch.tensor([4]), encoders, backend="triton")


def graph_nodes(tensor: torch.Tensor) -> set[str]:
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node.name() not in seen:
            seen.add(node.name())
            stack.extend(next_fn for next_fn, _ in node.next_functions)
    return seen


def test_auto_on_cpu_tensors_uses_the_reference():
    torch.manual_seed(7)
    encoders = make_encoders(1, 2, 16)
    xs = [torch.randn(2, 6, 16, requires_grad=True)]
    lengths = torch.tensor([6, 3])
    (auto,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend="auto")
    (reference,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend="reference")
    (fused,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend="triton")
    assert torch.equal(auto, reference)
    assert "MsLstmFunctionBackward" in graph_nodes(fused)
    assert "MsLstmFunctionBackward" not in graph_nodes(auto)


def test_no_grad_forward_matches_the_training_forward():
    """Under no_grad the kernel skips storing gates and cell states; the output must not change."""
    torch.manual_seed(8)
    encoders = make_encoders(2, 3, 16)
    xs = [torch.randn(2, 9, 16) for _ in encoders]
    lengths = torch.tensor([9, 4])
    training = kernels.multi_scale_lstm(xs, lengths, encoders, backend="triton")
    with torch.no_grad():
        inference = kernels.multi_scale_lstm(xs, lengths, encoders, backend="triton")
    for got, want in zip(inference, training, strict=True):
        assert got.grad_fn is None and want.grad_fn is not None
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_flop_count_formula():
    """Forward: 2 FLOPs x (4H x D + 4H x H) per frame per weight set; backward twice that."""
    B, T_, D, H, S, E = 2, 5, 8, 4, 3, 2
    per_frame = 2 * (4 * H * D + 4 * H * H)
    assert ms_lstm_flops(B, T_, D, H, S, E) == E * S * 2 * B * T_ * per_frame
    assert ms_lstm_flops(B, T_, D, H, S, E, backward=True) == 2 * E * S * 2 * B * T_ * per_frame
