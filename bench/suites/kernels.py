"""Kernel suite: the fused MS-LSTM and CQA ops against their PyTorch reference (SPEC §6).

Variants of every case:

* ``reference`` -- ``backend="reference"`` (cuDNN ``nn.LSTM`` on GPU), the baseline;
* ``compiled``  -- the same reference function under ``torch.compile``;
* ``triton``    -- ``backend="triton"``, the fused kernels.  On CPU they run only through the Triton
  interpreter, at tiny shapes, for parity -- never timed.

MS-LSTM is measured for one encoder (E = 1) and for the Q/K/V triple of an LSTM Transformer block
(E = 3); both ops forward (inference, no autograd graph) and forward + backward (gradients for
the inputs and every weight).  In a low-precision (bf16 / fp16) case the ``triton`` kernel is asserted
against the fp32 reference on the same (rounded) weights and inputs, ``compiled`` against the eager
reference at the same dtype, and the eager reference's own error against fp32 is shown for context.
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
    generator,
    kernel_function,
    prefix_mask,
    ragged_lengths,
    randn,
    triton_skip,
    upcast_oracle,
)
from engine import ContextQueryAttention
from kernels.cqa.reference import cqa_reference
from kernels.ms_lstm.reference import ms_lstm_reference

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
                    "forward+backward costs 10-100 s per shape there (the deploy suite compiles the whole model)")
ENCODER_COUNTS = (1, 3)  # one MS-LSTM encoder; the Q/K/V triple of an LSTM Transformer block


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
    return ContextQueryAttention(shapes.dim, kernels="reference").to(settings.device, dtype)


def pass_flops(module: str, counter: str, sizes: tuple[int, ...], backward: bool) -> float | None:
    """FLOPs of one timed call from the kernel's own counter (``backward=True`` counts the backward pass
    alone, so a forward+backward call adds both); None when the kernel module has no counter."""
    count = kernel_function(module, counter)
    if count is None:
        return None
    return float(count(*sizes, backward=False)) + (float(count(*sizes, backward=True)) if backward else 0.0)


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
              backward: bool, interpreter_only: bool) -> tuple[list[Variant], Variant | None]:
    """reference, compiled and triton variants of one case (+ the fp32 oracle for low precision)."""
    on_cuda = settings.device.type == "cuda"
    variants = [build("reference", backend_op("reference"), module, backward, not interpreter_only)]
    candidate = candidate_copy(module, settings)
    if settings.compile_skip is None and not interpreter_only:
        variants.append(build("compiled", compiled(reference_op), candidate, backward))
    if triton is None and (on_cuda or interpreter_only):
        kernel = build("triton", backend_op("triton"), candidate, backward, on_cuda)
        kernel.vs_oracle = True  # a bf16 kernel answers to the fp32 reference, not to cuDNN's bf16 rounding
        variants.append(kernel)
    dtype = next(module.parameters()).dtype
    oracle = None
    if dtype != torch.float32:
        oracle = upcast_oracle(lambda m: build("reference fp32", backend_op("reference"), m, backward),
                               module, "reference fp32")
    return variants, oracle


def ms_lstm_case(settings: Settings, shapes: KernelShapes, encoders: nn.ModuleList, length: int, backward: bool,
                 interpreter_only: bool = False) -> Case:
    B, D, S, count = shapes.batch, shapes.dim, shapes.scales, len(encoders)
    dtype = next(encoders.parameters()).dtype

    def make_input(seed: int) -> MsLstmInput:
        gen = generator(seed)
        lengths = ragged_lengths(B, length, gen).to(settings.device)
        xs = [randn((B, length, D), gen, settings, dtype).requires_grad_(backward) for _ in range(count)]
        grads = [randn((B, length, S * D), gen, settings, dtype) for _ in range(count)]
        return MsLstmInput(xs, lengths, grads)

    variants, oracle = _variants(settings, encoders, _ms_lstm_variant, ms_lstm_reference, _backend,
                                 triton_skip(settings, MS_LSTM_OP), backward, interpreter_only)
    flops = pass_flops(MS_LSTM_OP, "ms_lstm_flops", (B, length, D, D // 2, S, count), backward)
    return Case(
        SUITE, f"ms_lstm E={count} {direction(backward)}", dtype,
        {"B": B, "T": length, "D": D, "H": D // 2, "S": S, "E": count},
        make_input, variants, oracle,
        flops=flops,
        memory=settings.device.type == "cuda",
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
    flops = pass_flops(CQA_OP, "cqa_flops", (B, length, N, d), backward)
    return Case(
        SUITE, f"cqa {direction(backward)}", dtype, {"B": B, "T": length, "N": N, "d": d},
        make_input, variants, oracle,
        flops=flops,
        memory=settings.device.type == "cuda",
    )


def _shapes(settings: Settings) -> KernelShapes:
    if settings.quick:
        return QUICK_SHAPES
    return GPU_SHAPES if settings.device.type == "cuda" else CPU_SHAPES


def cases(settings: Settings) -> Iterator[Case | SkipRecord]:
    """Every kernel case this machine supports, plus a skip record per variant it cannot run."""
    if settings.device.type != "cuda" and not settings.compile_skip:
        settings = replace(settings, compile_skip=CPU_COMPILE_SKIP)
    if settings.compile_skip:
        yield SkipRecord(SUITE, "all", "compiled", settings.compile_skip)
    for op in (MS_LSTM_OP, CQA_OP):
        reason = triton_skip(settings, op)
        if reason:
            yield SkipRecord(SUITE, op.split(".")[1], "triton", reason)
    shapes = _shapes(settings)
    for dtype in settings.dtypes:
        encoders = {count: make_encoders(count, shapes, settings, dtype) for count in ENCODER_COUNTS}
        block = make_cqa_block(shapes, settings, dtype)
        for backward in (False, True):
            for count in ENCODER_COUNTS:
                for length in shapes.lstm_lengths:
                    yield ms_lstm_case(settings, shapes, encoders[count], length, backward)
            for length in shapes.cqa_lengths:
                yield cqa_case(settings, shapes, block, length, backward)
    yield from _interpreter_cases(settings)


def _interpreter_cases(settings: Settings) -> Iterator[Case]:
    """CPU only: the Triton kernels through the interpreter at tiny fp32 shapes, parity only."""
    if settings.device.type == "cuda":
        return
    shapes, fp32 = INTERPRETER_SHAPES, torch.float32
    # --quick: forward+backward only (its outputs are checked too), one encoder
    directions, counts = ((True,), ENCODER_COUNTS[:1]) if settings.quick else ((False, True), ENCODER_COUNTS)
    for backward in directions:
        if triton_skip(settings, MS_LSTM_OP) is None:
            for count in counts:
                encoders = make_encoders(count, shapes, settings, fp32)
                yield ms_lstm_case(settings, shapes, encoders, shapes.lstm_lengths[0], backward, True)
        if triton_skip(settings, CQA_OP) is None:
            block = make_cqa_block(shapes, settings, fp32)
            yield cqa_case(settings, shapes, block, shapes.cqa_lengths[0], backward, True)
