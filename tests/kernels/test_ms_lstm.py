"""Fused Triton MS-LSTM against the reference: outputs and every gradient, on ``--device`` (default CPU through
TRITON_INTERPRET=1; ``--device cuda`` compiles the kernels and adds bf16 and the benchmark shapes).

Inputs and weights are drawn on the CPU (seeded) and moved, so the numbers do not depend on the device's RNG.
"""

import copy

import pytest
import torch
from torch import nn

import kernels
from kernels import UnsupportedInput
from kernels.ms_lstm.op import MsLstmFunction
from kernels.parity import FP32_TF32_TOL, rel_err, tied_tolerance, tolerance
from kernels.policy import ms_lstm_flops
from tests.kernels import float32_matmul, ragged_lengths

T = 13
LENGTHS = [13, 7, 1]  # ragged, not multiples of the scales, a length-1 sample (empty sub-sequences at s > 1)
cuda_only = pytest.mark.cuda_only
# (dtype, encoders E, scales S, input dim D -> hidden D/2): S = 1..4, E = 1 and the Q/K/V triple
PARITY_CASES = [
    (torch.float32, 1, 3, 32),
    (torch.float32, 3, 2, 64),
    (torch.float16, 3, 4, 32),
    (torch.float16, 1, 1, 64),
    pytest.param(torch.bfloat16, 3, 4, 32, marks=cuda_only),  # the interpreter's bf16 tl.dot is wrong: CUDA only
    pytest.param(torch.bfloat16, 1, 1, 64, marks=cuda_only),
]
# the benchmark's shapes (bench.suites.kernels GPU_SHAPES): B = 16, T = 256, D = 512 -> H = 256, S = 3, Q/K/V
BENCH_B, BENCH_T, BENCH_D, BENCH_S, BENCH_E = 16, 256, 512, 3, 3
BENCH_CASES = [  # (dtype, TF32)
    pytest.param(torch.float32, False, id="fp32"),
    pytest.param(torch.float32, True, id="fp32-tf32"),
    pytest.param(torch.float16, False, id="fp16"),
    pytest.param(torch.bfloat16, False, id="bf16"),
]


@pytest.fixture(autouse=True)
def tf32_off():
    """fp32 parity is measured with TF32 off (kernel dots, cuBLAS and cuDNN); restored after each test."""
    with float32_matmul(False):
        yield


def make_encoders(num_encoders: int, num_scales: int, dim: int) -> list[list[nn.LSTM]]:
    return [
        [nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True) for _ in range(num_scales)]
        for _ in range(num_encoders)
    ]


def parameters(encoders: list[list[nn.LSTM]]) -> list[nn.Parameter]:
    return [p for lstms in encoders for lstm in lstms for p in lstm.parameters()]


def outputs_and_grads(xs, lengths, encoders, backend, upstream):
    outs = kernels.multi_scale_lstm(xs, lengths, encoders, backend=backend)
    grads = torch.autograd.grad(outs, [*xs, *parameters(encoders)], upstream)
    return outs, grads


def assert_parity(dtype, num_encoders, num_scales, dim, lengths, frames, device, seed, tol):
    """The fp32 reference runs on the same (dtype-rounded) inputs and weights: it is the exact answer."""
    torch.manual_seed(seed)
    encoders = make_encoders(num_encoders, num_scales, dim)
    for p in parameters(encoders):
        p.data = p.data.to(dtype).float()
    xs = [torch.randn(len(lengths), frames, dim).to(dtype).float() for _ in range(num_encoders)]
    upstream = [torch.randn(len(lengths), frames, num_scales * dim) for _ in range(num_encoders)]
    encoders = [[lstm.to(device) for lstm in lstms] for lstms in encoders]
    xs = [x.to(device).requires_grad_() for x in xs]
    upstream = [u.to(device) for u in upstream]
    lengths_t = torch.tensor(lengths).to(device)
    want_outs, want_grads = outputs_and_grads(xs, lengths_t, encoders, "reference", upstream)

    low_encoders = [[copy.deepcopy(lstm).to(dtype) for lstm in lstms] for lstms in encoders]
    low_xs = [x.detach().to(dtype).requires_grad_() for x in xs]
    low_upstream = [u.to(dtype) for u in upstream]
    if dtype in (torch.float16, torch.bfloat16) and device.type == "cuda":  # cuDNN's own error in this dtype, now
        ref_outs, ref_grads = outputs_and_grads(low_xs, lengths_t, low_encoders, "reference", low_upstream)
        cudnn_err = max(rel_err(g.float(), w) for g, w in zip([*ref_outs, *ref_grads], [*want_outs, *want_grads],
                                                                 strict=True))
        tol = max(tol, tied_tolerance(cudnn_err))  # the documented tolerance, or tied to cuDNN's own error
    got_outs, got_grads = outputs_and_grads(low_xs, lengths_t, low_encoders, "triton", low_upstream)

    names = [f"xs[{e}]" for e in range(num_encoders)]
    names += [f"{i}:{name}" for i, lstm in enumerate(lstm for ls in encoders for lstm in ls)
              for name, _ in lstm.named_parameters()]
    for e, (got, want) in enumerate(zip(got_outs, want_outs, strict=True)):
        assert got.dtype == dtype and got.shape == want.shape and got.device == want.device
        assert rel_err(got, want) <= tol, f"output {e}: rel err {rel_err(got, want):.2e}"
        for b, length in enumerate(lengths):
            assert got[b, length:].count_nonzero() == 0, f"padding of sample {b} not zero"
    for name, got, want in zip(names, got_grads, want_grads, strict=True):
        assert got.dtype == dtype
        assert rel_err(got, want) <= tol, f"grad {name}: rel err {rel_err(got, want):.2e}"


