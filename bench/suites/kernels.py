"""Kernel suite: the fused MS-LSTM and CQA ops against their PyTorch reference (docs/design.md §10.1, tolerances §8.5).

Variants of every case:

* ``reference`` -- ``backend="reference"`` (cuDNN ``nn.LSTM`` on GPU), the baseline;
* ``compiled``  -- the same reference function under ``torch.compile``;
* ``triton``    -- ``backend="triton"``, the fused kernels.  On CPU they run only through the Triton
  interpreter, at tiny shapes, for parity -- never timed;
* ``triton-v2`` -- MS-LSTM only, ``backend="triton-v2"`` (the second recurrence, weights resident on chip)
  when that backend is registered (:func:`kernels.registry.backend_names`); on CPU through the interpreter
  like ``triton`` (which runs its groups of one program).

MS-LSTM is measured for one encoder (E = 1) and for the Q/K/V triple of an LSTM Transformer block
(E = 3); both ops forward (inference, no autograd graph) and forward + backward (gradients for
the inputs and every weight).  In a low-precision (bf16 / fp16) case the ``triton`` kernel is asserted
against the fp32 reference on the same (rounded) weights and inputs, ``compiled`` against the eager
reference at the same dtype, and the eager reference's own error against fp32 is shown for context.

FLOPs per call come from :mod:`kernels.policy` (``ms_lstm_flops``, ``cqa_flops``).  MS-LSTM records also carry
the per-step latency (median / sequential steps of the longest chain: T forward, 2T forward + backward) and
its memory floor (:func:`recurrent_state_bytes` per step / bandwidth, see :mod:`bench.hardware`).

``cases(settings, ...)`` takes the selection of a plan part (:mod:`bench.plans`): ``lengths`` (T of both ops,
in that order, at full shapes), ``encoders``, ``directions`` (False = forward, True = forward + backward),
``ops``, ``dtypes`` (names, restricting and ordering the run's dtypes), ``only_compiled`` (only cases with a
torch.compile variant), ``v2`` (None: a triton-v2 variant whenever that backend is registered; False: none;
True: only MS-LSTM cases, each with it -- a skip record when it is not registered) and ``interpreter`` (the
CPU-only interpreter parity cases).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
from torch import nn

import kernels
from bench.cases import Case, Settings, Tensors, Variant
from bench.records import SkipRecord
from bench.suites import (
    candidate_copy,
    compiled,
    differentiated,
    fused_backend,
    generator,
    prefix_mask,
    ragged_lengths,
    randn,
    triton_skip,
    upcast_oracle,
)
from engine.cqa import ContextQueryAttention
from kernels.cqa.reference import cqa_reference
from kernels.ms_lstm.reference import ms_lstm_reference
from kernels.policy import cqa_flops, ms_lstm_flops
from kernels.registry import REFERENCE, backend_names

SUITE = "kernels"
MS_LSTM_OP, CQA_OP = "kernels.ms_lstm.op", "kernels.cqa.op"


@dataclass(frozen=True)
class KernelShapes:
    batch: int
    dim: int
    scales: int
    lstm_lengths: tuple[int, ...]
    words: int
    cqa_lengths: tuple[int, ...]


GPU_SHAPES = KernelShapes(batch=16, dim=512, scales=3, lstm_lengths=(32, 64, 128, 256), words=12,
                          cqa_lengths=(32, 64, 128, 256, 512))
CPU_SHAPES = KernelShapes(batch=4, dim=128, scales=3, lstm_lengths=(32, 64, 128), words=12,
                          cqa_lengths=(32, 64, 128, 256))
QUICK_SHAPES = KernelShapes(batch=2, dim=32, scales=3, lstm_lengths=(16,), words=6, cqa_lengths=(16,))
INTERPRETER_SHAPES = KernelShapes(batch=2, dim=16, scales=3, lstm_lengths=(8,), words=5, cqa_lengths=(8,))
CPU_COMPILE_SKIP = ("torch.compile of the kernel references is not run on CPU: compiling the packed-LSTM "
                    "forward+backward costs tens of seconds per shape there (the deploy suite compiles the whole "
                    "model)")
ENCODER_COUNTS = (1, 3)  # one MS-LSTM encoder; the Q/K/V triple of an LSTM Transformer block
OPS = ("ms_lstm", "cqa")
DTYPE_NAMES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
V2 = "triton-v2"  # the second MS-LSTM recurrence, benchmarked next to "triton" when it is registered


def direction(backward: bool) -> str:
    return "fwd+bwd" if backward else "fwd"


@dataclass
class MsLstmInput:
    xs: Tensors
    lengths: torch.Tensor
    grad_outputs: Tensors

    def leaves(self) -> Tensors:
        return self.xs

    def to(self, dtype: torch.dtype) -> MsLstmInput:
        xs = [x.detach().to(dtype).requires_grad_(x.requires_grad) for x in self.xs]
        return MsLstmInput(xs, self.lengths, [g.to(dtype) for g in self.grad_outputs])


@dataclass
class CqaInput:
    video: torch.Tensor
    query: torch.Tensor
    video_mask: torch.Tensor
    query_mask: torch.Tensor
    grad_outputs: Tensors

    def leaves(self) -> Tensors:
        return [self.video, self.query]

    def to(self, dtype: torch.dtype) -> CqaInput:
        video, query = (t.detach().to(dtype).requires_grad_(t.requires_grad) for t in (self.video, self.query))
        return CqaInput(video, query, self.video_mask, self.query_mask, [g.to(dtype) for g in self.grad_outputs])


def make_encoders(count: int, shapes: KernelShapes, settings: Settings, dtype: torch.dtype) -> nn.ModuleList:
    """``count`` MS-LSTM encoders of ``shapes.scales`` BiLSTMs (hidden dim/2), as one module for copying.

    One set serves every length of a run: torch.compile guards on the modules, so new weights per case
    would recompile the compiled variant every time."""
    torch.manual_seed(count)
    D = shapes.dim
    return nn.ModuleList(
        nn.ModuleList(nn.LSTM(D, D // 2, bidirectional=True, batch_first=True) for _ in range(shapes.scales))
        for _ in range(count)
    ).to(settings.device, dtype)


def make_cqa_block(shapes: KernelShapes, settings: Settings, dtype: torch.dtype) -> ContextQueryAttention:
    torch.manual_seed(0)
    return ContextQueryAttention(shapes.dim, kernels=REFERENCE).to(settings.device, dtype)


def pass_flops(count, sizes: tuple[int, ...], backward: bool) -> float:
    """FLOPs of one timed call from a :mod:`kernels.policy` counter (``backward=True`` counts the backward pass
    alone, so a forward+backward call adds both)."""
    return float(count(*sizes, backward=False)) + (float(count(*sizes, backward=True)) if backward else 0.0)


def recurrent_state_bytes(lengths: list[int], H: int, S: int, E: int, element: int, backward: bool) -> float:
    """Bytes of recurrent state one call must move through memory: every valid frame is visited once per weight
    set (E encoders x S scales x 2 directions, whatever the stride); a forward visit stores h_t and loads
    h_{t-1} (2H elements), a backward visit stores the gate gradients dG and loads them back for the
    recurrent product (2 x 4H).  Per-step bytes = this / the chain's steps."""
    visits = E * S * 2 * sum(lengths)
    return visits * H * element * (2 + (8 if backward else 0))


