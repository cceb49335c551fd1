"""MS-LSTM recurrence v2 (resident weights, :mod:`kernels.ms_lstm.resident`) against the reference.

On the CPU the Triton interpreter runs programs one after another, so it runs group size 1 (one program owns every
hidden unit; the same per-step code without the cross-program wait); a forced G > 1 there proves the bounded wait
(it gives up, and the op falls back to v1).  With ``--device cuda`` the same
parity tests run the compiled kernels with the group size the op picks; the forced group sizes (G > 1), bf16
and the benchmark shape are ``cuda_only``.
"""

import contextlib
import copy
import functools
import signal
import warnings
from typing import get_args

import pytest
import torch
import triton
import triton.language as tl
from torch import nn

import kernels
from engine.config import KernelChoice
from kernels.ms_lstm import resident
from kernels.ms_lstm.op import MsLstmFunction, Recurrence, ms_lstm_triton
from kernels.ms_lstm.resident import DeviceLimits, KernelUsage, choose_group_size, could_fit, programs_per_sm
from kernels.parity import FP32_TOL, rel_err, tolerance
from tests.kernels.test_ms_lstm import graph_nodes, make_encoders, parameters

V2 = "triton-v2"
T = 13
LENGTHS = [13, 7, 1]  # ragged, not multiples of the scales, a length-1 sample (empty sub-sequences at s > 1)
# (dtype, encoders E, scales S, input dim D -> hidden D/2): S = 1..4, E = 1 and the Q/K/V triple
PARITY_CASES = [
    (torch.float32, 1, 1, 32),
    (torch.float32, 3, 3, 32),
    (torch.float16, 1, 2, 64),
    (torch.float16, 3, 4, 32),
]
# more sequences than one program's BLOCK_M: the widest weight sets span several groups
WIDE_BATCH, WIDE_T, WIDE_SCALES, WIDE_DIM = 24, 7, 3, 32

# benchmark shape (cuda_only)
BENCH_B, BENCH_T, BENCH_D, BENCH_S, BENCH_E = 16, 256, 512, 3, 3
GROUP_T = 64  # forced group sizes run at the benchmark's width on a shorter sequence
FORCED_GROUP_SIZES = (4, 8, 16)


def ragged_lengths(batch: int, frames: int, seed: int) -> torch.Tensor:
    """Random lengths in [1, frames], with the full length and a length-1 sample always present."""
    lengths = torch.randint(1, frames + 1, (batch,), generator=torch.Generator().manual_seed(seed))
    lengths[0], lengths[-1] = frames, 1
    return lengths


def interpreter_only(device: torch.device) -> None:
    if device.type != "cpu":
        pytest.skip("Triton interpreter only")


def compare_with_reference(dtype, encoders, xs, lengths, upstream, backend_or_recurrence):
    """Run the reference in fp32 on the dtype-rounded inputs and weights (the exact answer) and the fused op in
    ``dtype``; assert outputs (zero padding included) and every gradient within the dtype's tolerance.  Returns the max
    errors."""
    for p in parameters(encoders):
        p.data = p.data.to(dtype).float()
    xs = [x.to(dtype).float().requires_grad_() for x in xs]
    want_outs = kernels.multi_scale_lstm(xs, lengths, encoders, backend="reference")
    want_grads = torch.autograd.grad(want_outs, [*xs, *parameters(encoders)], upstream)

    low_encoders = [[copy.deepcopy(lstm).to(dtype) for lstm in lstms] for lstms in encoders]
    low_xs = [x.detach().to(dtype).requires_grad_() for x in xs]
    if isinstance(backend_or_recurrence, Recurrence):
        got_outs = ms_lstm_triton(low_xs, lengths, low_encoders, recurrence=backend_or_recurrence)
    else:
        got_outs = kernels.multi_scale_lstm(low_xs, lengths, low_encoders, backend=backend_or_recurrence)
    got_grads = torch.autograd.grad(got_outs, [*low_xs, *parameters(low_encoders)], [u.to(dtype) for u in upstream])

    names = [f"xs[{e}]" for e in range(len(xs))]
    names += [f"{i}:{name}" for i, lstm in enumerate(lstm for ls in encoders for lstm in ls)
              for name, _ in lstm.named_parameters()]
    worst_out = worst_grad = 0.0
    for e, (got, want) in enumerate(zip(got_outs, want_outs, strict=True)):
        assert got.dtype == dtype and got.shape == want.shape
        err = rel_err(got, want)
        assert err <= tolerance(dtype, tf32=False), f"output {e}: rel err {err:.2e}"
        for b, length in enumerate(lengths.tolist()):
            assert torch.count_nonzero(got[b, length:]) == 0, f"output {e}: padding of sample {b} not zero"
        worst_out = max(worst_out, err)
    for name, got, want in zip(names, got_grads, want_grads, strict=True):
        assert got.dtype == dtype
        err = rel_err(got, want)
        assert err <= tolerance(dtype, tf32=False), f"grad {name}: rel err {err:.2e}"
        worst_grad = max(worst_grad, err)
    return worst_out, worst_grad


