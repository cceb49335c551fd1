"""``python -m gpu_run.check``: the first step of a short GPU run -- the machine, and the Triton kernels built.

``--backend triton`` (the first step): the machine and the v1 / CQA kernels; ``--backend triton-v2`` (a late
step): the v2 recurrence alone -- the riskiest build runs last.  Appends to ``<out>/results.jsonl``
(:mod:`gpu_run.journal`) one :class:`~gpu_run.records.CheckRecord` as soon as each fact is known:

* (``--backend triton`` only) ``environment`` -- device, versions, commit (:func:`gpu_run.machine.environment`)
  and ``nvidia-smi``'s view;
* ``memory bandwidth`` -- the nominal HBM figure of the device (None when the device is not in the table) and a
  measured device-to-device copy (:mod:`gpu_run.machine`);
* ``warm Triton cache`` -- ``python -m compile_report --warm --sources ...`` compiles the kernels of the backend
  (v1 and CQA; or v2 at every group size its launcher tries) on all cores at once, into Triton's cache; its
  report (registers, spills, shared memory on this machine's Triton and ptxas) goes to ``<out>/compile/``.
  Optional: when it fails the builds below just compile for themselves (the check is recorded, the exit status
  ignores it);
* ``build <op> <backend> <dtype>`` -- the op run forward + backward and forward under ``no_grad`` through the
  backend (``triton``: MS-LSTM and CQA; ``triton-v2``: the MS-LSTM in bf16, see ``V2_DTYPES``) at
  :data:`GPU_BUILD` (the benchmark's kernel shapes: a test of the benchmark holds them equal), every output and
  gradient finite; the seconds include Triton's compilation.  It leaves the compiled kernels in Triton's on-disk
  cache, so the later steps load instead of compiling.  For ``triton-v2`` the record also holds the group plan
  the launcher picked (``kernels.ms_lstm.resident.forward_plan`` / ``backward_plan``; None = it fell back to
  v1).  Each (op, backend, dtype) builds in its own worker and is recorded when it finishes, so a slow build
  holds back no other record.

On a CPU (``--device cpu``) the same runs go through the Triton interpreter at :data:`INTERPRETER_BUILD` -- the
flow, not the GPU, is what that tests.  Exit status 0 when every check passed, 1 otherwise, 2 without the
device asked for.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_run.records import CheckRecord

OPS = ("ms_lstm", "cqa")
DTYPES = ("bf16", "fp32")
V2 = "triton-v2"  # the second MS-LSTM recurrence (kernels.backends), built in a step of its own
# triton-v2 is built in bf16 only: in fp32 its launcher compiles five group sizes (one for minutes, see
# bench/results/compile-sm90/report.md) and then runs v1: no group size can run at the bench shapes
V2_DTYPES = ("bf16",)
WARM_LIMIT_S = 60  # the parallel compile of every kernel the bench launches; the builds compile what it left
WARM_SOURCES = {"triton": "ms_lstm,cqa", V2: "v2"}  # compile_report --sources of each backend's kernels


@dataclass(frozen=True)
class BuildShape:
    """The sizes one build runs at: batch B, frames T, width D (MS-LSTM hidden D / 2), scales S, words N."""

    batch: int
    frames: int
    dim: int
    scales: int
    words: int


# Triton specializes a kernel on its constexprs (D, H, S, N, dtype): built at the benchmark's sizes, the kernels
# the benchmark launches are the ones left in the cache.  T is a runtime argument: one build serves every length.
GPU_BUILD = BuildShape(batch=16, frames=64, dim=512, scales=3, words=12)
INTERPRETER_BUILD = BuildShape(batch=2, frames=8, dim=16, scales=3, words=5)


def _nvidia_smi() -> str:
    query = "name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,compute_mode"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"nvidia-smi unavailable: {err}"
    return (out.stdout or out.stderr).strip()


def _finite(tensors) -> bool:
    import torch

    return all(bool(torch.isfinite(t.float()).all()) for t in tensors)


def _v2_plans(xs, lengths, encoders) -> dict[str, Any]:
    """The group plans the v2 launcher picks for these inputs (what it will run: G, BLOCK_M, warps)."""
    import torch

    from kernels.ms_lstm import resident
    from kernels.policy import accumulation_dtype

    E, (B, T, _), S = len(xs), xs[0].shape, len(encoders[0])
    H = encoders[0][0].hidden_size
    dev, dtype = xs[0].device, xs[0].dtype
    saved = torch.empty(E, B, T, S * 8 * H, device=dev, dtype=accumulation_dtype(dtype))  # as the op saves them
    w_hh = torch.empty(E * S * 2, 4 * H, H, device=dev, dtype=dtype)
    y = torch.empty(E, B, T, S * 2 * H, device=dev, dtype=dtype)
    cell = torch.empty(y.shape, device=dev, dtype=accumulation_dtype(dtype))
    lens = lengths.to(torch.int32)
    fwd = resident.forward_plan(saved, w_hh, lens, y, cell, S, True)
    bwd = resident.backward_plan(saved, cell, y, w_hh, lens, saved.to(dtype), S)
    as_dict = lambda plan: None if plan is None else {k: getattr(plan, k) for k in plan.__dataclass_fields__}
    return {"forward_plan": as_dict(fwd), "backward_plan": as_dict(bwd)}


def build_one(op: str, backend: str, dtype_name: str, device_name: str) -> dict[str, Any]:
    """Run ``op`` through one Triton backend in one dtype (in a worker process)."""
    if device_name == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    else:
        os.environ["TRITON_INTERPRET"] = "0"
    import torch

    import kernels

    device = torch.device(device_name)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    shape = GPU_BUILD if device.type == "cuda" else INTERPRETER_BUILD
    B, T, D, S, N = shape.batch, shape.frames, shape.dim, shape.scales, shape.words
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=gen)
    lengths[0] = T
    lengths = lengths.to(device)
    name = f"build {op} {backend} {dtype_name}"
    start = time.perf_counter()
    data: dict[str, Any] = {"op": op, "backend": backend, "dtype": dtype_name, "B": B, "T": T}
    try:
        if op == "ms_lstm":
            torch.manual_seed(0)
            encoders = [[torch.nn.LSTM(D, D // 2, bidirectional=True, batch_first=True).to(device, dtype)
                         for _ in range(S)]]
            x = torch.randn(B, T, D, generator=gen).to(device, dtype).requires_grad_()
            params = [p for lstm in encoders[0] for p in lstm.parameters()]
            out = kernels.multi_scale_lstm([x], lengths, encoders, backend=backend)[0]
            grads = torch.autograd.grad(out.float().sum(), [x, *params])
            with torch.no_grad():
                infer = kernels.multi_scale_lstm([x], lengths, encoders, backend=backend)[0]
            tensors = [out, infer, *grads]
            data.update(D=D, H=D // 2, S=S)
            if backend == V2:
                data.update(_v2_plans([x.detach()], lengths, encoders))
        else:
            video = torch.randn(B, T, D, generator=gen).to(device, dtype).requires_grad_()
            query = torch.randn(B, N, D, generator=gen).to(device, dtype).requires_grad_()
            video_mask = (torch.arange(T, device=device) < lengths[:, None])
            query_mask = torch.ones(B, N, dtype=torch.bool, device=device)
            weights = [(torch.randn(D, generator=gen) * 0.1).to(device, dtype).requires_grad_() for _ in range(3)]
            proj_w = (torch.randn(D, 4 * D, generator=gen) * D**-0.5).to(device, dtype).requires_grad_()
            proj_b = torch.zeros(D, device=device, dtype=dtype, requires_grad=True)
            args = (video, query, video_mask, query_mask, *weights, proj_w, proj_b)
            out = kernels.context_query_attention(*args, backend=backend)
            grads = torch.autograd.grad(out.float().sum(), [video, query, *weights, proj_w, proj_b])
            with torch.no_grad():
                infer = kernels.context_query_attention(*args, backend=backend)
            tensors = [out, infer, *grads]
            data.update(N=N, d=D)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        passed = _finite(tensors)
        note = "compiled and ran forward + backward and no_grad forward" + ("" if passed else "; NON-FINITE output")
    except Exception as err:  # noqa: BLE001 -- a build failure is this check's result, not the step's end
        passed, note = False, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return {"name": name, "passed": passed, "seconds": time.perf_counter() - start, "note": note, "data": data}


def _machine(journal: Any, device: Any, env: dict[str, Any]) -> None:
    """The environment and memory-bandwidth records."""
    from gpu_run.machine import copy_bandwidth, nominal_bandwidth
    from gpu_run.machine import device_name as name_of

    start = time.perf_counter()
    smi = _nvidia_smi() if device.type == "cuda" else "cpu run"
    journal.append(CheckRecord("environment", True, time.perf_counter() - start, env["device"],
                               {"nvidia_smi": smi}, env))
    print(json.dumps(env, indent=1), "\n", smi, flush=True)

    start = time.perf_counter()
    nominal = nominal_bandwidth(name_of(device)) if device.type == "cuda" else None
    copy = copy_bandwidth(device)
    note = (f"nominal {nominal[0] / 1e9:.0f} GB/s ({nominal[1]}); " if nominal else "not in the nominal table; ") + \
        f"measured copy {copy / 1e9:.0f} GB/s"
    journal.append(CheckRecord("memory bandwidth", True, time.perf_counter() - start, note,
                               {"nominal_bytes_per_s": nominal[0] if nominal else None,
                                "nominal_source": nominal[1] if nominal else None, "copy_bytes_per_s": copy}, env))
    print(f"memory bandwidth: {note}", flush=True)


def _warm(journal: Any, out_dir: Path, device: Any, backend: str, env: dict[str, Any]) -> None:
    """``python -m compile_report --warm`` for the backend's kernels (optional: recorded, never fails the step)."""
    start = time.perf_counter()
    if device.type == "cuda":
        cmd = [sys.executable, "-m", "compile_report", "--warm", "--sources", WARM_SOURCES[backend],
               "--deadline", str(WARM_LIMIT_S - 10), "--out", str(out_dir / "compile" / backend)]
        try:  # --deadline kills its own workers; the timeout is the backstop
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WARM_LIMIT_S)
            lines = (proc.stdout + proc.stderr).strip().splitlines()
            ok, note = proc.returncode == 0, (lines[-1] if lines else f"rc {proc.returncode}")
        except subprocess.TimeoutExpired:
            ok, note = False, f"stopped after {WARM_LIMIT_S} s; the builds below compile what is missing"
    else:
        ok, note = True, "not needed: the interpreter compiles nothing"
    journal.append(CheckRecord(f"warm Triton cache {backend} (optional)", ok, time.perf_counter() - start, note, {},
                               env))
    print(f"warm Triton cache {backend}: {'ok' if ok else 'FAILED (optional)'}: {note}", flush=True)


