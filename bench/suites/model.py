"""Model suite: every registered model (engine.models), engine kernels ("triton") vs reference ops.

Per model and dataset-like shape (Charades-STA-like: T = 64 clips, N = 10 words, I3D dv = 1024,
3 entity blocks for EAMAT; TACoS-like: T = 256, N = 12, C3D dv = 4096, 1 entity block):

* ``train step`` -- forward, loss, backward, gradient clipping and an AdamW step, as ``python -m train``
  does it: optimizer and clipping from :mod:`train.optim` with the default :class:`engine.config.OptimConfig`
  (bf16 cases under bf16 autocast); reported as samples/s;
* ``infer b=1`` -- eval-mode forward of one query (latency);
* ``infer b=<n>`` -- eval-mode forward of a batch (throughput, samples/s).

Variants: ``reference`` (``set_kernels(model, "reference")``: cuDNN LSTMs, PyTorch CQA) and
``triton`` (``set_kernels(model, "triton")``), each with its own copy of the same weights.  Parity
compares the loss, every float output (per-clip ones at valid clips) and every parameter gradient.  Dropout
and DP's Gumbel noise are reseeded before each call so both variants draw the same masks.  The
reference of a bf16 case runs at the same autocast dtype (whole-model bf16 drifts from fp32
by more than the 1e-2 kernel tolerance).  On CPU the ``triton`` variant runs through the Triton
interpreter at a tiny configuration, parity only.

``cases(settings, ...)`` takes a plan part's selection (:mod:`bench.plans`): ``models``, ``workloads`` (names),
``train`` / ``inference`` (which cases) and ``interpreter`` (the CPU-only interpreter parity cases).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from bench.cases import Case, Result, Settings, Tensors, Variant
from bench.records import SkipRecord
from bench.suites import candidate_copy, fused_backend, generator, prefix_mask, ragged_lengths, triton_skip
from engine.config import Config, OptimConfig
from engine.models import build_model, model_inputs, model_names, set_kernels
from kernels.parity import MODEL_FP32_TOL
from kernels.registry import REFERENCE
from train.optim import build_optimizer, clip_gradients

SUITE = "model"
MODELS = model_names()
TRITON_OPS = ("kernels.ms_lstm.op", "kernels.cqa.op")
STEP_SEED = 1234  # dropout / Gumbel seed of every call
QUICK_INTERPRETER_SKIP = ("skipped in --quick mode: the whole models through the Triton interpreter take about a "
                          "minute on CPU; run without --quick")


@dataclass(frozen=True)
class Workload:
    """A dataset-like shape: clips T, words N, clip-feature width dv, EAMAT's entity blocks (for a model that
    has them)."""

    name: str
    clips: int
    words: int
    video_dim: int
    entity_blocks: int


@dataclass(frozen=True)
class ModelShapes:
    dim: int
    heads: int
    scales: int
    word_dim: int
    vocab: int
    train_batch: int
    infer_batches: tuple[int, ...]
    workloads: tuple[Workload, ...]
    motion_blocks: int = 3


CHARADES = Workload("charades-like", clips=64, words=10, video_dim=1024, entity_blocks=3)
TACOS = Workload("tacos-like", clips=256, words=12, video_dim=4096, entity_blocks=1)
GPU_SHAPES = ModelShapes(dim=512, heads=8, scales=3, word_dim=300, vocab=1000, train_batch=16,
                         infer_batches=(1, 32), workloads=(CHARADES, TACOS))
CPU_WORKLOADS = (replace(CHARADES, clips=32, video_dim=256), replace(TACOS, clips=64, video_dim=512))
CPU_SHAPES = ModelShapes(dim=64, heads=4, scales=3, word_dim=50, vocab=1000, train_batch=4, infer_batches=(1, 8),
                         workloads=CPU_WORKLOADS)
QUICK_SHAPES = ModelShapes(dim=32, heads=4, scales=3, word_dim=16, vocab=50, train_batch=2, infer_batches=(1, 2),
                           workloads=(Workload("tiny", clips=12, words=6, video_dim=24, entity_blocks=1),),
                           motion_blocks=1)
INTERPRETER_SHAPES = ModelShapes(dim=16, heads=2, scales=3, word_dim=8, vocab=30, train_batch=2, infer_batches=(),
                                 workloads=(Workload("tiny", clips=8, words=5, video_dim=12, entity_blocks=1),),
                                 motion_blocks=1)




def model_config(name: str, shapes: ModelShapes, workload: Workload, dropout: float = 0.5) -> Config:
    """The config of model ``name`` at these shapes; the sizes a model does not have (e.g. EAMAT's block counts
    for DP) are set only in the sections of the models that have them (:meth:`Config.set`)."""
    cfg = Config()
    sizes = dict(name=name, dim=shapes.dim, num_heads=shapes.heads, num_scales=shapes.scales, dropout=dropout,
                 video_dim=workload.video_dim, vocab_size=shapes.vocab, word_dim=shapes.word_dim,
                 entity_blocks=workload.entity_blocks, motion_blocks=shapes.motion_blocks, kernels=REFERENCE)
    for key, value in sizes.items():
        cfg.set(f"model.{key}", value)
    return cfg


def build(name: str, shapes: ModelShapes, workload: Workload, device: torch.device) -> nn.Module:
    """A model with random word vectors (rows 0 = <pad>, 1 = <unk> zero), seeded by its name and shape."""
    torch.manual_seed(shapes.dim * 7 + workload.clips)
    vectors = torch.randn(shapes.vocab, shapes.word_dim)
    vectors[:2] = 0.0
    return build_model(model_config(name, shapes, workload), vectors).to(device)


def random_batch(seed: int, batch: int, shapes: ModelShapes, workload: Workload, device: torch.device) -> dict:
    """A collate-style batch with ragged clips and words and a labelled span inside each video."""
    gen = generator(seed)
    T, N = workload.clips, workload.words
    clip_lengths, word_lengths = ragged_lengths(batch, T, gen), ragged_lengths(batch, N, gen)
    video_mask, word_mask = prefix_mask(clip_lengths, T), prefix_mask(word_lengths, N)
    start = (torch.rand(batch, generator=gen) * clip_lengths).long()
    end = torch.minimum(start + (torch.rand(batch, generator=gen) * T / 4).long(), clip_lengths - 1)
    clips = torch.arange(T)
    cpu = {
        "video": torch.randn(batch, T, workload.video_dim, generator=gen) * video_mask.unsqueeze(-1),
        "video_mask": video_mask,
        "words": torch.randint(2, shapes.vocab, (batch, N), generator=gen) * word_mask,
        "word_mask": word_mask,
        "word_class": torch.randint(0, 3, (batch, N), generator=gen) * word_mask,
        "start_idx": start,
        "end_idx": end,
        "inner": ((clips >= start[:, None]) & (clips <= end[:, None])).float(),
    }
    return {k: v.to(device) for k, v in cpu.items()}


def shape_info(name: str, shapes: ModelShapes, workload: Workload) -> dict[str, Any]:
    """The sizes recorded with a model measurement (EAMAT also names its entity / motion block counts)."""
    info = {"d": shapes.dim, "S": shapes.scales, "T": workload.clips, "N": workload.words, "dv": workload.video_dim}
    own = model_config(name, shapes, workload).own
    if hasattr(own, "entity_blocks"):
        info["blocks"] = f"e{own.entity_blocks}/m{own.motion_blocks}"
    return info


def forward(model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
    return model(*model_inputs(batch))


def compared_outputs(outputs: dict[str, torch.Tensor], video_mask: torch.Tensor) -> Tensors:
    """The float outputs, in the model's order: per-clip ones (B, T, ...) at valid clips only, the others
    whole (e.g. DP's path logits)."""
    valid = video_mask != 0
    return [value[valid] if value.shape[:2] == valid.shape else value
            for value in outputs.values() if value.is_floating_point()]


def autocast(dtype: torch.dtype, device: torch.device):
    return nullcontext() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)


