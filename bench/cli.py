"""``python -m bench``: run a benchmark plan (or some of its parts) and write the results.

Cases come from :func:`bench.plans.cases` (the plans: ``full`` by default, ``quick`` with ``--quick``,
``gpu-quick`` for ``bench/gpu.sh``).  Every record is appended to ``<out>/results.jsonl`` the moment it exists
(flushed and fsync-ed, :mod:`bench.journal`); at the end the report -- ``results.json``, ``results.md`` and
``speedup_vs_length.png`` -- is rebuilt from that file (:mod:`bench.report`), so with ``--append`` it covers
every part run into the same directory.  Prints the parity and throughput tables of this run and exits 1 when
one of its parity checks fails (0 otherwise).

On a CPU-only machine the suites run at smaller shapes; the Triton kernels then run through the Triton
interpreter (``TRITON_INTERPRET=1`` is set before any kernel is defined, unless ``--no-interpret``) at tiny
shapes for parity only, never timed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Any

import torch

from bench.plans import DEFAULT_PLAN, PLANS, get_plan
from engine.device import resolve_device

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_PERTURB = 1e-3
QUICK_COMPILE_SKIP = (
    "torch.compile skipped in --quick mode on CPU: compiling costs seconds per shape on CPU, "
    "more than the CI budget allows"
)


def build_parser() -> argparse.ArgumentParser:
    plans = "; ".join(f"{p.name}: {p.summary} (parts {', '.join(p.part_names())})" for p in PLANS.values())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Numerical parity (asserted) and throughput (reported) of the fused kernels, the models and "
        "the deployment runtimes against the PyTorch reference.",
        epilog=f"Plans -- {plans}. Exit status: 0 all parity checks passed, 1 a parity check failed, 2 bad "
        "arguments. The pytest-benchmark variant of the same cases: pytest bench/test_bench.py --benchmark-json=FILE.",
    )
    parser.add_argument("--plan", default=None, choices=list(PLANS),
                        help=f"which cases (default {DEFAULT_PLAN}; see bench.plans)")
    parser.add_argument("--suites", default=None, metavar="PARTS",
                        help="comma-separated parts of the plan to run (default: all; for full and quick the "
                        "parts are the suites kernels,model,deploy)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick plan: tiny shapes and few repeats, for CI (< 2 min on 2 CPU cores)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default: bench/out/<timestamp>)")
    parser.add_argument("--append", action="store_true",
                        help="add to the results.jsonl already in --out instead of starting it afresh")
    parser.add_argument("--list", action="store_true", help="list the cases and variants of the plan, run nothing")
    parser.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when available)")
    parser.add_argument("--dtypes", default=None,
                        help="comma-separated of fp32,bf16,fp16 (default: the plan's on CUDA, fp32 on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per variant (median over them)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up calls per variant")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--tf32", action="store_true",
                        help="allow TF32 matmuls on CUDA (fp32 parity tolerance then 1e-3 instead of 1e-5)")
    parser.add_argument("--no-interpret", action="store_true",
                        help="on CPU, do not set TRITON_INTERPRET=1 (the Triton parity checks are then skipped)")
    parser.add_argument("--resume", action="store_true",
                        help="skip the cases already recorded in --out's results.jsonl, recording one left unfinished "
                        "by an ended run as faulted (gpu_run.isolation; implies --append)")
    parser.add_argument("--case-limit", type=float, default=None, metavar="S",
                        help="seconds one case may take; past it the process ends and, resumed, the case is recorded "
                        "as faulted (gpu_run.isolation)")
    parser.add_argument("--perturb", type=float, nargs="?", const=DEFAULT_PERTURB, default=0.0, metavar="REL",
                        help="self-test of the parity checks: scale one weight matrix of every candidate "
                        f"variant by 1+REL (default REL {DEFAULT_PERTURB}); the run must then fail")
    return parser


def _parse_list(text: str, allowed, flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise SystemExit(f"python -m bench: {flag} got {bad or text!r}; choose from {', '.join(allowed)}")
    return items


def _device(arg: str | None) -> torch.device:
    try:
        return resolve_device(arg)
    except ValueError as err:
        raise SystemExit(f"python -m bench: --device: {err}") from None


def _variant_names(case) -> str:
    names = [v.name + ("" if v.timed else " (parity only)") for v in case.variants]
    return ", ".join(names) + (f"; oracle {case.oracle.name}" if case.oracle else "")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick and args.plan not in (None, "quick"):
        raise SystemExit(f"python -m bench: --quick is the quick plan; it cannot be combined with --plan {args.plan}")
    plan = get_plan("quick" if args.quick else args.plan or DEFAULT_PLAN)
    device = _device(args.device)
    parts = _parse_list(args.suites, plan.part_names(), "--suites") if args.suites else list(plan.part_names())
    default_dtypes = ",".join(plan.cuda_dtypes) if device.type == "cuda" else "fp32"
    dtypes = tuple(DTYPES[d] for d in _parse_list(args.dtypes or default_dtypes, DTYPES, "--dtypes"))
    if device.type == "cpu" and not args.no_interpret:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before any Triton kernel is defined
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32

    # imported here, after TRITON_INTERPRET is settled
    from bench import plans, report
    from bench.cases import Settings, case_key, default_timing, run_isolated
    from bench.records import RunRecord, SkipRecord, parity_failures
    from gpu_run.isolation import RESUME_RC, CaseLog
    from gpu_run.journal import Journal
    from gpu_run.machine import environment

    tiny = plan.tiny_shapes(device.type)
    timing = default_timing(device, tiny)
    compile_skip = None
    if args.no_compile:
        compile_skip = "torch.compile variants disabled with --no-compile"
    elif tiny and device.type == "cpu":
        compile_skip = QUICK_COMPILE_SKIP
    settings = Settings(device, dtypes, timing, tiny, compile_skip, args.perturb, args.tf32)
    overrides = {"warmup": args.warmup, "repeats": args.repeats}

    if args.list:
        for part, _, item in plans.cases(settings, plan, parts, overrides):
            if isinstance(item, SkipRecord):
                print(f"{part.name}: skip {item.suite}/{item.case}/{item.variant}: {item.reason}")
            else:
                print(f"{part.name}: {item.suite} | {item.name} | {str(item.dtype).removeprefix('torch.')} | "
                      f"{item.shapes} | {_variant_names(item)}")
        return 0

    env = environment(device)
    notes = []
    if compile_skip:
        notes.append(compile_skip)
    if args.perturb:
        notes.append(f"--perturb {args.perturb}: one weight matrix of every candidate variant scaled by "
                     f"1+{args.perturb}; parity is expected to FAIL")
    if device.type == "cpu":
        notes.append("CPU run: smaller shapes than the GPU suite; Triton kernels only via the interpreter, parity "
                     "only, never timed")

    out_dir = args.out or Path("bench/out") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    journal = Journal(out_dir, fresh=not (args.append or args.resume))
    run_records: list[Any] = []
    started: set[str] = set()
    logs: dict[str, CaseLog] = {}
    for part, part_set, item in plans.cases(settings, plan, parts, overrides):
        if part.name not in started:  # the part's settings, before its first number
            started.add(part.name)
            journal.append(RunRecord(plan.name, part.name, _summary(plan.name, part.name, part_set), notes, env))
            logs[part.name] = CaseLog(out_dir, part.name, resume=args.resume)
        if isinstance(item, SkipRecord):
            item.env = env
            journal.append(item)
            run_records.append(item)
        elif not logs[part.name].finished(case_key(item)):
            new, fault = run_isolated(item, part_set, env, logs[part.name], journal, args.case_limit)
            run_records += new
            if fault:  # the CUDA context is gone: python -m gpu_run.isolation resumes after this case
                return RESUME_RC

    paths = report.rebuild(out_dir)
    failed = parity_failures(run_records)
    asserted = [r for r in run_records if isinstance(r, report.ParityRecord) and r.asserted]
    print(report.markdown(env, {"plan": plan.name, "parts": parts}, run_records, notes))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    if failed:
        print(f"python -m bench: {len(failed)} of {len(asserted)} parity checks FAILED", file=sys.stderr)
        return 1
    if args.perturb:
        print("python -m bench: --perturb given but no parity check compared a candidate variant "
              "(nothing here could catch the perturbation)", file=sys.stderr)
        return 1
    print(f"python -m bench: {len(asserted)} parity checks passed")
    return 0


def _summary(plan: str, part: str, settings) -> dict[str, Any]:
    t = settings.timing
    return {
        "plan": plan, "part": part, "tiny_shapes": settings.quick,
        "dtypes": [str(d).removeprefix("torch.") for d in settings.dtypes],
        "warmup": t.warmup, "repeats": t.repeats, "min_sample_s": t.min_sample_s, "max_calls": t.max_calls,
        "inputs_in_rotation": settings.rotation, "compile": settings.compile_skip or "on", "tf32": settings.tf32,
        "perturb": settings.perturb,
    }
