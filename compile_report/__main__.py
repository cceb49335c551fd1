"""``python -m compile_report``: compile every Triton kernel of the project for one or more architectures, offline.

Exit status 0 when every kernel compiles and fits its architecture, 1 when one does not (or missed ``--deadline``),
2 on bad arguments.  Each (architecture, source, dtype) compiles in its own worker process, whose environment is set
for compiling (``TRITON_INTERPRET=0``), whatever the caller's.  By default into an empty Triton cache, so the compile
seconds are a cold build's.  ``--warm`` (``bench/gpu.sh``'s first step) compiles into Triton's own cache for this
machine's GPU, so that the later steps load the kernels instead of compiling them.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from compile_report.compiled import Row, compile_unit, worker_env
from compile_report.launches import CQA, DTYPES, MS_LSTM, SOURCES, V2_SM_COUNT
from compile_report.report import failures, write
from gpu_run.machine import git_commit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WARM_DTYPES = "bf16,fp32"  # what the benchmark's GPU steps run


def compile_all(units: list[tuple[Any, str, str]], offline: bool, jobs: int, deadline_s: float | None,
                cache_dir: str | None) -> list[list[Row]]:
    """The rows of each (arch, source, dtype) unit, compiled by ``jobs`` worker processes; with ``deadline_s`` the
    workers are stopped then and a unit not done is one row saying so."""
    from tqdm import tqdm

    stop = None if deadline_s is None else time.monotonic() + deadline_s
    done: dict[int, list[Row]] = {}
    with multiprocessing.get_context("spawn").Pool(jobs, worker_env, (cache_dir,)) as pool, \
            tqdm(total=len(units), desc="compile_report", unit="unit", disable=None) as progress:
        results = pool.imap_unordered(compile_unit, [(i, *unit, offline) for i, unit in enumerate(units)])
        try:
            for _ in units:
                index, rows = results.next(timeout=None if stop is None else max(0.0, stop - time.monotonic()))
                done[index] = rows
                progress.update()
        except multiprocessing.TimeoutError:
            pass  # leaving the block terminates the workers (a compile cannot be interrupted otherwise)
    missed = f"not compiled within the {deadline_s} s deadline"
    return [done.get(i, [Row(arch.arch, source, dtype, arch.shared_per_block, error=missed)])
            for i, (arch, source, dtype) in enumerate(units)]


def _local_arch() -> Any:
    """The :class:`kernels.device_fit.ArchLimits` of this machine's GPU 0."""
    import torch

    from kernels.device_fit import ArchLimits

    props = torch.cuda.get_device_properties(0)
    capability = props.major * 10 + props.minor
    return ArchLimits(f"sm_{capability}", capability, props.shared_memory_per_block_optin, props.name)


def _names(text: str, allowed: Any, option: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n for n in text.split(",") if n]
    if not names or any(n not in allowed for n in names):
        parser.error(f"{option}: unknown {text!r}; choose from {', '.join(allowed)}")
    return names


def main(argv: list[str] | None = None) -> int:
    from kernels.device_fit import ARCHES

    parser = argparse.ArgumentParser(prog="python -m compile_report", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90", metavar="ARCHES",
                        help=f"comma-separated of {','.join(ARCHES)} (default sm_90); each kernel at the settings its "
                        "launcher chooses for that architecture, checked against its limits")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help=f"comma-separated kernels to compile, of {','.join(SOURCES)} (default: all)")
    parser.add_argument("--dtypes", default=None,
                        help=f"comma-separated of {','.join(DTYPES)} (default: all; with --warm {WARM_DTYPES})")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default bench/results/compile-<arches>, e.g. compile-sm90)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes (Triton compiles one kernel at a time per process; --warm: at least "
                        "every core)")
    parser.add_argument("--deadline", type=float, default=None, metavar="S",
                        help="stop after S seconds; what is not compiled by then is reported as such (exit 1)")
    parser.add_argument("--keep-cache", action="store_true",
                        help="compile into Triton's own cache (faster; compile seconds then include cache hits)")
    parser.add_argument("--warm", action="store_true",
                        help="bench/gpu.sh's use: into Triton's own cache, for this machine's GPU when it has one "
                        "(--arch ignored then), so that later launches load the kernels instead of compiling")
    args = parser.parse_args(argv)
    archs = _names(args.arch, ARCHES, "--arch", parser)
    sources = _names(args.sources, SOURCES, "--sources", parser)
    dtypes = _names(args.dtypes or (WARM_DTYPES if args.warm else ",".join(DTYPES)), DTYPES, "--dtypes", parser)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.deadline is not None and args.deadline <= 0:
        parser.error(f"--deadline must be positive, got {args.deadline}")

    import torch
    import triton

    gpu = args.warm and torch.cuda.is_available()
    targets = [_local_arch()] if gpu else [ARCHES[a] for a in archs]
    units = [(arch, source, dtype) for arch in targets for source in sources for dtype in dtypes
             if not (source == "plugin" and dtype == "fp32-tf32")]  # the plugin's dots are IEEE in any case
    out = args.out or RESULTS / ("compile-" + "-".join(a.arch.replace("_", "") for a in targets))
    jobs = max(args.jobs, os.cpu_count() or 1) if args.warm else args.jobs
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="compile-report-cache-") as cold_cache:
        per_unit = compile_all(units, not gpu, min(jobs, len(units)), args.deadline,
                               None if args.warm or args.keep_cache else cold_cache)
    rows = [row for unit_rows in per_unit for row in unit_rows]
    meta = {
        "command": " ".join(["python -m compile_report", *(sys.argv[1:] if argv is None else argv)]),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(), "triton": triton.__version__, "torch": torch.__version__,
        "archs": [a.arch for a in targets], "where": f"on this machine's {targets[0].examples}" if gpu else "offline",
        "seconds": round(time.perf_counter() - start, 1),
        "cache": "Triton's own (compile seconds include hits)" if args.warm or args.keep_cache else "empty at start",
        "ms_lstm_shapes": MS_LSTM, "cqa_shapes": CQA,
        "v2_device": "this machine's GPU" if gpu else f"a {V2_SM_COUNT}-SM GPU with sm_90's limits",
        "notes": [f"{arch.arch} {source} {dtype}: nothing to compile, its launcher runs none of these kernels there"
                  for (arch, source, dtype), unit_rows in zip(units, per_unit, strict=True) if not unit_rows],
    }
    write(out, rows, meta)
    bad = failures(rows)
    print(f"wrote {out / 'report.md'} and report.json: {len(rows)} kernels on {', '.join(meta['archs'])} in "
          f"{meta['seconds']} s; {len(bad)} failed to compile, to fit or to finish in time")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