# ------------------------------------------------------------------------------------------------ interpreter
def on(device, encoders):
    return [[lstm.to(device) for lstm in lstms] for lstms in encoders]


@pytest.mark.parametrize("dtype,num_encoders,num_scales,dim", PARITY_CASES)
def test_v2_forward_and_all_gradients_match_reference(device, dtype, num_encoders, num_scales, dim):
    torch.manual_seed(num_scales * 10 + num_encoders)
    lengths = torch.tensor(LENGTHS, device=device)
    encoders = on(device, make_encoders(num_encoders, num_scales, dim))
    xs = [torch.randn(len(LENGTHS), T, dim, device=device) for _ in range(num_encoders)]
    upstream = [torch.randn(len(LENGTHS), T, num_scales * dim, device=device) for _ in range(num_encoders)]
    compare_with_reference(dtype, encoders, xs, lengths, upstream, V2)


def test_v2_weight_sets_spanning_several_groups(device):
    """B*s > BLOCK_M: the stride-3 sets need two groups each, the others one; random ragged lengths."""
    torch.manual_seed(11)
    assert resident.sequence_block(WIDE_BATCH, WIDE_SCALES) < WIDE_BATCH * WIDE_SCALES
    lengths = ragged_lengths(WIDE_BATCH, WIDE_T, seed=11).to(device)
    encoders = on(device, make_encoders(2, WIDE_SCALES, WIDE_DIM))
    xs = [torch.randn(WIDE_BATCH, WIDE_T, WIDE_DIM, device=device) for _ in encoders]
    upstream = [torch.randn(WIDE_BATCH, WIDE_T, WIDE_SCALES * WIDE_DIM, device=device) for _ in encoders]
    compare_with_reference(torch.float32, encoders, xs, lengths, upstream, V2)


