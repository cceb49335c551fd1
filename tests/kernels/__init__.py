"""Kernel tests.  Shared by the device-aware parity tests (kernels, ops, fused export, whole models): the float32
matmul switch and the whole-model check.

The measure and the tolerances are :mod:`kernels.parity`'s (docs/design.md §8.5).  The fp32 checks run with TF32
off (:func:`float32_matmul`, applied by the test modules' autouse fixtures): torch's matmuls, cuDNN's LSTMs (the
MS-LSTM reference) and the Triton kernels' ``tl.dot`` (:func:`kernels.policy.dot_precision`) all follow it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch

from engine.models import model_inputs
from kernels.parity import LOW_PRECISION_TOL, MODEL_FP32_TOL, list_floor, rel_err


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
def rel_errors(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> dict[str, float]:
    """name -> :func:`kernels.parity.rel_err`, every tensor against the floor of all of ``want``
    (:func:`kernels.parity.list_floor`)."""
    floor = list_floor(list(want.values()))
    return {name: rel_err(got[name], w, floor) for name, w in want.items()}


def assert_model_parity(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device,
                        dtype: torch.dtype = torch.float32) -> None:
    """A training step of ``model`` with the fused kernels (``set_kernels(model, "triton")``) against the
    reference ops, each on its own copy of the weights on ``device``, TF32 off: the loss, the logits at valid
    clips and every parameter gradient within ``MODEL_FP32_TOL`` (fp32) or ``LOW_PRECISION_TOL`` (any
    other ``dtype``, both copies under that autocast dtype).  Dropout / Gumbel draws are reseeded before each
    copy runs."""
    with float32_matmul(False):
        _assert_model_parity(model, batch, device, dtype,
                             MODEL_FP32_TOL if dtype == torch.float32 else LOW_PRECISION_TOL)


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