@pytest.mark.parametrize("dtype,num_encoders,num_scales,dim", PARITY_CASES)
def test_forward_and_all_gradients_match_reference(dtype, num_encoders, num_scales, dim, device):
    assert_parity(dtype, num_encoders, num_scales, dim, LENGTHS, T, device, num_scales * 10 + num_encoders,
                  tolerance(dtype, tf32=False))


@cuda_only
@pytest.mark.parametrize("dtype,tf32", BENCH_CASES)
def test_benchmark_shapes_match_reference(dtype, tf32, device):
    """B = 16, T = 256, D = 512 -> H = 256 (the kernel's largest hidden size), S = 3, the Q/K/V triple."""
    lengths = ragged_lengths(BENCH_B, BENCH_T, seed=256)
    with float32_matmul(tf32):
        assert_parity(dtype, BENCH_E, BENCH_S, BENCH_D, lengths, BENCH_T, device, seed=512,
                      tol=FP32_TF32_TOL if tf32 else tolerance(dtype, tf32=False))


def test_gradcheck_float64(device):
    """The interpreter does fp64 tl.dot, so the autograd op's backward is checked against finite differences."""
    if device.type != "cpu":
        pytest.skip("the fp64 kernels exist in the Triton interpreter only (--device cpu)")
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


def test_bias_gradients_do_not_alias(device):
    """In-place gradient clipping must scale bias_ih and bias_hh once each, as with the reference."""
    torch.manual_seed(4)
    lstm = nn.LSTM(16, 16, bidirectional=True, batch_first=True).to(device)
    x = torch.randn(2, 5, 16).to(device)
    (y,) = kernels.multi_scale_lstm([x], torch.tensor([5, 3]).to(device), [[lstm]], backend="triton")
    y.square().sum().backward()
    expected = lstm.bias_hh_l0.grad.clone()
    lstm.bias_ih_l0.grad.mul_(0.5)
    torch.testing.assert_close(lstm.bias_hh_l0.grad, expected)


@pytest.mark.parametrize("dtype", [torch.float16, pytest.param(torch.bfloat16, marks=cuda_only)])
def test_autocast_runs_in_low_precision_with_fp32_weight_grads(dtype, device):
    torch.manual_seed(5)
    lengths = torch.tensor(LENGTHS).to(device)
    encoders = [[lstm.to(device) for lstm in lstms] for lstms in make_encoders(1, 2, 32)]
    x = torch.randn(len(LENGTHS), T, 32).to(device).requires_grad_()
    upstream = [torch.randn(len(LENGTHS), T, 2 * 32).to(device)]
    want_outs, want_grads = outputs_and_grads([x], lengths, encoders, "reference", upstream)
    with torch.autocast(device.type, dtype=dtype):
        got_outs, got_grads = outputs_and_grads([x], lengths, encoders, "triton", upstream)
    assert got_outs[0].dtype == dtype
    assert rel_err(got_outs[0], want_outs[0]) <= tolerance(dtype, tf32=False)
    for got, want in zip(got_grads, want_grads, strict=True):
        assert got.dtype == torch.float32
        assert rel_err(got, want) <= tolerance(dtype, tf32=False)


