"""bench.cases: which variant is compared with what, crashes fail, timed records carry speed-ups; a case that hangs
ends only itself (run_isolated under gpu_run.isolation)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.cases import Case, Settings, Variant, check_parity, run_case, tied_tolerance
from bench.journal import read
from bench.records import ParityRecord, ThroughputRecord, parity_failures
from bench.timing import TimingPlan
from gpu_run.isolation import case_records
from gpu_run.journal import JOURNAL_NAME
from gpu_run.records import CASE_DONE, CASE_FAULTED, CASE_STARTED
from kernels.parity import LOW_PRECISION_FLOOR, REFERENCE_ERROR_RATIO

REPO = Path(__file__).resolve().parents[2]

CPU = torch.device("cpu")
SETTINGS = Settings(CPU, (torch.float32,), TimingPlan(warmup=1, repeats=3, min_sample_s=0.0, max_calls=1))
SIZE, ITEMS = 8, 4
OFFSET = 1e-3  # far above the fp32 tolerance


def make_input(seed: int) -> torch.Tensor:
    return torch.randn(SIZE, generator=torch.Generator().manual_seed(seed))


def variant(name: str, fn, **kw) -> Variant:
    return Variant(name, lambda x: ([fn(x)], []), **kw)


def crash(x: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("kernel exploded")


def parity(case: Case) -> dict[str, ParityRecord]:
    records, _ = check_parity(case, SETTINGS, {})
    return {r.variant: r for r in records if isinstance(r, ParityRecord)}


def test_candidates_are_asserted_against_the_baseline_and_crashes_fail() -> None:
    case = Case("unit", "double", torch.float32, {"n": SIZE}, make_input, [
        variant("reference", lambda x: 2 * x),
        variant("exact", lambda x: x + x),
        variant("off", lambda x: 2 * x + OFFSET * x.abs().max()),
        variant("crash", crash),
    ])
    rows = parity(case)
    assert set(rows) == {"exact", "off", "crash"}
    assert rows["exact"].passed and rows["exact"].reference == "reference"
    assert not rows["off"].passed and abs(rows["off"].output_rel_err - OFFSET / 2) < 1e-6
    assert not rows["crash"].passed and "kernel exploded" in rows["crash"].note
    assert {r.variant for r in parity_failures(list(rows.values()))} == {"off", "crash"}


def test_oracle_rows_baseline_is_context_and_kernel_answers_to_the_oracle() -> None:
    case = Case("unit", "half", torch.float32, {"n": SIZE}, make_input, [
        variant("reference", lambda x: x + OFFSET * x.abs().max()),  # the baseline's own rounding error
        variant("kernel", lambda x: x.clone(), vs_oracle=True),
        variant("compiled", lambda x: x + OFFSET * x.abs().max()),
    ], oracle=variant("oracle", lambda x: x.clone(), timed=False))
    rows = parity(case)
    assert not rows["reference"].asserted and not rows["reference"].passed  # shown, not failing the run
    assert rows["kernel"].reference == "oracle" and rows["kernel"].passed
    assert rows["compiled"].reference == "reference" and rows["compiled"].passed
    assert not parity_failures(list(rows.values()))


BASELINE_ERR = 0.02  # the bf16 baseline's own error against the fp32 oracle in the test below


def test_bf16_tolerance_is_tied_to_the_baselines_own_error_in_the_same_run() -> None:
    """A bf16 kernel answers to the fp32 oracle within REFERENCE_ERROR_RATIO x the baseline's measured error: a kernel a
    little inside that ratio passes, one a little outside fails -- whatever the documented constant says."""
    off = lambda rel: (lambda x: x + rel * x.abs().max())
    case = Case("unit", "bf16", torch.bfloat16, {"n": SIZE}, make_input, [
        variant("reference", off(BASELINE_ERR)),
        variant("kernel inside", off((REFERENCE_ERROR_RATIO - 1) * BASELINE_ERR), vs_oracle=True),
        variant("kernel outside", off((REFERENCE_ERROR_RATIO + 1) * BASELINE_ERR), vs_oracle=True),
    ], oracle=variant("oracle", lambda x: x.clone(), timed=False))
    rows = parity(case)
    want_tol = REFERENCE_ERROR_RATIO * rows["reference"].output_rel_err
    assert rows["kernel inside"].passed and rows["kernel inside"].tolerance == pytest.approx(want_tol)
    assert not rows["kernel outside"].passed and "baseline's own error" in rows["kernel outside"].note


def test_tied_tolerance_has_a_floor_and_falls_back_when_the_baseline_failed() -> None:
    assert tied_tolerance(1e-6, 2e-6)[0] == LOW_PRECISION_FLOOR
    assert tied_tolerance(0.01, 0.03)[0] == pytest.approx(REFERENCE_ERROR_RATIO * 0.03)
    assert tied_tolerance(float("nan"), None, documented=0.05) == (0.05, "")


def test_run_case_times_working_variants_only() -> None:
    case = Case("unit", "sum", torch.float32, {"n": SIZE}, make_input, [
        variant("reference", lambda x: x.sum()),
        variant("same", lambda x: x.sum()),
        variant("crash", crash),
        variant("parity-only", lambda x: x.sum(), timed=False),
    ], items=ITEMS)
    timed = [r for r in run_case(case, SETTINGS, {}) if isinstance(r, ThroughputRecord)]
    assert [r.variant for r in timed] == ["reference", "same"]
    assert timed[0].speedup == 1.0 and timed[1].speedup > 0
    assert all(r.items_per_s == pytest.approx(ITEMS / (r.median_ms / 1e3)) and r.repeats == 3 for r in timed)


HANG_S = 600  # far past the case limit: only the watchdog ends the hanging case
CASE_LIMIT_S = 3
DRIVER = f"HANG_S, CASE_LIMIT_S = {HANG_S}, {CASE_LIMIT_S}\n" + """
import sys, time
import torch
from pathlib import Path
from bench.cases import Case, Settings, Variant, case_key, run_isolated
from bench.timing import TimingPlan
from gpu_run.isolation import CaseLog
from gpu_run.journal import Journal

