"""Results of a run as JSON (everything), markdown (parity and throughput tables) and a speed-up plot (PNG)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.records import ParityRecord, SkipRecord, ThroughputRecord, parity_failures

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
        [r.suite, r.case, _shapes(r.shapes), r.dtype, r.variant, _num(r.median_ms, ".3f"), _num(r.iqr_ms, ".3f"),
         _num(r.speedup, ".2f") + "x" if r.speedup is not None else "-", _num(r.tflops, ".3g"),
         _num(r.items_per_s, ".1f"), _num(r.peak_mem_mb, ".1f")]
        for r in records
    ]
    header = ["suite", "case", "shapes", "dtype", "variant", "median ms", "IQR ms", "vs baseline", "TFLOP/s",
              "samples/s", "peak MB"]
    return _table(header, rows)


def skipped_list(records: Sequence[SkipRecord]) -> str:
    if not records:
        return "(nothing skipped)"
    return "\n".join(f"- {r.suite} / {r.case} / {r.variant}: skipped: {r.reason}" for r in records)


def environment_lines(env: dict[str, Any]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in env.items())


def markdown(env: dict[str, Any], settings: dict[str, Any], records: Sequence[Any], notes: Sequence[str]) -> str:
    parity = [r for r in records if isinstance(r, ParityRecord)]
    verdict = "PARITY FAILED" if parity_failures(records) else "all parity checks passed"
    parts = [
        "# Benchmark results", "", f"**{verdict}**", "", "## Environment", environment_lines(env), "",
        "## Settings", environment_lines(settings), "",
    ]
    if notes:
        parts += ["## Notes", *[f"- {n}" for n in notes], ""]
    parts += [
        "## Parity (max |got - ref| / max |ref|, outputs and gradients)", parity_table(parity), "",
        "## Throughput (median per call; vs baseline = baseline time / variant time)",
        throughput_table([r for r in records if isinstance(r, ThroughputRecord)]), "",
        "## Skipped", skipped_list([r for r in records if isinstance(r, SkipRecord)]), "",
    ]
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


def _finite(value: Any) -> Any:
    """JSON has no NaN: failed (NaN) errors are written as the string "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write(
    out_dir: Path, env: dict[str, Any], settings: dict[str, Any], records: Sequence[Any], notes: Sequence[str]
) -> dict[str, Path]:
    """Write results.json, results.md and the speed-up plot into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / JSON_NAME, "markdown": out_dir / MARKDOWN_NAME, "plot": out_dir / PLOT_NAME}
    parity = [r for r in records if isinstance(r, ParityRecord)]
    payload = {
        "passed": not parity_failures(records),
        "environment": env,
        "settings": settings,
        "notes": list(notes),
        "parity": [r.to_dict() for r in parity],
        "throughput": [r.to_dict() for r in records if isinstance(r, ThroughputRecord)],
        "skipped": [r.to_dict() for r in records if isinstance(r, SkipRecord)],
    }
    paths["json"].write_text(json.dumps(_finite(payload), indent=1, default=str))
    paths["markdown"].write_text(markdown(env, settings, records, notes))
    plot_speedups(records, paths["plot"])
    return paths