@pytest.mark.parametrize(
    "scales_per_encoder,hidden,message",
    [([1], 300, "hidden size 300 exceeds"), ([2, 1], 8, "encoders[1] has 1 scales")],
)
def test_triton_backend_rejects_unsupported_input(scales_per_encoder, hidden, message, device):
    dim = 8
    encoders = [[nn.LSTM(dim, hidden, bidirectional=True, batch_first=True).to(device) for _ in range(s)]
                for s in scales_per_encoder]
    xs = [torch.randn(1, 4, dim).to(device) for _ in encoders]
    with pytest.raises(UnsupportedInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        kernels.multi_scale_lstm(xs, torch.tensor([4]).to(device), encoders, backend="triton")


def graph_nodes(tensor: torch.Tensor) -> set[str]:
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node.name() not in seen:
            seen.add(node.name())
            stack.extend(next_fn for next_fn, _ in node.next_functions)
    return seen


def test_auto_runs_the_reference_on_cpu_and_the_kernel_on_cuda(device):
    torch.manual_seed(7)
    encoders = [[lstm.to(device) for lstm in lstms] for lstms in make_encoders(1, 2, 16)]
    xs = [torch.randn(2, 6, 16).to(device).requires_grad_()]
    lengths = torch.tensor([6, 3]).to(device)
    (auto,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend="auto")
    (reference,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend="reference")
    (fused,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend="triton")
    assert "MsLstmFunctionBackward" in graph_nodes(fused)
    if device.type == "cpu":  # "auto" never picks the interpreter
        assert torch.equal(auto, reference)
        assert "MsLstmFunctionBackward" not in graph_nodes(auto)
    else:
        assert torch.equal(auto, fused)
        assert "MsLstmFunctionBackward" in graph_nodes(auto)


def test_no_grad_forward_matches_the_training_forward(device):
    """Under no_grad the kernel skips storing gates and cell states; the output must not change."""
    torch.manual_seed(8)
    encoders = [[lstm.to(device) for lstm in lstms] for lstms in make_encoders(2, 3, 16)]
    xs = [torch.randn(2, 9, 16).to(device) for _ in encoders]
    lengths = torch.tensor([9, 4]).to(device)
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


def test_low_precision_saves_the_activations_the_backward_differentiates_in_fp32(device):
    """fp16 / bf16: the activated gates kept for the backward (1 - f, 1 - g^2, 1 - o) and c are fp32, not rounded."""
    torch.manual_seed(5)
    lstm = nn.LSTM(16, 16, bidirectional=True, batch_first=True).to(device, torch.float16)
    x = torch.randn(2, 5, 16).to(device, torch.float16).requires_grad_()
    (y,) = kernels.multi_scale_lstm([x], torch.tensor([5, 3]).to(device), [[lstm]], backend="triton")
    function = y.grad_fn.next_functions[0][0]
    _, _, _, _, gates, cell, saved_y = function.saved_tensors
    assert gates.dtype == cell.dtype == torch.float32 and saved_y.dtype == torch.float16
    assert (gates[0, 0, 0] != gates[0, 0, 0].half().float()).any()  # values no fp16 can hold: not rounded


def test_unchecked_device_lengths_are_clamped_by_the_kernel(device):
    """Device lengths are not read back (no host sync per call), so the kernels clamp them: a length past T runs
    exactly like T, and nothing is read or written outside the tensors."""
    from kernels.ms_lstm.op import ms_lstm_triton

    torch.manual_seed(6)
    lstm = nn.LSTM(16, 16, bidirectional=True, batch_first=True).to(device)
    x = torch.randn(2, 5, 16).to(device)
    with torch.no_grad():
        (want,) = ms_lstm_triton([x], torch.tensor([5, 3]).to(device), [[lstm]])
        (got,) = ms_lstm_triton([x], torch.tensor([5 + 7, 3]).to(device), [[lstm]])
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@cuda_only
def test_the_ops_make_no_host_sync(device):
    """torch's sync debug mode raises on any device-to-host sync: the fused ops (forward and backward) make none."""
    torch.manual_seed(7)
    lstm = nn.LSTM(32, 32, bidirectional=True, batch_first=True).to(device)
    x = torch.randn(4, 9, 32, device=device, requires_grad=True)
    lengths = torch.tensor([9, 5, 3, 1], device=device)
    video_mask = torch.arange(9, device=device)[None, :] < lengths[:, None]
    query, query_mask = torch.randn(4, 6, 32, device=device), torch.ones(4, 6, dtype=torch.bool, device=device)
    weights = [torch.randn(32, device=device) for _ in range(3)]
    proj = torch.randn(32, 128, device=device)
    kernels.multi_scale_lstm([x], lengths, [[lstm]], backend="triton")  # compile first (Triton's launcher syncs once)
    kernels.context_query_attention(x, query, video_mask, query_mask, *weights, proj, backend="triton")
    torch.cuda.synchronize(device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        (y,) = kernels.multi_scale_lstm([x], lengths, [[lstm]], backend="triton")
        out = kernels.context_query_attention(y[..., :32], query, video_mask, query_mask, *weights, proj,
                                              backend="triton")
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
