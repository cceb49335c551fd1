"""bench.compile: launch settings are captured from the launchers (not restated), a kernel compiles offline for
sm_90 and ptxas's figures are read; the recommendation rule."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.compile import Compiled, Report, _recommend

REPO = Path(__file__).resolve().parents[2]


def test_cqa_kernel_captured_and_compiled_for_sm90_with_the_codes_settings() -> None:
    script = (
        "from bench import compile as c\n"
        "c._setup()\n"
        "from kernels.cqa import kernel as k\n"
        "launches = c.cqa_launches('bf16')\n"
        "names = [label for label, *_ in launches]\n"
        "want = ['scores', 'column', 'rows', 'bwd_column', 'bwd_rows', 'bwd_query']\n"
        "assert names == ['cqa ' + n for n in want], names\n"
        "for label, fn, args, kwargs in launches:\n"
        "    assert kwargs['num_warps'] == k.NUM_WARPS[label.split()[1]], label\n"
        "    assert kwargs['num_stages'] == k.NUM_STAGES, label\n"
        "    assert kwargs['BLOCK_N'] == 32 and kwargs['BLOCK_T'] == k.tiles_for(256, 32, 512).t\n"
        "label, fn, args, kwargs = launches[0]\n"
        "row = c.Compiler().compile(label, fn, args, kwargs, 'bf16')\n"
        "assert not row.error, row.error\n"
        "assert 0 < row.registers <= 255 and row.spill_stores == 0 and row.spill_loads == 0, row\n"
        "assert row.shared > 0 and row.num_warps == k.NUM_WARPS['scores'] and row.constexprs['BLOCK_D'] == 32\n"
        "trial = c.Compiler().compile(label, fn, args, kwargs, 'bf16', 'sweep', num_warps=8)\n"
        "assert trial.num_warps == 8 and trial.registers and trial.setting == 'sweep'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRITON_INTERPRET": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _row(warps: int, stages: int, registers: int, spill: int, setting: str) -> Compiled:
    return Compiled("k", "k", "m", "bf16", warps, stages, {}, registers, spill, spill, 0, 1024, 1.0, setting)


def test_recommendation_changes_a_setting_only_to_remove_or_reduce_a_spill() -> None:
    report = Report([_row(8, 2, 255, 64, "code"), _row(8, 3, 200, 0, "sweep"), _row(4, 2, 180, 8, "sweep"),
                     _row(4, 3, 250, 0, "sweep")])
    _recommend(report)
    (rec,) = report.recommendations
    assert rec["change"]
    # among the spill-free: fewest registers per program (8 x 32 x 200 = 51200 > 4 x 32 x 250 = 32000)
    assert (rec["recommended"]["num_warps"], rec["recommended"]["num_stages"]) == (4, 3)
    assert set(rec["points"]) == {"w8/s2", "w8/s3", "w4/s2", "w4/s3"}

    clean = Report([_row(8, 2, 128, 0, "code"), _row(4, 2, 96, 0, "sweep")])
    _recommend(clean)
    assert not clean.recommendations[0]["change"]  # fewer registers alone: keep
    assert clean.recommendations[0]["fewest_registers_per_thread"]["registers"] == 96

    spilling = Report([_row(8, 2, 255, 96, "code"), _row(8, 3, 255, 48, "sweep")])
    _recommend(spilling)
    assert spilling.recommendations[0]["change"] and spilling.recommendations[0]["recommended"]["spills"] == 48 + 48


def test_report_renders_from_its_json_with_a_summary(tmp_path) -> None:
    from dataclasses import asdict

    from bench.compile import render

    rows = [_row(8, 2, 255, 48, "code"), _row(8, 3, 200, 0, "sweep")]
    report = Report(rows)
    _recommend(report)
    meta = {"timestamp": "t", "git_commit": "c", "triton": "3", "torch": "2", "ptxas": "p", "seconds": 1.0,
            "cache": "cold (empty cache)", "ptxas_flags": "-v"}
    (tmp_path / "report.json").write_text(json.dumps(
        {"meta": meta, "notes": [], "kernels": [asdict(r) for r in rows], "resident": {},
         "recommendations": report.recommendations}))
    assert render(tmp_path) == 0
    text = (tmp_path / "report.md").read_text()
    assert "Spills at the code's launch settings: k bf16 (96 B)" in text
    assert "k bf16: w8/s2 -> w8/s3 (spill 96 -> 0 B)" in text
    assert "| k | bf16 | - | - | **255, 96, 1.0** | 200, 0, 1.0 | **w8/s3** (change) |" in text


def test_ms_lstm_launchers_fit_a_99_kib_block_offline_for_sm86() -> None:
    """--arch: the launchers choose their settings for sm_86 (99 KiB per block) from Triton's compile for sm_86: the
    fp32 forward, 3 stages at the code's preference, drops stages until it fits; every kernel is within the limits."""
    script = (
        "from bench import compile as c\n"
        "c._setup()\n"
        "from kernels.device_fit import ARCHES\n"
        "from kernels.ms_lstm import kernel as k\n"
        "rows = [r for r in c.arch_rows('sm_86', ('fp32',)) if r.kernel.startswith('ms_lstm')]\n"
        "assert len(rows) == 5, [r.kernel for r in rows]\n"
        "assert all(not c.over_limit(r) for r in rows), [(r.kernel, c.over_limit(r)) for r in rows]\n"
        "forward = next(r for r in rows if r.kernel == 'ms_lstm forward (train)')\n"
        "preferred = k._recurrent_config(c.MS_LSTM['H'])['num_stages']\n"
        "assert forward.num_stages < preferred, forward\n"
        "assert forward.shared <= ARCHES['sm_86'].shared_per_block < c.Compiler(86).compile(\n"
        "    'x', k.ms_lstm_forward_kernel, *c.ms_lstm_launches('fp32')[0][2:], 'fp32').shared\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRITON_INTERPRET": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
