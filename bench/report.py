"""Results as JSON (everything), markdown (step, check, parity and throughput tables) and a speed-up plot (PNG).

:func:`rebuild` makes all three from a directory's ``results.jsonl`` (:mod:`bench.journal`) alone, so a report
can be rebuilt at any time, also after a run was killed::

    python -m bench.report bench/results/<device>

Needs no torch (matplotlib for the plot).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.journal import read
from bench.records import (
    CheckRecord,
    ParityRecord,
    RunRecord,
    SkipRecord,
    StepRecord,
    ThroughputRecord,
    parity_failures,
)
from gpu_run.journal import finite, journal_path

JSON_NAME, MARKDOWN_NAME, PLOT_NAME = "results.json", "results.md", "speedup_vs_length.png"


def _shapes(shapes: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in shapes.items())


def _num(value: float | None, fmt: str) -> str:
    if value is None:
        return "-"
    return "nan" if math.isnan(value) else format(value, fmt)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(r: ParityRecord) -> str:
    if not r.asserted:
        return "info" + ("" if r.passed else ", above tol")
    return "pass" if r.passed else "**FAIL**"


def parity_table(records: Sequence[ParityRecord]) -> str:
    if not records:
        return "(no parity checks ran)"
    rows = [
        [r.suite, r.case, _shapes(r.shapes), r.dtype, r.variant, r.reference, _num(r.output_rel_err, ".2e"),
         _num(r.grad_rel_err, ".2e"), f"{r.tolerance:.0e}", _verdict(r) + (f" ({r.note})" if r.note else "")]
        for r in records
    ]
    header = ["suite", "case", "shapes", "dtype", "variant", "vs", "out err", "grad err", "tol", "result"]
    return _table(header, rows)


def throughput_table(records: Sequence[ThroughputRecord]) -> str:
    if not records:
        return "(nothing was timed)"
    rows = [
        [r.part or "-", r.suite, r.case, _shapes(r.shapes), r.dtype, r.variant, _num(r.median_ms, ".3f"),
         _num(r.iqr_ms, ".3f"), _num(r.speedup, ".2f") + "x" if r.speedup is not None else "-",
         _num(r.tflops, ".3g"), _num(r.items_per_s, ".1f"), _num(r.peak_mem_mb, ".1f")]
        for r in records
    ]
    header = ["part", "suite", "case", "shapes", "dtype", "variant", "median ms", "IQR ms", "vs baseline",
              "TFLOP/s", "samples/s", "peak MB"]
    return _table(header, rows)


def step_latency_table(records: Sequence[ThroughputRecord]) -> str:
    """Per-step latency of the recurrences against their memory floor (MS-LSTM rows only)."""
    rows = [
        [r.part or "-", r.case, _shapes(r.shapes), r.dtype, r.variant, _num(r.step_us, ".2f"),
         _num(r.floor_us, ".3f"), _num(r.step_us / r.floor_us, ".0f") + "x" if r.floor_us else "-", r.floor_basis]
        for r in records if r.step_us is not None
    ]
    if not rows:
        return "(no recurrence was timed)"
    header = ["part", "case", "shapes", "dtype", "variant", "us / step", "floor us", "vs floor", "floor basis"]
    return _table(header, rows)


def steps_table(records: Sequence[StepRecord]) -> str:
    if not records:
        return "(no bench/gpu.sh steps recorded)"
    def status(r: StepRecord) -> str:
        if r.rc == 0:
            return "ok"
        return f"**killed at its {r.timeout_s:.0f} s limit**" if r.rc in (124, 137) else f"**failed (rc {r.rc})**"

    rows = [[r.step, status(r), f"{r.elapsed_s:.0f}", f"{r.timeout_s:.0f}", r.log or "-", r.command or "-"]
            for r in records]
    return _table(["step", "status", "seconds", "limit s", "log", "command"], rows)


def checks_table(records: Sequence[CheckRecord]) -> str:
    if not records:
        return "(no checks recorded)"
    rows = [[r.name, "pass" if r.passed else "**FAIL**", f"{r.seconds:.1f}", r.note or "-"] for r in records]
    return _table(["check", "result", "seconds", "note"], rows)


def skipped_list(records: Sequence[SkipRecord]) -> str:
    if not records:
        return "(nothing skipped)"
    return "\n".join(f"- {r.suite} / {r.case} / {r.variant}: skipped: {r.reason}" for r in records)


def environment_lines(env: dict[str, Any]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in env.items())


def markdown(env: dict[str, Any], settings: dict[str, Any], records: Sequence[Any], notes: Sequence[str]) -> str:
    parity = [r for r in records if isinstance(r, ParityRecord)]
    timed = [r for r in records if isinstance(r, ThroughputRecord)]
    steps = [r for r in records if isinstance(r, StepRecord)]
    checks = [r for r in records if isinstance(r, CheckRecord)]
    runs = [r for r in records if isinstance(r, RunRecord)]
    failed_checks = [r for r in checks if not r.passed]
    failed_steps = [r for r in steps if r.rc != 0]
    verdict = "PARITY FAILED" if parity_failures(records) else "all parity checks passed"
    if failed_checks or failed_steps:
        verdict += f"; {len(failed_checks)} check(s) and {len(failed_steps)} step(s) FAILED"
    parts = [
        "# Benchmark results", "", f"**{verdict}**", "", "## Environment", environment_lines(env), "",
        "## Settings", environment_lines(settings), "",
    ]
    for run in runs:
        parts += [f"### Part {run.part} ({run.plan})", environment_lines(run.settings), ""]
    if notes:
        parts += ["## Notes", *[f"- {n}" for n in notes], ""]
    if steps:
        parts += ["## bench/gpu.sh steps", steps_table(steps), ""]
    if checks:
        parts += ["## Checks", checks_table(checks), ""]
    parts += [
        "## Parity (max |got - ref| / max |ref|, outputs and gradients)", parity_table(parity), "",
        "## Throughput (median per call; vs baseline = baseline time / variant time)", throughput_table(timed), "",
    ]
    if any(r.step_us is not None for r in timed):
        parts += [
            "## Recurrence per-step latency (median / sequential steps: T fwd, 2T fwd+bwd; floor = recurrent "
            "state bytes per step / memory bandwidth)", step_latency_table(timed), "",
        ]
    parts += ["## Skipped", skipped_list([r for r in records if isinstance(r, SkipRecord)]), ""]
    return "\n".join(parts)


def plot_speedups(records: Sequence[Any], path: Path) -> None:
    """Speed-up over the baseline vs sequence length T, one line per (case, dtype, variant) of the kernel suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in records:
        if isinstance(r, ThroughputRecord) and r.suite == "kernels" and r.speedup is not None and "T" in r.shapes:
            lines[f"{r.case} {r.dtype} {r.variant}"].append((r.shapes["T"], r.speedup))
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for label, points in sorted(lines.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    if lines:
        ax.set_xscale("log", base=2)
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.text(0.5, 0.5, "no kernel timings in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("speed-up over reference (x)")
    ax.set_title("Kernel speed-up vs sequence length")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(
    out_dir: Path, env: dict[str, Any], settings: dict[str, Any], records: Sequence[Any], notes: Sequence[str]
) -> dict[str, Path]:
    """Write results.json, results.md and the speed-up plot into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / JSON_NAME, "markdown": out_dir / MARKDOWN_NAME, "plot": out_dir / PLOT_NAME}
    def of(cls: type) -> list[dict[str, Any]]:
        return [r.to_dict() for r in records if isinstance(r, cls)]

    payload = {
        "passed": not parity_failures(records),
        "environment": env,
        "settings": settings,
        "notes": list(notes),
        "runs": of(RunRecord),
        "steps": of(StepRecord),
        "checks": of(CheckRecord),
        "parity": of(ParityRecord),
        "throughput": of(ThroughputRecord),
        "skipped": of(SkipRecord),
    }
    paths["json"].write_text(json.dumps(finite(payload), indent=1, default=str))
    paths["markdown"].write_text(markdown(env, settings, records, notes))
    plot_speedups(records, paths["plot"])
    return paths


def rebuild(out_dir: Path) -> dict[str, Path]:
    """The report of everything in ``<out_dir>/results.jsonl``: environment of the latest record that has one,
    settings per plan part, notes of every run (deduplicated), a note on unreadable lines."""
    records, skipped = read(journal_path(out_dir))
    env = next((r.env for r in reversed(records) if getattr(r, "env", None)), {})
    runs = [r for r in records if isinstance(r, RunRecord)]
    notes = list(dict.fromkeys(n for r in runs for n in r.notes))
    if skipped:
        notes.append(f"{skipped} line(s) of {journal_path(out_dir).name} could not be read (a write cut short?)")
    settings = {"journal": str(journal_path(out_dir)), "records": len(records),
                "plans": sorted({r.plan for r in runs}), "parts": list(dict.fromkeys(r.part for r in runs))}
    return write(Path(out_dir), env, settings, records, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report",
                                     description="Rebuild results.{json,md} and the plot from DIR/results.jsonl.")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if not journal_path(args.out_dir).is_file():
        print(f"python -m bench.report: no {journal_path(args.out_dir)}", file=sys.stderr)
        return 2
    paths = rebuild(args.out_dir)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