out = Path(sys.argv[1])
settings = Settings(torch.device("cpu"), (torch.float32,), TimingPlan(warmup=0, repeats=1, min_sample_s=0.0,
                    max_calls=1), part="demo")
def case(name, fn):
    return Case("unit", name, torch.float32, {}, lambda seed: torch.ones(2),
                [Variant("reference", lambda x: ([x], [])), Variant("kernel", lambda x: ([fn(x)], []))])
log = CaseLog(out, "demo", resume="--resume" in sys.argv)
for c in (case("first", lambda x: x), case("hangs", lambda x: time.sleep(HANG_S) or x), case("last", lambda x: x)):
    if not log.finished(case_key(c)):
        run_isolated(c, settings, {}, log, Journal(out), CASE_LIMIT_S)
"""


def test_a_hanging_case_is_recorded_and_the_next_case_still_runs(tmp_path) -> None:
    """run_isolated's watchdog ends the process inside the hanging case; the resumed run names it faulted, runs the
    last case, and the first case's parity record is kept."""
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    runner = ("import sys; from gpu_run.isolation import run_resumed; "
              "sys.exit(run_resumed(sys.argv[2:], sys.argv[1], '--resume'))")
    proc = subprocess.run([sys.executable, "-c", runner, str(out), sys.executable, "-c", DRIVER, str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr[-3000:]
    seen: dict[str, list[str]] = {}
    for r in case_records(out):
        seen.setdefault(r.item.split(" | ")[1], []).append(r.state)
    assert seen == {"first": [CASE_STARTED, CASE_DONE], "hangs": [CASE_STARTED, CASE_FAULTED],
                    "last": [CASE_STARTED, CASE_DONE]}
    parity = [r for r in read(out / JOURNAL_NAME)[0] if isinstance(r, ParityRecord)]
    assert sorted(r.case for r in parity) == ["first", "last"] and all(r.passed for r in parity)
