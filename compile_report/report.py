"""The report files: ``report.json`` (every row and the run's facts) and ``report.md`` rendered from the same data."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from compile_report.compiled import Row


def failures(rows: list[Row]) -> list[Row]:
    """The rows that make the run fail: a kernel the launchers use that does not compile, or does not fit its
    architecture (a candidate that does not fit is one its launcher rejects)."""
    return [r for r in rows if r.problem() and not (r.candidate and not r.error)]


def _kib(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:.1f}"


def summary(rows: list[Row]) -> list[str]:
    """Per architecture: kernels, failures, spills, the most shared memory, and the launches given fewer pipeline
    stages there than on another architecture (:mod:`kernels.device_fit` fitting them into a smaller block)."""
    most_stages: dict[tuple[str, str], int] = {}
    for r in rows:
        most_stages[(r.kernel, r.dtype)] = max(most_stages.get((r.kernel, r.dtype), 0), r.num_stages)
    lines = []
    for arch in dict.fromkeys(r.arch for r in rows):
        mine = [r for r in rows if r.arch == arch]
        bad = [f"{r.kernel} {r.dtype}: {r.problem()}" for r in failures(mine)]
        spills = [f"{r.kernel} {r.dtype} ({r.stack} B)" for r in mine if r.stack]
        fewer = [f"{r.kernel} {r.dtype} ({r.num_stages})" for r in mine
                 if not r.error and r.num_stages < most_stages[(r.kernel, r.dtype)]]
        most = max((r.shared or 0 for r in mine), default=0)
        lines.append(f"- **{arch}** ({_kib(mine[0].shared_limit)} KiB per block): {len(mine)} kernels; "
                     + (f"**{len(bad)} failed**: {'; '.join(bad)}" if bad else "every one compiles and fits")
                     + f"; most shared memory {_kib(most)} KiB; spills: {', '.join(spills) or 'none'}"
                     + (f"; fewer stages than elsewhere: {', '.join(fewer)}" if fewer else "") + ".")
    return lines


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    """``report.md``: the provenance, the summary and one table row per compiled kernel."""
    lines = [f"# Triton kernels compiled for {', '.join(meta['archs'])} ({meta['where']})", "",
             f"Made by `{meta['command']}` ({meta['timestamp']}, commit {meta['git_commit']}, Triton {meta['triton']}, "
             f"torch {meta['torch']}, {meta['seconds']} s, Triton cache {meta['cache']}). Launch settings are the "
             "launchers' own, chosen for each architecture (`kernels.device_fit`); registers and stack frame (local "
             "memory per thread: spilled registers) from the cubin Triton built (`cuobjdump --dump-resource-usage`), "
             "shared memory per block from Triton's compile. v2 rows (`G=`) are the group sizes its launcher "
             f"compiles to choose one ({meta['v2_device']}); one that does not fit is rejected there, not a failure.",
             "", f"Shapes: MS-LSTM {meta['ms_lstm_shapes']}; CQA {meta['cqa_shapes']}. fp32: IEEE dots (torch's "
             "default float32 matmul precision); fp32-tf32: TF32 dots.", ""]
    if meta["notes"]:
        lines += ["## Notes", "", *[f"- {note}" for note in meta["notes"]], ""]
    lines += ["## Summary", "", *summary(rows), "", "## Every kernel", "",
              "| arch | kernel | dtype | warps | stages | registers | regs / program | stack B | smem KiB | "
              "limit KiB | compile s | fits |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r.arch} | {r.kernel} | {r.dtype} | {r.num_warps} | {r.num_stages} |"
        if r.error:
            lines.append(f"{head} {r.error} | | | | | | **no** |")
            continue
        fits = "yes" if not r.problem() else f"**no**: {r.problem()}" + (" (rejected there)" if r.candidate else "")
        lines.append(f"{head} {r.registers} | {r.registers_per_program} | {r.stack} | {_kib(r.shared)} | "
                     f"{_kib(r.shared_limit)} | {r.compile_s:.1f} | {fits} |")
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    """``out``/report.json and ``out``/report.md, each written atomically."""
    from engine.atomic import atomic_output

    payload = json.dumps({"meta": meta, "kernels": [asdict(r) for r in rows]}, indent=1) + "\n"
    for name, text in (("report.json", payload), ("report.md", markdown(rows, meta))):
        with atomic_output(out / name) as tmp:
            tmp.write_text(text)