def _ms_lstm_variant(name: str, op, encoders: nn.ModuleList, backward: bool, timed: bool = True) -> Variant:
    lists = [list(e) for e in encoders]
    return differentiated(lambda inp: op(inp.xs, inp.lengths, lists), encoders.parameters(), backward, name, timed)


def _backend(backend: str):
    return lambda xs, lengths, encoders: kernels.multi_scale_lstm(xs, lengths, encoders, backend=backend)


def _cqa_variant(name: str, op, block: ContextQueryAttention, backward: bool, timed: bool = True) -> Variant:
    def forward(inp: CqaInput) -> Tensors:
        return [op(inp.video, inp.query, inp.video_mask, inp.query_mask, block.w_c, block.w_q, block.w_m,
                   block.proj.weight, block.proj.bias)]

    return differentiated(forward, block.parameters(), backward, name, timed)


def _cqa_backend(backend: str):
    return lambda *args: kernels.context_query_attention(*args, backend=backend)


def _variants(settings: Settings, module: nn.Module, build, reference_op, backend_op, triton: str | None,
              backward: bool, interpreter_only: bool, extra_backends: tuple[str, ...] = ()
              ) -> tuple[list[Variant], Variant | None]:
    """reference, compiled and triton variants (+ ``extra_backends``, e.g. triton-v2) of one case, and the fp32
    oracle of a low-precision case."""
    on_cuda = settings.device.type == "cuda"
    variants = [build(REFERENCE, backend_op(REFERENCE), module, backward, not interpreter_only)]
    candidate = candidate_copy(module, settings)
    if settings.compile_skip is None and not interpreter_only:
        variants.append(build("compiled", compiled(reference_op), candidate, backward))
    if triton is None and (on_cuda or interpreter_only):
        for backend in (fused_backend(), *extra_backends):
            kernel = build(backend, backend_op(backend), candidate, backward, on_cuda)
            kernel.vs_oracle = True  # a bf16 kernel answers to the fp32 reference, not to cuDNN's bf16 rounding
            variants.append(kernel)
    dtype = next(module.parameters()).dtype
    oracle = None
    if dtype != torch.float32:
        oracle = upcast_oracle(lambda m: build(f"{REFERENCE} fp32", backend_op(REFERENCE), m, backward),
                               module, f"{REFERENCE} fp32")
    return variants, oracle


