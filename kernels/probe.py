"""The safe default: ``"auto"`` runs a fused op on a device only after the op passed a one-time check there.

Per (op, device, dtype, shape class) -- the class is what selects a different compiled kernel (MS-LSTM: hidden
size, scales; CQA: its tiles; fp32: the TF32 switch) -- :func:`verified` runs the fused op once on a small case
of that class (forward + backward, and forward under ``no_grad``: the kernels without the saved state differ),
and compares its outputs and input gradients with the PyTorch reference in fp32 on the same dtype-rounded inputs
by the parity rule of :mod:`kernels.parity` (docs/design.md §8.5: the dtype's tolerance, or in fp16 / bf16 the
tolerance tied to the reference's own error in that dtype when that is larger).  The
verdict is cached for the process.  A compile error, a launch error, a non-finite value or an error above the
tolerance fails the check: ``auto`` then runs the reference for that class and prints one line saying why.
``backend="reference"`` (``--kernels reference``) skips fused kernels and the check altogether.

The check draws its inputs from a private seed inside :func:`torch.random.fork_rng`: the caller's random state is
left as it was.  While a graph is traced or compiled no check can run: a class not yet verified then uses the
reference.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from kernels.parity import LOW_PRECISION, max_rel_err, tied_tolerance, tolerance
from kernels.policy import compute_dtype

PROBE_SEED = 20_260_521
PROBE_LENGTHS = (9, 5, 1)  # ragged, a length-1 sample; T = 9 is not a multiple of the scales
PROBE_DIM = 16  # MS-LSTM input features (the recurrent kernels do not depend on D)
PROBE_CQA_BATCH, PROBE_CQA_MAX_T = 2, 80  # CQA: T = 80 spans two 64-clip tiles whenever T >= 64

_VERDICTS: dict[tuple, str | None] = {}  # class -> why the fused op failed its check (None: it passed)


# ------------------------------------------------------------------------------------------------ classes
def _ms_lstm_class(xs: Sequence[torch.Tensor], lengths: torch.Tensor, encoders: Sequence[Sequence[nn.LSTM]]):
    dtype = compute_dtype(xs[0])
    return ("ms_lstm", xs[0].device, dtype, encoders[0][0].hidden_size, len(encoders[0]),
            torch.get_float32_matmul_precision() if dtype == torch.float32 else "")


def _cqa_class(video: torch.Tensor, query: torch.Tensor, *rest: Any):
    from kernels.cqa.kernel import tiles_for

    (_, T, d), N = video.shape, query.shape[1]
    dtype = compute_dtype(video)
    return ("cqa", video.device, dtype, tiles_for(min(T, PROBE_CQA_MAX_T), N, d), N, d,
            torch.get_float32_matmul_precision() if dtype == torch.float32 else "")


# ------------------------------------------------------------------------------------------------ probes
Run = Callable[..., Any]


def _fwd_bwd(run: Callable[[list[torch.Tensor]], torch.Tensor], leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    """[no_grad output, output, gradients of the leaves] of ``run`` with a fixed upstream gradient."""
    with torch.no_grad():
        infer = run(leaves).float()
    out = run(leaves)
    upstream = torch.linspace(-1, 1, out.numel(), device=out.device).view(out.shape).to(out.dtype)
    grads = torch.autograd.grad(out, leaves, upstream)
    return [infer, out.float(), *(g.float() for g in grads)]


def _probe_ms_lstm(fused: Run, reference: Run, key: tuple) -> tuple[float, float | None]:
    _, device, dtype, hidden, scales, _ = key
    encoders = [[nn.LSTM(PROBE_DIM, hidden, bidirectional=True, batch_first=True) for _ in range(scales)]]
    lengths = torch.tensor(PROBE_LENGTHS)
    x = torch.randn(len(PROBE_LENGTHS), PROBE_LENGTHS[0], PROBE_DIM).to(dtype)

    def result(run: Run, as_dtype: torch.dtype) -> list[torch.Tensor]:
        mods = [[copy.deepcopy(lstm).to(device, dtype).to(as_dtype) for lstm in lstms] for lstms in encoders]
        leaves = [x.to(device, as_dtype).requires_grad_(), *(p for m in mods[0] for p in m.parameters())]
        return _fwd_bwd(lambda ls: run([ls[0]], lengths.to(device), mods)[0], leaves)

    return _errors(result, fused, reference, dtype)


def _errors(result: Callable[[Run, torch.dtype], list[torch.Tensor]], fused: Run, reference: Run,
            dtype: torch.dtype) -> tuple[float, float | None]:
    """(the fused op's error against the fp32 reference; for fp16 / bf16 the reference's own error in ``dtype``)."""
    want = result(reference, torch.float32)
    own = max_rel_err(result(reference, dtype), want) if dtype in LOW_PRECISION else None
    return max_rel_err(result(fused, dtype), want), own


def _probe_cqa(fused: Run, reference: Run, key: tuple) -> tuple[float, float | None]:
    _, device, dtype, _, N, d, _ = key
    B, T = PROBE_CQA_BATCH, PROBE_CQA_MAX_T if key[3].t >= 64 else key[3].t
    video, query = torch.randn(B, T, d).to(dtype), torch.randn(B, N, d).to(dtype)
    video_mask = torch.arange(T)[None, :] < torch.tensor([T, max(1, T // 2)])[:, None]
    query_mask = torch.arange(N)[None, :] < torch.tensor([N, max(1, N - 1)])[:, None]
    weights = [(torch.randn(d) * 0.1).to(dtype) for _ in range(3)]
    proj_w, proj_b = (torch.randn(d, 4 * d) * d**-0.5).to(dtype), (torch.randn(d) * 0.1).to(dtype)

    def result(run: Run, as_dtype: torch.dtype) -> list[torch.Tensor]:
        leaves = [t.to(device, as_dtype).requires_grad_() for t in (video, query, *weights, proj_w, proj_b)]
        masks = (video_mask.to(device), query_mask.to(device))
        return _fwd_bwd(lambda ls: run(ls[0], ls[1], *masks, *ls[2:]), leaves)

    return _errors(result, fused, reference, dtype)


CLASSES: dict[str, Callable[..., tuple]] = {"ms_lstm": _ms_lstm_class, "cqa": _cqa_class}
PROBES: dict[str, Callable[[Run, Run, tuple], tuple[float, float | None]]] = {
    "ms_lstm": _probe_ms_lstm, "cqa": _probe_cqa}


def _check(fused: Run, reference: Run, key: tuple) -> str | None:
    """Why the fused op fails its check on ``key``'s class (None: it passes)."""
    device, dtype = key[1], key[2]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.inference_mode(False), \
            torch.autocast(device.type, enabled=False), torch.enable_grad():  # whatever mode the caller is in
        torch.manual_seed(PROBE_SEED)
        try:
            err, reference_err = PROBES[key[0]](fused, reference, key)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        except Exception as exc:  # noqa: BLE001 -- whatever the fused op raises fails its check
            text = str(exc).strip()
            return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
    tol = tolerance(dtype)
    if reference_err is not None:  # fp16 / bf16: or tied to the reference's own error, when that is larger
        tol = max(tol, tied_tolerance(reference_err))
    if not err <= tol:  # NaN fails too
        return f"relative error {err:.2e} against the reference above the tolerance {tol:.2g}"
    return None


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()


def verified(op: str, fused: Run, reference: Run, args: tuple) -> bool:
    """True when the fused ``op`` passed its one-time check for the class of ``args`` (run now when this is the
    class's first call); False -- with one line on stderr, once per class -- when it failed."""
    key = CLASSES[op](*args)
    if key not in _VERDICTS:
        if _tracing():
            return False
        _VERDICTS[key] = problem = _check(fused, reference, key)
        if problem is not None:
            what = ", ".join(str(k) for k in key[3:] if k != "")
            print(f"kernels: auto: the fused {op} failed its one-time check on {key[1]} {key[2]} ({what}): "
                  f"{problem}; using the reference for it (--kernels reference skips the fused kernels)",
                  file=sys.stderr, flush=True)
    return _VERDICTS[key] is None


def verdicts() -> dict[tuple, str | None]:
    """A copy of the checks made so far: class -> why it failed, or None (it passed)."""
    return dict(_VERDICTS)


def forget() -> None:
    """Drop every cached verdict (the next call of each class checks again)."""
    _VERDICTS.clear()