def check(out_dir: Path, device_name: str, jobs: int, backend: str = "triton") -> int:
    """The checks of ``backend`` (see the module docstring); 0 when every check passed, 1 otherwise."""
    if device_name == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import torch

    from gpu_run.journal import Journal
    from gpu_run.machine import environment

    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("python -m gpu_run.check: torch sees no CUDA device", file=sys.stderr)
        return 2
    journal = Journal(out_dir)
    env = environment(device)
    if backend == "triton":
        _machine(journal, device, env)

    import kernels

    if backend == V2 and V2 not in kernels.backend_names():
        journal.append(CheckRecord(f"build {V2}", False, 0.0, f"{V2} is not a registered backend", {}, env))
        return 1
    _warm(journal, out_dir, device, backend, env)
    dtypes = DTYPES if device.type == "cuda" else ("fp32",)  # the interpreter runs fp32 (bf16 dots: a GPU matter)
    if backend == V2:
        builds = [("ms_lstm", V2, dtype) for dtype in (tuple(d for d in dtypes if d in V2_DTYPES) or dtypes[:1])]
    else:
        builds = [(op, backend, dtype) for dtype in dtypes for op in OPS]
    failed = 0
    spawn = multiprocessing.get_context("spawn")  # this process holds a CUDA context: no fork
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(builds))), mp_context=spawn) as pool:
        futures = {pool.submit(build_one, op, name, dtype, device_name): (op, name, dtype)
                   for op, name, dtype in builds}
        for future in as_completed(futures):  # each recorded as it finishes: a slow build holds back no other
            op, name, dtype = futures[future]
            try:
                r = future.result()
            except Exception as err:  # noqa: BLE001 -- a crashed worker fails its build's check
                r = {"name": f"build {op} {name} {dtype}", "passed": False, "seconds": 0.0,
                     "note": f"worker failed: {type(err).__name__}: {err}", "data": {}}
            journal.append(CheckRecord(r["name"], r["passed"], r["seconds"], r["note"], r["data"], env))
            failed += not r["passed"]
            print(f"{r['name']}: {'ok' if r['passed'] else 'FAILED'} ({r['seconds']:.1f} s) {r['note']}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_run.check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="results directory (results.jsonl is appended to)")
    parser.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu (interpreter, tiny shapes)")
    parser.add_argument("--jobs", type=int, default=6, help="worker processes building kernels in parallel")
    parser.add_argument("--backend", default="triton", choices=sorted(WARM_SOURCES),
                        help="triton: the machine, then the v1 and CQA kernels (first step); triton-v2: the v2 "
                        "recurrence alone (a late step)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        parser.error(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    return check(args.out, args.device, args.jobs, args.backend)

if __name__ == "__main__":
    sys.exit(main())
