"""``python -m bench``: run the parity and throughput suites this machine supports and write the results.

Prints a parity table and a throughput table, writes ``results.json``, ``results.md`` and
``speedup_vs_length.png`` into ``--out`` (default ``bench/out/<timestamp>``) and exits 1 when a
parity check fails (0 otherwise).

On a CPU-only machine the suites run at smaller shapes; the Triton kernels then run through the
Triton interpreter (``TRITON_INTERPRET=1`` is set before any kernel is defined, unless
``--no-interpret``) at tiny shapes for parity only, never timed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import torch

SUITES = ("kernels", "model", "deploy")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_PERTURB = 1e-3
QUICK_COMPILE_SKIP = (
    "torch.compile skipped in --quick mode on CPU: compiling costs ~5-15 s per shape on CPU, "
    "more than the CI budget allows"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Numerical parity (asserted) and throughput (reported) of the fused kernels, the models and "
        "the deployment runtimes against the PyTorch reference.",
        epilog="Exit status: 0 all parity checks passed, 1 a parity check failed, 2 bad arguments. "
        "The pytest-benchmark variant of the same measurements: pytest bench/ --benchmark-json=FILE.",
    )
    parser.add_argument("--suites", default=",".join(SUITES),
                        help=f"comma-separated subset of {','.join(SUITES)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes and few repeats, for CI (< 2 min on 2 CPU cores)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default: bench/out/<timestamp>)")
    parser.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when available)")
    parser.add_argument("--dtypes", default=None,
                        help="comma-separated of fp32,bf16,fp16 (default: fp32,bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per variant (median over them)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up calls per variant")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--tf32", action="store_true",
                        help="allow TF32 matmuls on CUDA (fp32 parity tolerance then 1e-3 instead of 1e-5)")
    parser.add_argument("--no-interpret", action="store_true",
                        help="on CPU, do not set TRITON_INTERPRET=1 (the Triton parity checks are then skipped)")
    parser.add_argument("--perturb", type=float, nargs="?", const=DEFAULT_PERTURB, default=0.0, metavar="REL",
                        help="self-test of the parity checks: scale one weight matrix of every candidate "
                        f"variant by 1+REL (default REL {DEFAULT_PERTURB}); the run must then fail")
    return parser


def _parse_list(text: str, allowed: dict[str, Any] | tuple[str, ...], flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise SystemExit(f"python -m bench: {flag} got {bad or text!r}; choose from {', '.join(allowed)}")
    return items


def _device(arg: str | None) -> torch.device:
    if arg is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(arg)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"python -m bench: --device {arg} but torch sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"python -m bench: --device must be cpu or cuda[:N], got {arg}")
    return device


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = _device(args.device)
    suites = _parse_list(args.suites, SUITES, "--suites")
    default_dtypes = "fp32,bf16" if device.type == "cuda" else "fp32"
    dtypes = tuple(DTYPES[d] for d in _parse_list(args.dtypes or default_dtypes, DTYPES, "--dtypes"))
    if device.type == "cpu" and not args.no_interpret:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before any Triton kernel is defined
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32

    # imported here, after TRITON_INTERPRET is settled
    from bench import report
    from bench.cases import Settings, default_plan, run_case
    from bench.records import SkipRecord, environment, parity_failures
    from bench.timing import TimingPlan

    plan = default_plan(device, args.quick)
    plan = TimingPlan(
        warmup=plan.warmup if args.warmup is None else args.warmup,
        repeats=plan.repeats if args.repeats is None else args.repeats,
        min_sample_s=plan.min_sample_s,
        max_calls=plan.max_calls,
    )
    compile_skip = None
    if args.no_compile:
        compile_skip = "torch.compile variants disabled with --no-compile"
    elif args.quick and device.type == "cpu":
        compile_skip = QUICK_COMPILE_SKIP
    settings = Settings(device, dtypes, plan, args.quick, compile_skip, args.perturb, args.tf32)
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

    records: list[Any] = []
    for name in suites:
        suite = importlib.import_module(f"bench.suites.{name}")
        for item in suite.cases(settings):
            if isinstance(item, SkipRecord):
                item.env = env
                records.append(item)
            else:
                records += run_case(item, settings, env)

    out_dir = args.out or Path("bench/out") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    summary = {
        "suites": suites, "quick": args.quick, "dtypes": [str(d).removeprefix("torch.") for d in dtypes],
        "warmup": plan.warmup, "repeats": plan.repeats, "min_sample_s": plan.min_sample_s,
        "inputs_in_rotation": settings.rotation, "compile": compile_skip or "on", "tf32": args.tf32,
        "perturb": args.perturb,
    }
    paths = report.write(out_dir, env, summary, records, notes)
    parity = [r for r in records if isinstance(r, report.ParityRecord) and r.asserted]
    failed = parity_failures(records)
    print(report.markdown(env, summary, records, notes))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    if failed:
        print(f"python -m bench: {len(failed)} of {len(parity)} parity checks FAILED", file=sys.stderr)
        return 1
    if args.perturb:
        print("python -m bench: --perturb given but no parity check compared a candidate variant "
              "(nothing here could catch the perturbation)", file=sys.stderr)
        return 1
    print(f"python -m bench: {len(parity)} parity checks passed")
    return 0
