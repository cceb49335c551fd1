"""MS-LSTM recurrence v2: recurrent weights resident on chip, a group of programs per block of sequences.

Same math, tensors and indexing as v1 (:mod:`.kernel`: weight sets ``w``, sequences ``q``, visits ``k``, the
``gates`` / ``y`` / ``cell`` layouts); only the split of the work differs.

Design (chosen by reasoning and an offline sm_90 compile; not yet timed on a GPU):

* **Groups.**  A group owns ``BLOCK_M`` sequences of one weight set: all ``B*s`` of them when they fit
  (``BLOCK_M = next_pow2(B*S)`` clamped to [16, 64]: M = 64 is one Hopper wgmma tile, so B*S > 16 gets
  wgmma); larger batches get ``cdiv(B*s, BLOCK_M)`` groups per set.  Groups are enumerated per encoder, scale
  by scale (:func:`_group_weight_set`), so no program is idle.  Grid: ``(groups, G)``.
* **Resident weights.**  The ``G`` programs of a group split the hidden units: program ``g`` owns units
  ``[g*SLICE, (g+1)*SLICE)``, ``SLICE = next_pow2(H) / G``, *all four gates* of them, so the cell state never
  leaves its registers.  It loads its slice of W_hh (4 x (H, SLICE) tiles) once, before the step loop; Triton
  keeps a loop-invariant dot operand in shared memory (checked in the TTGIR: the ``local_alloc`` of W sits
  before the loop, the wgmma reads it in place every step).
* **One exchange per step.**  h_t is stored into ``y`` (the output, no extra buffer); the next step reads
  ``h_{t-1}`` as one (BLOCK_M, H) tile from ``y`` at the previous frames (``.cg``: L2, never a stale L1 line).
  With ``G > 1`` a program publishes its slice with ``bar.sync`` then a release-increment of the group's
  int32 counter, and waits (acquire) until the counter reaches ``G * k`` before reading h_{t-1}
  (:func:`_arrive`, :func:`_wait_for`).  Counters are zeroed per launch.  The step's read-only inputs (the
  projected gates) are loaded before the wait, so their latency overlaps it.  With ``G == 1`` the wait and
  the atomics are compiled out and the same per-step code runs -- that is what the Triton interpreter tests.
* **Backward**, same groups and reverse visits: program g computes dG for its units (dc stays in registers),
  stores it into ``dgates`` (needed anyway for dx / dW) and the group exchanges dG the same way:
  ``dh_rec[:, slice] = sum_gate dG_gate(k+1) @ W_gate[:, slice]``, the four gates in one loop over K-chunks of
  ``BLOCK_K`` against the resident (BLOCK_K, SLICE) chunks of W_hh (chunking keeps the A tile small: the
  whole (64, 256) tile per gate spills).  dW_ih / dW_hh stay v1's :func:`.kernel.frame_weight_grad`: one GEMM
  over all B*T frames after the BPTT, fp32 accumulators per program tile written once.  Accumulating
  dW_hh inside the recurrence would need a (4*SLICE, H) fp32 accumulator per program (256 KiB at G = 4)
  and would put that work on the sequential critical path.
* **Co-residency.**  A cross-program wait deadlocks unless every program of the grid is resident at once.
  :func:`choose_group_size` takes the device's SM count and per-SM registers / shared memory and each
  candidate kernel's compiled usage (registers, spills, shared memory, warps) and picks G; when no G fits, the
  launchers run v1 instead (same results, same saved tensors).  That estimate is enforced, not trusted: a G > 1
  grid is launched cooperatively (Triton's ``launch_cooperative_grid``), so the driver rejects a grid that
  cannot be co-resident (an MPS share, kernels on other streams, the shared-memory carveout), and every wait is
  bounded (:data:`MAX_SPINS`): one that gives up sets the launch's error flag, the later waits return at once,
  and the host (one sync per G > 1 launch) discards the results and reruns v1 with a warning.  Any failure to
  plan, compile or launch v2 likewise runs v1 with a warning.  Nothing hangs.
* **No software pipelining** of the step loop (``num_stages=1``): Triton's pipeliner would prefetch the next
  step's ``h_{t-1}`` load across the stores of this step.  Warps: 8 for the forward at BLOCK_M = 64 (4 spill
  at H = 256); 4 for the backward (with 8, Triton lays a chain of wgmma -- the K-chunks -- along M only, which
  replicates an M = 64 tile on both warpgroups).
* **fp32 without TF32** (matmul precision "highest") runs v1 on a GPU: an FMA dot keeps its operands in
  registers, where no W_hh slice fits (it spills).  The interpreter runs it.

The compiled figures for sm_90 at H = 256, S = 3, BLOCK_M = 64 (B*S = 48) -- registers, stack frame (spills) and
shared memory per program of every group size the launcher compiles on a 132-SM GPU, per dtype and kernel -- are in
``bench/results/compile-sm90/report.md`` (``python -m compile_report``): arithmetic on compiler figures until timed
on a GPU.  Whatever the figures, G = 1 and 2 cannot hold W_hh in bf16 at H = 256 in one
block's shared memory, and fp32 runs v1 (:func:`could_fit` rules it out before compiling).

Limits: those of v1 (H <= 256, fp16 / bf16 / fp32, fp64 under the interpreter).  ``G > 1`` needs a GPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

from kernels.ms_lstm import kernel as v1
from kernels.ms_lstm.kernel import (
    _cell_backward,
    _cell_forward,
    _load_gates,
    _set_sequences,
    _store_gates,
    _tl_dtype,
    _visit_rows,
)
from kernels.policy import dot_precision, triton_interpreted

MIN_BLOCK_M = 16  # tl.dot's smallest M
MAX_BLOCK_M = 64  # one wgmma tile of sequences; larger blocks double the register accumulators
MIN_SLICE = 16  # tl.dot's smallest N: hidden units per program
GROUP_SIZES = (1, 2, 4, 8, 16)
BLOCK_K = 64  # backward: K-chunk of dG @ W_hh
WIDE_TILE = 64 * 16  # forward tiles (BLOCK_M x SLICE) from this size on get 8 warps (4 spill at H = 256)
MAX_SPINS = 1 << 20  # reads of a group counter before a wait gives up: >= ~1 s of L2 atomics, 1000x a step
INTERPRETER_MAX_SPINS = 16  # the interpreter runs programs one after another: a G > 1 wait can never be met


# ------------------------------------------------------------------------------------------------ kernels
@triton.jit
def _group_weight_set(group, B, NUM_SCALES: tl.constexpr, BLOCK_M: tl.constexpr):
    """Group -> (weight set w, its first sequence).  Per encoder the groups run scale by scale, each direction's
    ``cdiv(B*s, BLOCK_M)`` blocks of sequences in turn (:func:`num_groups` counts them on the host)."""
    per_encoder = 0
    for si in tl.static_range(NUM_SCALES):
        per_encoder += 2 * tl.cdiv(B * (si + 1), BLOCK_M)
    rem = group % per_encoder
    slot = tl.zeros_like(rem)
    first_q = tl.zeros_like(rem)
    for si in tl.static_range(NUM_SCALES):
        blocks = tl.cdiv(B * (si + 1), BLOCK_M)
        here = (rem >= 0) & (rem < 2 * blocks)  # rem: this group's index among the groups of scale si
        slot = tl.where(here, 2 * si + rem // blocks, slot)  # slot = 2(s-1) + direction
        first_q = tl.where(here, (rem % blocks) * BLOCK_M, first_q)
        rem -= 2 * blocks
    return (group // per_encoder) * (2 * NUM_SCALES) + slot, first_q


@triton.jit
def _wait_for(counter_ptr, target, error_ptr, max_spins):
    """Spin until the group's counter reaches ``target``; acquire: what the group stored before it is visible.
    (Triton runs a scalar atomic on one thread and broadcasts the result through shared memory.)

    Bounded: after ``max_spins`` reads the wait gives up and sets the launch's error flag (``*error_ptr``); a wait
    that finds the flag set returns at once, so a launch whose group is not co-resident ends in about one bound,
    and the host discards its results (:meth:`_Launch.run`)."""
    seen = tl.atomic_add(counter_ptr, 0, sem="acquire", scope="gpu")
    spins = tl.where(tl.atomic_add(error_ptr, 0, sem="relaxed", scope="gpu") != 0, max_spins, 0)
    while (seen < target) & (spins < max_spins):
        seen = tl.atomic_add(counter_ptr, 0, sem="acquire", scope="gpu")
        given_up = tl.atomic_add(error_ptr, 0, sem="relaxed", scope="gpu") != 0
        spins = tl.where(given_up, max_spins, spins + 1)
    if seen < target:
        tl.atomic_xchg(error_ptr, 1, sem="relaxed", scope="gpu")


@triton.jit
def _arrive(counter_ptr, GROUP: tl.constexpr):
    """Publish this step's stores: to the program's own threads (barrier) and, with GROUP > 1, to its group
    (one release-increment of the group's counter, after the barrier)."""
    tl.debug_barrier()
    if GROUP > 1:
        tl.atomic_add(counter_ptr, 1, sem="release", scope="gpu")


@triton.jit
def ms_lstm_resident_forward_kernel(
    gates_ptr, w_hh_ptr, y_ptr, cell_ptr, len_ptr, sync_ptr, B, T, max_spins,
    NUM_SCALES: tl.constexpr, H: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_H: tl.constexpr,
    GROUP: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr, SAVE: tl.constexpr,
):
    """Recurrence, grid (groups, GROUP): program (group, g) owns BLOCK_M sequences x SLICE hidden units.

    Per visit: ``a_gate = gates_x[t] + h_prev @ W_gate[slice, :]^T`` -- four (BLOCK_M, SLICE) fp32
    accumulators, h_prev one (BLOCK_M, BLOCK_H) tile read from ``y``, the four (BLOCK_H, SLICE) W tiles
    resident --, ``c = f*c + i*g`` (registers), ``h = o*tanh(c)`` stored into ``y``; with SAVE the activated
    gates overwrite ``gates`` and c goes to ``cell``.  ``sync_ptr``: one int32 counter per group, then the launch's
    error flag, zero on entry (unused when GROUP == 1); ``max_spins``: the bound of each wait (:func:`_wait_for`).
    """
    G_ROW: tl.constexpr = NUM_SCALES * 8 * H
    Y_ROW: tl.constexpr = NUM_SCALES * 2 * H
    SLICE: tl.constexpr = BLOCK_H // GROUP
    group = tl.program_id(0)
    w, first_q = _group_weight_set(group, B, NUM_SCALES, BLOCK_M)
    slot, stride, direction, n_q, seq_row0 = _set_sequences(w, first_q, len_ptr, B, T, NUM_SCALES, BLOCK_M)
    n = tl.program_id(1) * SLICE + tl.arange(0, SLICE)  # this program's hidden units
    n_ok = n < H
    kk = tl.arange(0, BLOCK_H)  # the reduction axis: every unit of h_{t-1}
    kk_ok = kk < H
    w_ptrs = w_hh_ptr + w.to(tl.int64) * (4 * H * H) + n[None, :] * H + kk[:, None]  # W_hh[gate*H + n, kk]
    w_ok = kk_ok[:, None] & n_ok[None, :]
    w_i = tl.load(w_ptrs, mask=w_ok, other=0.0)
    w_f = tl.load(w_ptrs + H * H, mask=w_ok, other=0.0)
    w_g = tl.load(w_ptrs + 2 * H * H, mask=w_ok, other=0.0)
    w_o = tl.load(w_ptrs + 3 * H * H, mask=w_ok, other=0.0)
    gate_col = slot * 4 * H
    y_col = slot * H
    counter = sync_ptr + group
    error = sync_ptr + tl.num_programs(0)
    c = tl.zeros((BLOCK_M, SLICE), dtype=ACC)
    for k in range(0, tl.max(n_q, axis=0)):
        active = k < n_q
        row, prev_row, has_prev = _visit_rows(k, active, n_q, stride, direction, seq_row0)
        tile_ok = active[:, None] & n_ok[None, :]
        g_ptrs = gates_ptr + row[:, None] * G_ROW + gate_col + n[None, :]
        acc_i, acc_f, acc_g, acc_o = _load_gates(g_ptrs, tile_ok, H, ACC)  # read-only: issued before the wait
        if GROUP > 1:
            _wait_for(counter, GROUP * k, error, max_spins)  # every slice of h_{t-1} is in y
        h_prev = tl.load(y_ptr + prev_row[:, None] * Y_ROW + y_col + kk[None, :],
                         mask=has_prev[:, None] & kk_ok[None, :], other=0.0, cache_modifier=".cg")
        acc_i = tl.dot(h_prev, w_i, acc_i, input_precision=PRECISION, out_dtype=ACC)
        acc_f = tl.dot(h_prev, w_f, acc_f, input_precision=PRECISION, out_dtype=ACC)
        acc_g = tl.dot(h_prev, w_g, acc_g, input_precision=PRECISION, out_dtype=ACC)
        acc_o = tl.dot(h_prev, w_o, acc_o, input_precision=PRECISION, out_dtype=ACC)
        gi, gf, gg, go, c, h = _cell_forward(acc_i, acc_f, acc_g, acc_o, c)
        tl.store(y_ptr + row[:, None] * Y_ROW + y_col + n[None, :], h.to(y_ptr.dtype.element_ty), mask=tile_ok)
        if SAVE:
            tl.store(cell_ptr + row[:, None] * Y_ROW + y_col + n[None, :], c, mask=tile_ok)
            _store_gates(g_ptrs, tile_ok, H, gi, gf, gg, go)
        _arrive(counter, GROUP)


@triton.jit
def ms_lstm_resident_backward_kernel(
    gates_ptr, cell_ptr, dy_ptr, w_hh_ptr, dgates_ptr, len_ptr, sync_ptr, B, T, max_spins,
    NUM_SCALES: tl.constexpr, H: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr, GROUP: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
):
    """BPTT, same grid and groups as the forward, visits in reverse order.

    Per visit k: ``dh = dy_t + sum_gate dG_gate(k+1) @ W_gate[:, slice]`` (dG of the whole group read back from
    ``dgates`` in (BLOCK_M, BLOCK_K) chunks; W_hh resident as 4 * BLOCK_H/BLOCK_K (BLOCK_K, SLICE) chunks);
    ``dc = dc_next + dh*o*(1 - tanh(c)^2)`` (dc_next = dc_{k+1} * f_{k+1}, registers); the pre-activation gate
    grads ``dG = [dc*g*i(1-i), dc*c_prev*f(1-f), dc*i*(1-g^2), dh*tanh(c)*o(1-o)]`` of the program's units go
    to ``dgates`` (same layout as ``gates``).  ``sync_ptr`` as in the forward.
    """
    G_ROW: tl.constexpr = NUM_SCALES * 8 * H
    Y_ROW: tl.constexpr = NUM_SCALES * 2 * H
    SLICE: tl.constexpr = BLOCK_H // GROUP
    CHUNKS: tl.constexpr = BLOCK_H // BLOCK_K  # K-chunks per gate
    group = tl.program_id(0)
    w, first_q = _group_weight_set(group, B, NUM_SCALES, BLOCK_M)
    slot, stride, direction, n_q, seq_row0 = _set_sequences(w, first_q, len_ptr, B, T, NUM_SCALES, BLOCK_M)
    n = tl.program_id(1) * SLICE + tl.arange(0, SLICE)
    n_ok = n < H
    kc = tl.arange(0, BLOCK_K)
    w_base = w_hh_ptr + w.to(tl.int64) * (4 * H * H)
    w_chunks = ()  # chunk gate * CHUNKS + j: W_hh[gate*H + j*BLOCK_K + kc, n] as (BLOCK_K, SLICE)
    for gate in tl.static_range(4):
        for j in tl.static_range(CHUNKS):
            rows = j * BLOCK_K + kc
            w_chunks = w_chunks + (tl.load(w_base + (gate * H + rows)[:, None] * H + n[None, :],
                                           mask=(rows < H)[:, None] & n_ok[None, :], other=0.0),)
    gate_col = slot * 4 * H
    y_col = slot * H
    counter = sync_ptr + group
    error = sync_ptr + tl.num_programs(0)
    dc_next = tl.zeros((BLOCK_M, SLICE), dtype=ACC)
    for it in range(0, tl.max(n_q, axis=0)):
        active = it < n_q
        k = n_q - 1 - it
        row, prev_row, has_prev = _visit_rows(k, active, n_q, stride, direction, seq_row0)
        has_next = active & (it > 0)
        next_row = tl.where(has_next, row + (1 - 2 * direction) * stride, row)  # visit k+1: +s fwd, -s reverse
        tile_ok = active[:, None] & n_ok[None, :]
        dh = tl.load(dy_ptr + row[:, None] * Y_ROW + y_col + n[None, :], mask=tile_ok, other=0.0).to(ACC)
        if GROUP > 1:
            _wait_for(counter, GROUP * it, error, max_spins)  # every slice of dG(k+1) is in dgates
        for gate in tl.static_range(4):
            for j in tl.static_range(CHUNKS):
                cols = j * BLOCK_K + kc
                dg = tl.load(dgates_ptr + next_row[:, None] * G_ROW + gate_col + gate * H + cols[None, :],
                             mask=has_next[:, None] & (cols < H)[None, :], other=0.0, cache_modifier=".cg")
                dh = tl.dot(dg, w_chunks[gate * CHUNKS + j], dh, input_precision=PRECISION, out_dtype=ACC)
        # the step's read-only tiles are loaded after the dots: loaded before, they spill at H = 256
        gi, gf, gg, go = _load_gates(gates_ptr + row[:, None] * G_ROW + gate_col + n[None, :], tile_ok, H, ACC)
        c = tl.load(cell_ptr + row[:, None] * Y_ROW + y_col + n[None, :], mask=tile_ok, other=0.0)
        c_prev = tl.load(cell_ptr + prev_row[:, None] * Y_ROW + y_col + n[None, :],
                         mask=has_prev[:, None] & n_ok[None, :], other=0.0)
        dc_next, dgi, dgf, dgg, dgo = _cell_backward(dh, dc_next, gi, gf, gg, go, c, c_prev)
        _store_gates(dgates_ptr + row[:, None] * G_ROW + gate_col + n[None, :], tile_ok, H, dgi, dgf, dgg, dgo)
        _arrive(counter, GROUP)


# ------------------------------------------------------------------------------------------------ sizing
@dataclass(frozen=True)
class DeviceLimits:
    """What bounds co-residency on one GPU (defaults: H100 / H200, sm_90)."""

    sm_count: int
    regs_per_sm: int = 65536
    shared_per_sm: int = 233472  # 228 KiB
    shared_per_block: int = 232448  # 227 KiB opt-in
    threads_per_sm: int = 2048
    blocks_per_sm: int = 32
    shared_reserved_per_block: int = 1024  # the runtime's per-CTA reservation (sm_80 and later)
    register_unit: int = 256  # registers are allocated per warp in units of 256


@dataclass(frozen=True)
class KernelUsage:
    """A compiled kernel's per-program resources (ptxas / the driver)."""

    registers: int  # per thread
    num_warps: int
    shared_bytes: int
    spill_bytes: int = 0  # local memory per thread


@dataclass(frozen=True)
class ResidentPlan:
    """How a v2 launch is split: ``groups`` groups of ``group_size`` programs of ``block_m`` sequences."""

    group_size: int
    block_m: int
    groups: int
    num_warps: int

    @property
    def grid(self) -> tuple[int, int]:
        return (self.groups, self.group_size)


def programs_per_sm(usage: KernelUsage, device: DeviceLimits) -> int:
    """How many programs of this kernel one SM holds at once (the CUDA occupancy rule)."""
    if usage.shared_bytes > device.shared_per_block:
        return 0
    threads = usage.num_warps * 32
    regs_per_warp = -(-usage.registers * 32 // device.register_unit) * device.register_unit
    by_regs = (device.regs_per_sm // regs_per_warp) // usage.num_warps if regs_per_warp else device.blocks_per_sm
    by_shared = device.shared_per_sm // (usage.shared_bytes + device.shared_reserved_per_block)
    return min(device.blocks_per_sm, device.threads_per_sm // threads, by_regs, by_shared)


def candidate_group_sizes(block_h: int) -> tuple[int, ...]:
    """Group sizes that leave every program at least MIN_SLICE hidden units."""
    return tuple(g for g in GROUP_SIZES if block_h // g >= MIN_SLICE)


def choose_group_size(
    groups: int, block_h: int, device: DeviceLimits, usage_of: Callable[[int], KernelUsage | None],
    element_bytes: int = 2,
) -> int | None:
    """The group size G of a launch of ``groups`` groups, or None when no G has its whole grid co-resident.

    ``usage_of(G)``: the compiled kernel's resources for G (None: it does not compile or load); it is only asked
    for the G that :func:`could_fit` allows.  Among the G whose ``groups * G`` programs fit the device at once:
    the fewest spilled bytes first; then G = 1 (no
    cross-program wait at all); then grids of at most one program per SM, the largest G (the shortest step:
    each program's share of the 4H x H recurrence shrinks with G); then the smallest G (fewest programs
    sharing an SM's tensor cores).  A heuristic, to be tuned by measurement (the launchers take
    ``group_size=`` to force one).
    """
    fitting = []
    for g in candidate_group_sizes(block_h):
        usage = usage_of(g) if could_fit(groups, g, block_h, device, element_bytes) else None
        if usage is not None and groups * g <= device.sm_count * programs_per_sm(usage, device):
            fitting.append((usage.spill_bytes, g != 1, groups * g > device.sm_count,
                            g if groups * g > device.sm_count else -g, g))
    return min(fitting)[-1] if fitting else None


def could_fit(groups: int, group_size: int, block_h: int, device: DeviceLimits, element_bytes: int = 2) -> bool:
    """A bound checked before compiling anything: the grid can only be co-resident if the SMs' shared memory
    holds every program's resident W_hh slice (4 gates x BLOCK_H x BLOCK_H / G elements of at least
    ``element_bytes``).  Compiling a candidate that fails it would be wasted time (minutes for fp32)."""
    weight_bytes = 4 * block_h * (block_h // group_size) * element_bytes
    if weight_bytes > device.shared_per_block:
        return False
    per_sm = min(device.shared_per_sm // weight_bytes, device.blocks_per_sm)
    return groups * group_size <= device.sm_count * per_sm


def device_limits(device: torch.device) -> DeviceLimits:
    """The :class:`DeviceLimits` of a CUDA device (fields torch does not report keep the sm_90 defaults)."""
    props = torch.cuda.get_device_properties(device)
    defaults = DeviceLimits(sm_count=props.multi_processor_count)
    return DeviceLimits(
        sm_count=props.multi_processor_count,
        regs_per_sm=getattr(props, "regs_per_multiprocessor", defaults.regs_per_sm),
        shared_per_sm=getattr(props, "shared_memory_per_multiprocessor", defaults.shared_per_sm),
        shared_per_block=getattr(props, "shared_memory_per_block_optin", defaults.shared_per_block),
        threads_per_sm=getattr(props, "max_threads_per_multi_processor", defaults.threads_per_sm),
    )


def sequence_block(batch: int, num_scales: int) -> int:
    """BLOCK_M: every sequence of the widest weight set (B*S) in one program, within [16, 64]."""
    return min(MAX_BLOCK_M, max(MIN_BLOCK_M, triton.next_power_of_2(batch * num_scales)))


def num_groups(encoders: int, batch: int, num_scales: int, block_m: int) -> int:
    """Groups of a launch: per encoder, scale and direction, ``cdiv(B*s, BLOCK_M)`` (see the kernels)."""
    return encoders * sum(2 * triton.cdiv(batch * s, block_m) for s in range(1, num_scales + 1))


def _hidden_block(hidden: int) -> int:
    return max(MIN_SLICE, triton.next_power_of_2(hidden))


def _forward_warps(block_m: int, slice_: int) -> int:
    return 8 if block_m * slice_ >= WIDE_TILE else 4


def _backward_warps(block_m: int, slice_: int) -> int:
    return 4  # see the module docstring


@dataclass(frozen=True)
class _Launch:
    """One v2 kernel call before its group size is known; ``args[sync_arg]`` holds ``lengths`` (int32, like the
    counters) until :meth:`run` puts the counters there."""

    kernel: triton.JITFunction
    args: tuple
    dtype: torch.dtype  # the compute dtype (W_hh's; the saved gates may be fp32)
    sync_arg: int
    constexprs: dict
    warps: Callable[[int, int], int]  # (BLOCK_M, SLICE) -> num_warps
    groups: int
    block_m: int
    block_h: int

    def key(self, group_size: int | None) -> tuple:
        """What the plan depends on: the kernel, Triton's specialization of the arguments, the constexprs."""
        spec = tuple((a.device, a.dtype, a.data_ptr() % 16 == 0) if isinstance(a, torch.Tensor) else a
                     for a in self.args)
        constexprs = tuple(sorted((k, str(v)) for k, v in self.constexprs.items()))
        return (self.kernel.__name__, spec, constexprs, group_size)

    def options(self, group_size: int) -> dict:
        """Launch options: a G > 1 grid is launched cooperatively, so the driver rejects it when it cannot be
        co-resident (instead of a group waiting for a program that never starts)."""
        return {"launch_cooperative_grid": True} if group_size > 1 and not triton_interpreted() else {}

    def run(self, plan: ResidentPlan) -> str | None:
        """Launch with ``plan``; returns why its results must be discarded (None: they stand).  G > 1: one host
        sync per launch, to read the error flag the bounded waits set (:func:`_wait_for`)."""
        sync = self.args[self.sync_arg]  # G == 1 never touches it
        if plan.group_size > 1:
            sync = torch.zeros(plan.groups + 1, device=sync.device, dtype=torch.int32)  # counters, error flag
        args = (*self.args[:self.sync_arg], sync, *self.args[self.sync_arg + 1:])
        self.kernel[plan.grid](*args, GROUP=plan.group_size, num_warps=plan.num_warps, num_stages=1,
                               **self.options(plan.group_size), **self.constexprs)
        if plan.group_size > 1 and int(sync[-1]) != 0:
            return (f"a wait of a group of {plan.group_size} programs gave up after {self.args[-1]} spins (the group "
                    "was not co-resident)")
        return None


_PLANS: dict[tuple, ResidentPlan | None] = {}


def _compiled_usage(launch: _Launch, device: DeviceLimits, group_size: int) -> KernelUsage | None:
    """The resources of ``launch``'s kernel compiled for ``group_size`` (None: it cannot load on the device)."""
    with torch.cuda.device(launch.args[0].device):  # Triton loads the binary on the current device
        try:
            compiled = launch.kernel.warmup(
                *launch.args, grid=(launch.groups, group_size), GROUP=group_size, num_stages=1,
                num_warps=launch.warps(launch.block_m, launch.block_h // group_size),
                **launch.options(group_size), **launch.constexprs)
            compiled._init_handles()  # loads the binary: registers, local memory; too much shared memory raises
        except OutOfResources:
            return None
        except Exception as err:  # noqa: BLE001 -- any compile or load failure rules this G out
            _warn(f"G = {group_size} does not compile or load ({_describe(err)}); not a candidate")
            return None
    return KernelUsage(compiled.n_regs, compiled.metadata.num_warps, compiled.metadata.shared,
                       4 * compiled.n_spills)  # the driver reports local memory bytes / 4


def _plan(
    launch: _Launch, group_size: int | None, device: DeviceLimits | None = None,
    usage_of: Callable[[int], KernelUsage | None] | None = None,
) -> ResidentPlan | None:
    """The plan of one launch (None: run v1); ``group_size`` forces G (ValueError when it cannot run).
    ``device`` and ``usage_of`` default to the tensors' GPU and the compiled kernels (tests pass fakes)."""
    block_m, block_h, groups = launch.block_m, launch.block_h, launch.groups
    sizes = candidate_group_sizes(block_h)
    if group_size is not None and group_size not in sizes:
        raise ValueError(f"ms_lstm v2: group_size must be one of {sizes} at hidden size {launch.constexprs['H']}")
    if triton_interpreted():  # programs run one after another: a forced G > 1 ends in the bounded wait's fallback
        g = group_size or 1
        return ResidentPlan(g, block_m, groups, launch.warps(block_m, block_h // g))
    if launch.dtype == torch.float32 and launch.constexprs["PRECISION"] == "ieee":
        # no tensor cores: an FMA dot keeps its operands in registers, where no W_hh slice fits (ptxas, G = 4:
        # 60 KB of spill per thread); v1 streams small W tiles instead
        if group_size is not None:
            raise ValueError("ms_lstm v2: fp32 without TF32 (float32 matmul precision 'highest') runs v1 only")
        return None
    key = launch.key(group_size)
    if key in _PLANS:
        return _PLANS[key]
    device = device or device_limits(launch.args[0].device)
    usage_of = usage_of or (lambda g: _compiled_usage(launch, device, g))
    if group_size is None:
        chosen = choose_group_size(groups, block_h, device, usage_of, torch.finfo(launch.dtype).bits // 8)
    else:
        usage = usage_of(group_size)
        if usage is None or groups * group_size > device.sm_count * programs_per_sm(usage, device):
            raise ValueError(f"ms_lstm v2: {groups} groups of {group_size} programs are not co-resident on "
                             f"{device.sm_count} SMs ({usage}): the group barrier would deadlock")
        chosen = group_size
    plan = None if chosen is None else ResidentPlan(chosen, block_m, groups, launch.warps(block_m, block_h // chosen))
    _PLANS[key] = plan
    return plan


# ------------------------------------------------------------------------------------------------ launchers
def _forward_launch(
    gates: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor, cell: torch.Tensor,
    num_scales: int, save: bool,
) -> _Launch:
    E, B, T, _ = gates.shape
    hidden = w_hh.shape[-1]
    block_m, block_h = sequence_block(B, num_scales), _hidden_block(hidden)
    constexprs = dict(NUM_SCALES=num_scales, H=hidden, BLOCK_M=block_m, BLOCK_H=block_h,
                      ACC=_tl_dtype(w_hh.dtype), PRECISION=dot_precision(w_hh.dtype), SAVE=save)
    return _Launch(ms_lstm_resident_forward_kernel, (gates, w_hh, y, cell, lengths, lengths, B, T, spin_limit()),
                   w_hh.dtype, 5, constexprs, _forward_warps, num_groups(E, B, num_scales, block_m), block_m, block_h)


def _backward_launch(
    gates: torch.Tensor, cell: torch.Tensor, dy: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor,
    dgates: torch.Tensor, num_scales: int,
) -> _Launch:
    E, B, T, _ = gates.shape
    hidden = w_hh.shape[-1]
    block_m, block_h = sequence_block(B, num_scales), _hidden_block(hidden)
    constexprs = dict(NUM_SCALES=num_scales, H=hidden, BLOCK_M=block_m, BLOCK_H=block_h,
                      BLOCK_K=min(BLOCK_K, block_h), ACC=_tl_dtype(w_hh.dtype), PRECISION=dot_precision(w_hh.dtype))
    return _Launch(ms_lstm_resident_backward_kernel,
                   (gates, cell, dy, w_hh, dgates, lengths, lengths, B, T, spin_limit()), w_hh.dtype, 6,
                   constexprs, _backward_warps, num_groups(E, B, num_scales, block_m), block_m, block_h)


def forward_plan(*args: object, group_size: int | None = None) -> ResidentPlan | None:
    """The plan :func:`lstm_forward` runs its arguments with; None: it runs v1 (for the benchmark's report)."""
    return _plan(_forward_launch(*args), group_size)


def backward_plan(*args: object, group_size: int | None = None) -> ResidentPlan | None:
    """The plan :func:`lstm_backward` runs its arguments with; None: it runs v1."""
    return _plan(_backward_launch(*args), group_size)


def spin_limit() -> int:
    """The bound of each group wait: :data:`MAX_SPINS` on a GPU, :data:`INTERPRETER_MAX_SPINS` in the interpreter."""
    return INTERPRETER_MAX_SPINS if triton_interpreted() else MAX_SPINS


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def _warn(message: str) -> None:
    warnings.warn(f"ms_lstm v2: {message}", RuntimeWarning, stacklevel=3)


def _run_v2_or_v1(launch: _Launch, group_size: int | None, run_v1: Callable[[], None],
                  inputs_written: tuple[torch.Tensor, ...] = ()) -> None:
    """Run ``launch`` with its plan; v1 (``run_v1``) when there is none, and -- with a warning -- when planning,
    compiling or launching v2 fails, or a bounded wait gave up.  ``inputs_written``: inputs v2 overwrites in
    place (the forward's gates), restored before v1 reruns after a wait that gave up.  A forced ``group_size``
    that cannot run raises ValueError instead."""
    try:
        plan = _plan(launch, group_size)
    except Exception as err:  # noqa: BLE001 -- any failure to plan v2 means v1
        if group_size is not None and isinstance(err, ValueError):
            raise
        _warn(f"no plan ({_describe(err)}); running v1")
        plan = None
    if plan is None:
        run_v1()
        return
    saved = [t.clone() for t in inputs_written] if plan.group_size > 1 else []
    try:
        problem = launch.run(plan)
    except Exception as err:  # noqa: BLE001 -- e.g. the driver rejects a cooperative grid that cannot be resident
        problem = f"the launch failed ({_describe(err)})"
    if problem is None:
        return
    _warn(f"{problem}; running v1 instead")
    for t, copy in zip(inputs_written, saved, strict=False):
        t.copy_(copy)
    run_v1()


def lstm_forward(
    gates: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor, cell: torch.Tensor,
    num_scales: int, save: bool, group_size: int | None = None,
) -> None:
    """:func:`.kernel.lstm_forward` with the v2 recurrence; v1 when no group size fits the device, or v2 fails."""
    launch = _forward_launch(gates, w_hh, lengths, y, cell, num_scales, save)
    _run_v2_or_v1(launch, group_size, lambda: v1.lstm_forward(gates, w_hh, lengths, y, cell, num_scales, save),
                  (gates,) if save else ())


def lstm_backward(
    gates: torch.Tensor, cell: torch.Tensor, dy: torch.Tensor, w_hh: torch.Tensor, lengths: torch.Tensor,
    dgates: torch.Tensor, num_scales: int, group_size: int | None = None,
) -> None:
    """:func:`.kernel.lstm_backward` with the v2 recurrence; v1 when no group size fits the device, or v2 fails."""
    launch = _backward_launch(gates, cell, dy, w_hh, lengths, dgates, num_scales)
    _run_v2_or_v1(launch, group_size, lambda: v1.lstm_backward(gates, cell, dy, w_hh, lengths, dgates, num_scales))
