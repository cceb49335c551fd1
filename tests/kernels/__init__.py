"""Kernel tests.  Shared by the device-aware parity tests (kernels, ops, fused export, whole models): the
tolerances and the float32 matmul switch.

Parity tolerances (max |got - want| / max |want|, NaN never passes): fp32 1e-5 with TF32 off, 1e-3 with TF32
on; fp16 / bf16 1e-2; gradients likewise.  The fp32 checks run with TF32 off (:func:`float32_matmul`, applied by
the test modules' autouse fixtures): torch's matmuls, cuDNN's LSTMs (the MS-LSTM reference) and the Triton
kernels' ``tl.dot`` (:func:`kernels.policy.dot_precision`) all follow it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch

from engine.models import model_inputs

FP32_REL_TOL = 1e-5  # TF32 off
FP32_TF32_REL_TOL = 1e-3  # TF32 on (CUDA only)
LOW_PRECISION_REL_TOL = 1e-2  # fp16, bf16
REL_TOL = {torch.float32: FP32_REL_TOL, torch.float16: LOW_PRECISION_REL_TOL, torch.bfloat16: LOW_PRECISION_REL_TOL}


@contextlib.contextmanager
def float32_matmul(tf32: bool) -> Iterator[None]:
    """TF32 for float32 matmuls and cuDNN on (``tf32``) or off, restored afterwards."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def ragged_lengths(batch: int, frames: int, seed: int) -> list[int]:
    """Seeded (CPU generator) lengths in [1, frames]: the first sample full, the last a single frame."""
    lengths = torch.randint(1, frames + 1, (batch,), generator=torch.Generator().manual_seed(seed))
    lengths[0], lengths[-1] = frames, 1
    return lengths.tolist()


# ------------------------------------------------------------------------------------------------ whole models
MODEL_FP32_REL_TOL = 1e-4  # whole-model fp32 (TF32 off): the fp32 reference itself is 3.1e-5 from float64
SCALE_FLOOR = 1e-3  # a tensor's scale is at least this times the largest magnitude of the tensors compared with it


def rel_errors(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> dict[str, float]:
    """name -> max |got - want| / max(max |want|, floor) in float64, the floor ``SCALE_FLOOR`` times the largest
    magnitude over ``want`` (a gradient that is zero in exact arithmetic holds only rounding noise); NaN when
    ``got`` is not finite (NaN never passes a bound)."""
    floor = SCALE_FLOOR * max(float(w.detach().double().abs().max()) for w in want.values())
    errors = {}
    for name, w in want.items():
        g, w = got[name].detach().double(), w.detach().double()
        assert g.shape == w.shape, f"{name}: shape {tuple(g.shape)} vs {tuple(w.shape)}"
        scale = max(float(w.abs().max()), floor)
        errors[name] = float((g - w).abs().max()) / scale if torch.isfinite(g).all() else float("nan")
    return errors


def assert_model_parity(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device,
                        dtype: torch.dtype = torch.float32) -> None:
    """A training step of ``model`` with the fused kernels (``set_kernels(model, "triton")``) against the
    reference ops, each on its own copy of the weights on ``device``, TF32 off: the loss, the logits at valid
    clips and every parameter gradient within ``MODEL_FP32_REL_TOL`` (fp32) or ``LOW_PRECISION_REL_TOL`` (any
    other ``dtype``, both copies under that autocast dtype).  Dropout / Gumbel draws are reseeded before each
    copy runs."""
    with float32_matmul(False):
        _assert_model_parity(model, batch, device, dtype,
                             MODEL_FP32_REL_TOL if dtype == torch.float32 else LOW_PRECISION_REL_TOL)


def assert_model_parity_at_benchmark_shapes(name: str, device: torch.device, dtype: torch.dtype) -> None:
    """:func:`assert_model_parity` at the model suite's TACoS-like GPU shape (d = 512, 8 heads, S = 3, T = 256,
    N = 12, batch 16)."""
    from bench.suites.model import GPU_SHAPES, build
    from bench.suites.model import random_batch as bench_batch

    workload = next(w for w in GPU_SHAPES.workloads if w.clips == 256)
    model = build(name, GPU_SHAPES, workload, torch.device("cpu"))
    batch = bench_batch(0, GPU_SHAPES.train_batch, GPU_SHAPES, workload, torch.device("cpu"))
    assert_model_parity(model, batch, device, dtype)


def _assert_model_parity(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device,
                         dtype: torch.dtype, tol: float) -> None:
    from engine import set_kernels

    batch = {k: v.to(device) for k, v in batch.items()}
    inputs = list(model_inputs(batch))
    valid = batch["video_mask"]
    results = []
    for backend in ("reference", "triton"):
        copy_ = set_kernels(copy.deepcopy(model), backend).to(device).train()
        params = {n: p for n, p in copy_.named_parameters() if p.requires_grad}
        torch.manual_seed(0)
        autocast = contextlib.nullcontext() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)
        with autocast:
            out = copy_(*inputs)
            loss, _ = copy_.loss(out, batch)
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        outputs = {"loss": loss.float(), **{k: out[k][valid].float() for k in ("start_logits", "end_logits")}}
        results.append((outputs, {n: g for n, g in zip(params, grads, strict=True) if g is not None}))
    (want_out, want_grads), (got_out, got_grads) = results
    assert got_grads.keys() == want_grads.keys(), "the fused model's gradients reach other parameters"
    for kind, errors in (("output", rel_errors(got_out, want_out)), ("gradient", rel_errors(got_grads, want_grads))):
        bad = {k: f"{e:.2e}" for k, e in errors.items() if not e <= tol}
        assert not bad, f"{kind} rel err above {tol:g}: {bad}"