def ms_lstm_case(settings: Settings, shapes: KernelShapes, encoders: nn.ModuleList, length: int, backward: bool,
                 interpreter_only: bool = False, v2: bool = True) -> Case:
    B, D, S, count = shapes.batch, shapes.dim, shapes.scales, len(encoders)
    dtype = next(encoders.parameters()).dtype

    def make_input(seed: int) -> MsLstmInput:
        gen = generator(seed)
        lengths = ragged_lengths(B, length, gen).to(settings.device)
        xs = [randn((B, length, D), gen, settings, dtype).requires_grad_(backward) for _ in range(count)]
        grads = [randn((B, length, S * D), gen, settings, dtype) for _ in range(count)]
        return MsLstmInput(xs, lengths, grads)

    extra = (V2,) if v2 and V2 in backend_names() else ()  # through the interpreter: its one-program groups
    variants, oracle = _variants(settings, encoders, _ms_lstm_variant, ms_lstm_reference, _backend,
                                 triton_skip(settings, MS_LSTM_OP), backward, interpreter_only, extra)
    # the timed inputs' lengths (the first draw of each rotation seed, as in make_input)
    lengths = [int(n) for seed in range(settings.rotation) for n in ragged_lengths(B, length, generator(seed))]
    steps = length * (2 if backward else 1)  # sample 0 has the full length: the stride-1 chain has T visits
    element = torch.finfo(dtype).bits // 8
    state_bytes = recurrent_state_bytes(lengths, D // 2, S, count, element, backward) / settings.rotation
    return Case(
        SUITE, f"ms_lstm E={count} {direction(backward)}", dtype,
        {"B": B, "T": length, "D": D, "H": D // 2, "S": S, "E": count},
        make_input, variants, oracle,
        flops=pass_flops(ms_lstm_flops, (B, length, D, D // 2, S, count), backward),
        memory=settings.device.type == "cuda",
        steps=steps,
        step_bytes=state_bytes / steps,
    )


def cqa_case(settings: Settings, shapes: KernelShapes, block: ContextQueryAttention, length: int, backward: bool,
             interpreter_only: bool = False) -> Case:
    B, d, N = shapes.batch, shapes.dim, shapes.words
    dtype = block.w_c.dtype

    def make_input(seed: int) -> CqaInput:
        gen = generator(seed)
        video_mask = prefix_mask(ragged_lengths(B, length, gen), length).to(settings.device)
        query_mask = prefix_mask(ragged_lengths(B, N, gen), N).to(settings.device)
        video = randn((B, length, d), gen, settings, dtype).requires_grad_(backward)
        query = randn((B, N, d), gen, settings, dtype).requires_grad_(backward)
        return CqaInput(video, query, video_mask, query_mask, [randn((B, length, d), gen, settings, dtype)])

    variants, oracle = _variants(settings, block, _cqa_variant, cqa_reference, _cqa_backend,
                                 triton_skip(settings, CQA_OP), backward, interpreter_only)
    return Case(
        SUITE, f"cqa {direction(backward)}", dtype, {"B": B, "T": length, "N": N, "d": d},
        make_input, variants, oracle,
        flops=pass_flops(cqa_flops, (B, length, N, d), backward),
        memory=settings.device.type == "cuda",
    )


def _shapes(settings: Settings, lengths: tuple[int, ...] | None) -> KernelShapes:
    """The suite's shapes for this run; ``lengths`` replaces T of both ops at full shapes (tiny shapes keep their
    own: a plan part stays cheap on CPU)."""
    if settings.quick:
        return QUICK_SHAPES
    shapes = GPU_SHAPES if settings.device.type == "cuda" else CPU_SHAPES
    return shapes if lengths is None else replace(shapes, lstm_lengths=tuple(lengths), cqa_lengths=tuple(lengths))


def _dtypes(settings: Settings, names: tuple[str, ...] | None) -> tuple[torch.dtype, ...]:
    """The run's dtypes, restricted to and ordered as ``names`` when given."""
    if names is None:
        return settings.dtypes
    return tuple(DTYPE_NAMES[n] for n in names if DTYPE_NAMES[n] in settings.dtypes)


def cases(settings: Settings, lengths: tuple[int, ...] | None = None, encoders: tuple[int, ...] = ENCODER_COUNTS,
          directions: tuple[bool, ...] = (False, True), ops: tuple[str, ...] = OPS,
          dtypes: tuple[str, ...] | None = None, only_compiled: bool = False, v2: bool | None = None,
          interpreter: bool = True) -> Iterator[Case | SkipRecord]:
    """The kernel cases of the selection this machine supports, plus a skip record per variant it cannot run.

    Order: dtype, direction, op (as given), encoder count, length -- so a part whose time runs out has the
    cases it lists first."""
    if settings.device.type != "cuda" and not settings.compile_skip:
        settings = replace(settings, compile_skip=CPU_COMPILE_SKIP)
    if settings.compile_skip:
        yield SkipRecord(SUITE, "all", "compiled", settings.compile_skip, part=settings.part)
        if only_compiled:
            return
    if v2:
        ops = tuple(op for op in ops if op == "ms_lstm")
        if V2 not in backend_names():
            yield SkipRecord(SUITE, "ms_lstm", V2, f"no {V2!r} kernel backend is registered", part=settings.part)
            return
    for op in ops:
        reason = triton_skip(settings, MS_LSTM_OP if op == "ms_lstm" else CQA_OP)
        if reason:
            yield SkipRecord(SUITE, op, fused_backend(), reason, part=settings.part)
    shapes = _shapes(settings, lengths)
    for dtype in _dtypes(settings, dtypes):
        modules = {count: make_encoders(count, shapes, settings, dtype) for count in encoders if "ms_lstm" in ops}
        block = make_cqa_block(shapes, settings, dtype) if "cqa" in ops else None
        for backward in directions:
            for op in ops:
                if op == "ms_lstm":
                    for count in encoders:
                        for length in shapes.lstm_lengths:
                            yield ms_lstm_case(settings, shapes, modules[count], length, backward, v2=v2 is not False)
                else:
                    for length in shapes.cqa_lengths:
                        yield cqa_case(settings, shapes, block, length, backward)
    if interpreter:
        yield from _interpreter_cases(settings, ops, v2 is not False)


def _interpreter_cases(settings: Settings, ops: tuple[str, ...] = OPS, v2: bool = True) -> Iterator[Case | SkipRecord]:
    """CPU only: the Triton kernels through the interpreter at tiny fp32 shapes, parity only."""
    if settings.device.type == "cuda":
        return
    shapes, fp32 = INTERPRETER_SHAPES, torch.float32
    # --quick: forward+backward only (its outputs are checked too), one encoder
    directions, counts = ((True,), ENCODER_COUNTS[:1]) if settings.quick else ((False, True), ENCODER_COUNTS)
    for backward in directions:
        if "ms_lstm" in ops and triton_skip(settings, MS_LSTM_OP) is None:
            for count in counts:
                encoders = make_encoders(count, shapes, settings, fp32)
                yield ms_lstm_case(settings, shapes, encoders, shapes.lstm_lengths[0], backward, True, v2)
        if "cqa" in ops and triton_skip(settings, CQA_OP) is None:
            block = make_cqa_block(shapes, settings, fp32)
            yield cqa_case(settings, shapes, block, shapes.cqa_lengths[0], backward, True)