def test_v2_gradcheck_float64(device):
    """fp64 through the interpreter: the v2 backward against finite differences (hidden 2 < one dot tile)."""
    interpreter_only(device)
    torch.manual_seed(3)
    num_scales, batch, frames, dim, hidden = 2, 2, 5, 3, 2
    sets = 2 * num_scales
    x = torch.randn(1, batch, frames, dim, dtype=torch.float64, requires_grad=True)
    w_ih = torch.randn(1, sets * 4 * hidden, dim, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(sets, 4 * hidden, hidden, dtype=torch.float64, requires_grad=True)
    b_ih, b_hh = (torch.randn(1, sets * 4 * hidden, dtype=torch.float64, requires_grad=True) for _ in range(2))
    lengths = torch.tensor([frames, 2], dtype=torch.int32)

    def op(x, w_ih, w_hh, b_ih, b_hh):
        return MsLstmFunction.apply(x, lengths, w_ih, w_hh, b_ih, b_hh, num_scales, torch.float64, True, "v2")

    assert torch.autograd.gradcheck(op, (x, w_ih, w_hh, b_ih, b_hh), fast_mode=True)


def test_v2_no_grad_forward_matches_the_training_forward(device):
    """Under no_grad the kernel skips storing gates and cell states; the output must not change."""
    torch.manual_seed(8)
    encoders = on(device, make_encoders(2, 3, 16))
    xs = [torch.randn(2, 9, 16, device=device) for _ in encoders]
    lengths = torch.tensor([9, 4], device=device)
    training = kernels.multi_scale_lstm(xs, lengths, encoders, backend=V2)
    with torch.no_grad():
        inference = kernels.multi_scale_lstm(xs, lengths, encoders, backend=V2)
    for got, want in zip(inference, training, strict=True):
        assert got.grad_fn is None and "MsLstmFunctionBackward" in graph_nodes(want)
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@triton.jit
def _group_table_kernel(out_ptr, B, NUM_SCALES: tl.constexpr, BLOCK_M: tl.constexpr):
    w, first_q = resident._group_weight_set(tl.program_id(0), B, NUM_SCALES, BLOCK_M)
    tl.store(out_ptr + 2 * tl.program_id(0), w)
    tl.store(out_ptr + 2 * tl.program_id(0) + 1, first_q)


@pytest.mark.parametrize("batch,num_scales,num_encoders", [(3, 4, 1), (24, 3, 2), (40, 2, 3), (1, 1, 1)])
def test_groups_cover_every_block_of_sequences_once(device, batch, num_scales, num_encoders):
    """The kernels' group -> (weight set, first sequence) map enumerates each set's blocks exactly once."""
    block_m = resident.sequence_block(batch, num_scales)
    groups = resident.num_groups(num_encoders, batch, num_scales, block_m)
    table = torch.full((groups, 2), -1, dtype=torch.int32, device=device)
    _group_table_kernel[(groups,)](table, batch, NUM_SCALES=num_scales, BLOCK_M=block_m)
    want = sorted((w, first) for w in range(num_encoders * 2 * num_scales)
                  for first in range(0, batch * (w % (2 * num_scales) // 2 + 1), block_m))
    assert sorted(map(tuple, table.tolist())) == want


SPLIT_GROUP_SIZES = (2, 4)
SPLIT_E, SPLIT_S, SPLIT_B, SPLIT_T, SPLIT_H = 2, 2, 3, 3, 4 * resident.MIN_SLICE  # H admits G = 1, 2, 4


def run_split(group_size, gates_x, w_hh, lengths, dy):
    """Forward and BPTT of the v2 kernels with ``group_size`` programs per group (launched directly)."""
    gates = gates_x.clone()
    y = torch.zeros(dy.shape, dtype=dy.dtype)
    cell = torch.zeros(dy.shape, dtype=torch.float32)
    launch = resident._forward_launch(gates, w_hh, lengths, y, cell, SPLIT_S, True)
    launch.run(resident.ResidentPlan(group_size, launch.block_m, launch.groups, num_warps=4))
    dgates = torch.zeros_like(gates)
    launch = resident._backward_launch(gates, cell, dy, w_hh, lengths, dgates, SPLIT_S)
    launch.run(resident.ResidentPlan(group_size, launch.block_m, launch.groups, num_warps=4))
    return y, cell, gates, dgates


@pytest.mark.parametrize("group_size", SPLIT_GROUP_SIZES)
def test_group_members_split_the_hidden_units(device, group_size):
    """Single-step sequences wait on no other program, so the interpreter can run G > 1: how the G programs of
    a group share W_hh, the gates, y, c and dG (the per-step exchange itself needs a GPU)."""
    interpreter_only(device)
    torch.manual_seed(12)
    gates_x = torch.randn(SPLIT_E, SPLIT_B, SPLIT_T, SPLIT_S * 8 * SPLIT_H)
    w_hh = torch.randn(SPLIT_E * SPLIT_S * 2, 4 * SPLIT_H, SPLIT_H) / SPLIT_H**0.5
    lengths = torch.ones(SPLIT_B, dtype=torch.int32)
    dy = torch.randn(SPLIT_E, SPLIT_B, SPLIT_T, SPLIT_S * 2 * SPLIT_H)
    want = run_split(1, gates_x, w_hh, lengths, dy)
    got = run_split(group_size, gates_x, w_hh, lengths, dy)
    assert want[0].abs().sum() > 0 and want[3].abs().sum() > 0
    for name, g, w in zip(("y", "cell", "gates", "dgates"), got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=FP32_TOL, atol=0, msg=name)


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise TimeoutError in the test when its body runs past ``seconds`` (the interpreter is Python: the alarm
    handler runs between its bytecodes, so a spinning wait is interrupted too)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the wait did not end")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


WAIT_LIMIT_S = 90  # the forced G = 2 forward + backward, bounded waits included, take ~10 s in the interpreter


def forced_group_run(group_size):
    """The op with both recurrences forced to ``group_size``, on a 2-sample batch (outputs, input grads)."""
    torch.manual_seed(9)
    lstm = nn.LSTM(16, 2 * resident.MIN_SLICE, bidirectional=True, batch_first=True)  # group sizes 1 and 2
    x = torch.randn(2, 5, 16, requires_grad=True)
    forced = Recurrence(functools.partial(resident.lstm_forward, group_size=group_size),
                        functools.partial(resident.lstm_backward, group_size=group_size))
    (out,) = ms_lstm_triton([x], torch.tensor([5, 3]), [[lstm]], recurrence=forced)
    (want,) = kernels.multi_scale_lstm([x], torch.tensor([5, 3]), [[lstm]], backend="reference")
    return out, want, torch.autograd.grad(out.sum(), x)[0], torch.autograd.grad(want.sum(), x)[0]


def test_a_group_wait_that_cannot_be_met_ends_in_the_v1_fallback(device):
    """The interpreter runs the programs of a G = 2 group one after another, so the first program waits for a
    partner that has not started: the bounded wait gives up, sets the error flag, every later wait returns at once,
    and the host reruns v1 with a warning -- the results are v1's, and nothing hangs."""
    interpreter_only(device)
    with time_limit(WAIT_LIMIT_S), pytest.warns(RuntimeWarning, match="gave up after") as caught:
        out, want, grad, want_grad = forced_group_run(2)
    assert any("running v1 instead" in str(w.message) for w in caught)
    torch.testing.assert_close(out, want, rtol=FP32_TOL, atol=1e-6)
    torch.testing.assert_close(grad, want_grad, rtol=FP32_TOL, atol=1e-6)


def test_forced_group_size_must_be_a_candidate(device):
    interpreter_only(device)
    with pytest.raises(ValueError, match="group_size must be one of"):
        forced_group_run(3)


def test_a_v2_launch_failure_falls_back_to_v1(device, monkeypatch):
    """Whatever v2's launch raises (a cooperative grid the driver rejects, a compile error), the op runs v1."""
    interpreter_only(device)

    class Rejecting:
        __name__ = "ms_lstm_resident_forward_kernel"

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                raise RuntimeError("CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE")
            return launch

    monkeypatch.setattr(resident, "ms_lstm_resident_forward_kernel", Rejecting())
    with pytest.warns(RuntimeWarning, match="the launch failed .*COOPERATIVE_LAUNCH_TOO_LARGE"):
        out, want, _, _ = forced_group_run(1)
    torch.testing.assert_close(out, want, rtol=FP32_TOL, atol=1e-6)


def test_v2_falls_back_to_v1_when_no_group_fits(device, monkeypatch):
    """No plan (the group would not be co-resident): both launchers run v1, results unchanged."""
    calls = []

    def recorded(name, launcher):
        def run(*args):
            calls.append(name)
            launcher(*args)
        return run

    for name in ("lstm_forward", "lstm_backward"):
        monkeypatch.setattr(resident.v1, name, recorded(name, getattr(resident.v1, name)))
    torch.manual_seed(10)
    encoders = on(device, make_encoders(1, 2, 16))
    xs = [torch.randn(2, 6, 16, device=device, requires_grad=True)]
    lengths = torch.tensor([6, 3], device=device)
    (want,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend=V2)
    assert calls == []
    monkeypatch.setattr(resident, "_plan", lambda launch, group_size: None)
    (got,) = kernels.multi_scale_lstm(xs, lengths, encoders, backend=V2)
    got.sum().backward()
    assert calls == ["lstm_forward", "lstm_backward"]
    torch.testing.assert_close(got, want, rtol=FP32_TOL, atol=0)  # v1 sums in another order


def test_triton_v2_is_a_registered_backend_and_a_config_choice():
    assert V2 in kernels.backend_names() and V2 in get_args(KernelChoice)
    assert kernels.get_backend(V2).needs_triton


# ------------------------------------------------------------------------------------------------ group size
H100 = DeviceLimits(sm_count=132)
SMALL_GPU = DeviceLimits(sm_count=8)
BENCH_GROUPS = 18  # E=3 x S=3 x 2 directions, B*S = 48 <= BLOCK_M
BENCH_BLOCK_H = 256
KIB = 1024


def bf16_usage(block_h: int, block_m: int = 64, registers: int = 200, num_warps: int = 8, spill_bytes: int = 0):
    """Fake usage of a G-program kernel: the bf16 W_hh slice (4 x block_h x block_h/G) + an h tile in shared memory."""
    def usage_of(g: int) -> KernelUsage:
        shared = 2 * (4 * block_h * (block_h // g) + block_m * block_h)
        return KernelUsage(registers, num_warps, shared, spill_bytes)
    return usage_of


def test_occupancy_rule():
    assert programs_per_sm(KernelUsage(255, 4, 72 * KIB), H100) == 2  # 256 regs x 128 threads = half the file
    assert programs_per_sm(KernelUsage(170, 8, 96 * KIB), H100) == 1  # registers
    assert programs_per_sm(KernelUsage(64, 4, 160 * KIB), H100) == 1  # shared memory
    assert programs_per_sm(KernelUsage(32, 4, 8 * KIB), H100) == 16  # threads (2048 / 128)
    assert programs_per_sm(KernelUsage(32, 4, 300 * KIB), H100) == 0  # over the per-block maximum


def test_benchmark_shape_picks_one_program_per_sm():
    """G = 1, 2 do not fit shared memory; G = 4 is 72 programs <= 132 SMs, G = 8 would need 2 per SM."""
    assert choose_group_size(BENCH_GROUPS, BENCH_BLOCK_H, H100, bf16_usage(BENCH_BLOCK_H)) == 4


def test_falls_back_when_no_group_is_co_resident():
    assert choose_group_size(BENCH_GROUPS, BENCH_BLOCK_H, SMALL_GPU, bf16_usage(BENCH_BLOCK_H)) is None
    assert choose_group_size(BENCH_GROUPS, BENCH_BLOCK_H, H100, lambda g: None) is None  # nothing compiles


def test_prefers_group_size_one_when_the_whole_weight_set_fits():
    """Small H: one program holds all of W_hh, no cross-program wait at all."""
    small_h = 64
    assert choose_group_size(BENCH_GROUPS, small_h, H100, bf16_usage(small_h)) == 1


def test_prefers_a_group_size_without_spills():
    def usage_of(g: int) -> KernelUsage:
        return bf16_usage(BENCH_BLOCK_H, registers=255, num_warps=4, spill_bytes=600 if g == 4 else 0)(g)
    assert choose_group_size(BENCH_GROUPS, BENCH_BLOCK_H, H100, usage_of) == 8  # 144 programs, 2 per SM


def test_several_programs_per_sm_take_the_smallest_group():
    """More groups than SMs and G = 1 unavailable: every G shares SMs, the fewest programs win."""
    many_groups, small_h = H100.sm_count + 8, 64
    small = KernelUsage(registers=64, num_warps=4, shared_bytes=16 * KIB)  # 8 programs per SM

    def usage_of(g: int) -> KernelUsage | None:
        return None if g == 1 else small

    assert choose_group_size(many_groups, small_h, H100, usage_of) == 2


def test_group_sizes_that_cannot_fit_are_never_compiled():
    """The shared-memory bound rules out fp32 at the benchmark shape before any compile (minutes each)."""
    asked = []

    def usage_of(g: int) -> KernelUsage:
        asked.append(g)
        return bf16_usage(BENCH_BLOCK_H)(g)

    fp32_bytes, bf16_bytes = 4, 2
    assert not could_fit(BENCH_GROUPS, 4, BENCH_BLOCK_H, H100, fp32_bytes)  # a 256 KiB slice
    assert not could_fit(BENCH_GROUPS, 8, BENCH_BLOCK_H, H100, fp32_bytes)  # 128 KiB: 1 per SM, 144 programs
    assert could_fit(BENCH_GROUPS, 4, BENCH_BLOCK_H, H100, bf16_bytes)
    choose_group_size(BENCH_GROUPS, BENCH_BLOCK_H, H100, usage_of, bf16_bytes)
    assert 1 not in asked and 2 not in asked  # 512 / 256 KiB of W_hh: no compile


def benchmark_forward_launch(dtype):
    """The v2 forward launch of the benchmark shape, one frame long (the plan does not depend on T's value)."""
    hidden, frames = BENCH_D // 2, 1
    gates = torch.zeros(BENCH_E, BENCH_B, frames, BENCH_S * 8 * hidden, dtype=dtype)
    w_hh = torch.zeros(BENCH_E * BENCH_S * 2, 4 * hidden, hidden, dtype=dtype)
    y = torch.zeros(BENCH_E, BENCH_B, frames, BENCH_S * 2 * hidden, dtype=dtype)
    cell = torch.zeros(y.shape)
    lengths = torch.ones(BENCH_B, dtype=torch.int32)
    return resident._forward_launch(gates, w_hh, lengths, y, cell, BENCH_S, True)


def test_gpu_plans_with_fake_devices(monkeypatch, exact_fp32):
    """The launchers' plan on a GPU (the interpreter is switched off; fake device and kernel usage)."""
    monkeypatch.setattr(resident, "triton_interpreted", lambda: False)
    monkeypatch.setattr(resident, "_PLANS", {})
    launch = benchmark_forward_launch(torch.bfloat16)
    assert (launch.groups, launch.block_m) == (BENCH_GROUPS, resident.MAX_BLOCK_M)
    usage = bf16_usage(BENCH_BLOCK_H)
    plan = resident._plan(launch, None, H100, usage)
    assert plan == resident.ResidentPlan(group_size=4, block_m=64, groups=BENCH_GROUPS, num_warps=8)
    assert plan.grid == (BENCH_GROUPS, 4)
    monkeypatch.setattr(resident, "_PLANS", {})  # plans are cached per launch (whose tensors name the GPU)
    assert resident._plan(launch, None, SMALL_GPU, usage) is None  # -> v1
    with pytest.raises(ValueError, match="not co-resident"):
        resident._plan(launch, 8, H100, usage)  # 144 programs; 200 registers x 256 threads: one per SM
    with pytest.raises(ValueError, match="runs v1 only"):
        resident._plan(benchmark_forward_launch(torch.float32), 4, H100, usage)  # IEEE fp32: FMA dots
    assert resident._plan(benchmark_forward_launch(torch.float32), None, H100, usage) is None


def test_group_sizes_leave_a_dot_tile_per_program():
    assert resident.candidate_group_sizes(256) == (1, 2, 4, 8, 16)
    assert resident.candidate_group_sizes(32) == (1, 2)
    assert resident.candidate_group_sizes(16) == (1,)


# ------------------------------------------------------------------------------------------------ CUDA only
@pytest.fixture
def exact_fp32():
    """fp32 parity runs with TF32 off in both the kernels and the cuDNN reference."""
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32 = saved[1]


def bench_inputs(device, num_encoders, frames, seed, batch=BENCH_B):
    torch.manual_seed(seed)
    encoders = on(device, make_encoders(num_encoders, BENCH_S, BENCH_D))
    lengths = ragged_lengths(batch, frames, seed).to(device)
    xs = [torch.randn(batch, frames, BENCH_D, device=device) for _ in range(num_encoders)]
    upstream = [torch.randn(batch, frames, BENCH_S * BENCH_D, device=device) for _ in range(num_encoders)]
    return encoders, xs, lengths, upstream


@pytest.mark.cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_benchmark_shape_matches_reference(device, exact_fp32, dtype):
    """B=16, T=256, d=512, S=3, Q/K/V with ragged lengths, the plan the op picks (v2 on an H100 / H200; fp32
    with TF32 off runs v1, see :mod:`kernels.ms_lstm.resident`)."""
    encoders, xs, lengths, upstream = bench_inputs(device, BENCH_E, BENCH_T, seed=21)
    out_err, grad_err = compare_with_reference(dtype, encoders, xs, lengths, upstream, V2)
    print(f"{dtype}: max rel err output {out_err:.2e}, gradients {grad_err:.2e}")


@pytest.mark.cuda_only
def test_cuda_v2_runs_at_the_benchmark_shape(device):
    """On sm_90 both kernels find a co-resident group size at the benchmark shape (no silent fallback to v1)."""
    if torch.cuda.get_device_capability(device)[0] != 9:
        pytest.skip("the group sizes are sized for sm_90 (H100 / H200)")
    dtype, hidden = torch.bfloat16, BENCH_D // 2
    B, T, E, S = BENCH_B, BENCH_T, BENCH_E, BENCH_S
    saved = torch.zeros(E, B, T, S * 8 * hidden, device=device, dtype=torch.float32)  # as the op saves the gates
    w_hh = torch.zeros(E * S * 2, 4 * hidden, hidden, device=device, dtype=dtype)
    lengths = torch.full((B,), T, device=device, dtype=torch.int32)
    y = torch.zeros(E, B, T, S * 2 * hidden, device=device, dtype=dtype)
    cell = torch.zeros(y.shape, device=device, dtype=torch.float32)
    forward = resident.forward_plan(saved, w_hh, lengths, y, cell, S, True)
    backward = resident.backward_plan(saved, cell, y, w_hh, lengths, saved.to(dtype), S)
    print(f"forward plan {forward}, backward plan {backward}")
    assert forward is not None and backward is not None


@pytest.mark.cuda_only
@pytest.mark.parametrize("group_size", FORCED_GROUP_SIZES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("batch", [BENCH_B, 2 * BENCH_B])  # 2B: the stride-3 sets span two groups
def test_cuda_forced_group_sizes_match_reference(device, dtype, group_size, batch):
    """The cross-program exchange (G > 1) at the benchmark's width, E = 1; sizes the device cannot co-schedule
    skip (fp32 without TF32 never runs v2 on a GPU)."""
    encoders, xs, lengths, upstream = bench_inputs(device, 1, GROUP_T, seed=22 + group_size, batch=batch)
    forced = Recurrence(functools.partial(resident.lstm_forward, group_size=group_size),
                        functools.partial(resident.lstm_backward, group_size=group_size))
    try:
        with warnings.catch_warnings():  # a fallback to v1 (a wait that gave up, a refused launch) fails the test
            warnings.simplefilter("error", RuntimeWarning)
            compare_with_reference(dtype, encoders, xs, lengths, upstream, forced)
    except ValueError as error:
        if "co-resident" not in str(error):
            raise
        pytest.skip(str(error))