def inference_variant(name: str, model: nn.Module, dtype: torch.dtype, timed: bool = True) -> Variant:
    model.eval()

    def run(batch: dict) -> Result:
        with torch.no_grad(), autocast(dtype, batch["video"].device):
            return compared_outputs(forward(model, batch), batch["video_mask"]), []

    return Variant(name, run, timed)


def train_step_variant(name: str, model: nn.Module, dtype: torch.dtype, timed: bool = True) -> Variant:
    """One optimisation step; returns the loss and logits, and the clipped gradients it applied."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = OptimConfig()  # the training defaults (learning rate, weight decay, clipping)
    optimizer = build_optimizer(model, optim)

    def run(batch: dict) -> Result:
        torch.manual_seed(STEP_SEED)
        with autocast(dtype, batch["video"].device):
            outputs = forward(model, batch)
            loss, _ = model.loss(outputs, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, optim)
        optimizer.step()
        return [loss.detach(), *compared_outputs(outputs, batch["video_mask"])], [p.grad for p in params]

    return Variant(name, run, timed)


def _variants(settings: Settings, reference: nn.Module, make, dtype: torch.dtype, triton: bool,
              timed: bool) -> list[Variant]:
    variants = [make(REFERENCE, reference, dtype, timed)]
    if triton:
        twin = candidate_copy(copy.deepcopy(reference), settings)
        fused = fused_backend()
        variants.append(make(fused, set_kernels(twin, fused), dtype, timed and settings.device.type == "cuda"))
    return variants


def model_cases(settings: Settings, shapes: ModelShapes, name: str, workload: Workload, dtype: torch.dtype,
                triton: bool, timed: bool = True, train: bool = True, inference: bool = True) -> Iterator[Case]:
    """The train-step case and / or one inference case per batch size, for one model and workload."""
    base = build(name, shapes, workload, settings.device)
    shape = shape_info(name, shapes, workload)
    label = f"{name} {workload.name}"

    def make_input(batch: int):
        return lambda seed: random_batch(seed, batch, shapes, workload, settings.device)

    on_cuda = settings.device.type == "cuda"
    jobs = [(f"{label} train step", shapes.train_batch, train_step_variant)] if train else []
    jobs += [(f"{label} infer b={b}", b, inference_variant) for b in shapes.infer_batches if inference]
    for case_name, batch, make in jobs:
        yield Case(
            SUITE, case_name, dtype, {"B": batch, **shape}, make_input(batch),
            _variants(settings, copy.deepcopy(base), make, dtype, triton, timed),
            items=batch, memory=on_cuda,
            tolerance=MODEL_FP32_TOL if dtype == torch.float32 and not settings.tf32 else None,
        )


def _shapes(settings: Settings) -> ModelShapes:
    if settings.quick:
        return QUICK_SHAPES
    return GPU_SHAPES if settings.device.type == "cuda" else CPU_SHAPES


def triton_reason(settings: Settings) -> str | None:
    return next((r for r in (triton_skip(settings, op) for op in TRITON_OPS) if r), None)


def cases(settings: Settings, models: tuple[str, ...] = MODELS, workloads: tuple[str, ...] | None = None,
          train: bool = True, inference: bool = True, interpreter: bool = True) -> Iterator[Any]:
    reason = triton_reason(settings)
    if reason:
        yield SkipRecord(SUITE, "all", fused_backend(), reason, part=settings.part)
    shapes = _shapes(settings)
    chosen = [w for w in shapes.workloads if workloads is None or w.name in workloads]
    on_cuda = settings.device.type == "cuda"
    for dtype in settings.dtypes:
        for workload in chosen:
            for name in models:
                yield from model_cases(settings, shapes, name, workload, dtype, reason is None and on_cuda,
                                       train=train, inference=inference)
    if on_cuda or reason is not None or not interpreter or not train:
        return
    if settings.quick:
        yield SkipRecord(SUITE, "interpreter parity", fused_backend(), QUICK_INTERPRETER_SKIP, part=settings.part)
        return
    for name in models:  # the kernels inside the models, through the interpreter: parity of the train step only
        yield from model_cases(settings, INTERPRETER_SHAPES, name, INTERPRETER_SHAPES.workloads[0], torch.float32,
                               triton=True, timed=False, inference=False)
