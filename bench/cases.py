"""One benchmark case: several variants of a computation, checked against a reference, then timed together.

A suite yields :class:`Case` objects (or :class:`SkipRecord` for what cannot run on this machine);
:func:`run_case` turns a case into parity and throughput records:

1. parity -- every variant runs on a *fresh* random input (a seed never used for timing) and its
   outputs and gradients are compared with the baseline's, or with the case's oracle (e.g. the fp32
   reference of a bf16 case, see :func:`check_parity`); a variant that raises fails parity;
2. throughput -- the timed variants run interleaved on a rotation of pre-generated inputs
   (:func:`bench.timing.compare`); speed-up is baseline time / variant time.  A case with ``steps`` (the
   MS-LSTM) also gets the per-step latency and, with ``step_bytes``, the memory-bandwidth floor of a step
   (:mod:`bench.hardware`).
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.records import ParityRecord, SkipRecord, ThroughputRecord
from bench.timing import TimingPlan, compare, peak_memory_bytes
from gpu_run.isolation import CaseLog, arm_watchdog, context_problem, disarm_watchdog
from gpu_run.journal import Journal
from kernels import UnsupportedInput
from kernels.parity import LOW_PRECISION, LOW_PRECISION_FLOOR, REFERENCE_ERROR_RATIO, max_rel_err, passes, tolerance
from kernels.parity import tied_tolerance as tied_bound

Tensors = list[torch.Tensor]
Result = tuple[Tensors, Tensors]  # (outputs, gradients)
PARITY_SEED_OFFSET = 10_000  # parity inputs use seeds the timing rotation never sees


@dataclass(frozen=True)
class Settings:
    """How a run measures: device, dtypes, timing plan, torch.compile availability, perturbation."""

    device: torch.device
    dtypes: tuple[torch.dtype, ...]
    timing: TimingPlan
    quick: bool = False  # the suites' tiny shapes
    compile_skip: str | None = None  # why torch.compile variants do not run (None: they run)
    perturb: float = 0.0  # relative change applied to one weight of every candidate variant
    tf32: bool = False
    rotation: int = 4  # pre-generated inputs the timed calls rotate through
    part: str = ""  # the plan part being run (bench.plans), recorded with every number


@dataclass
class Variant:
    """A way to compute the case: ``fn(input) -> (outputs, gradients)``; ``timed=False``: parity only."""

    name: str
    fn: Callable[[Any], Result]
    timed: bool = True
    vs_oracle: bool = False  # checked against the case's oracle (when it has one) instead of the baseline


@dataclass
class Case:
    """Variants of one computation at one shape and dtype; ``variants[0]`` is the baseline."""

    suite: str
    name: str
    dtype: torch.dtype
    shapes: dict[str, Any]
    make_input: Callable[[int], Any]  # seed -> one input
    variants: list[Variant]
    oracle: Variant | None = None  # e.g. the fp32 reference of a bf16 case (see check_parity)
    flops: float | None = None  # per call, for TFLOP/s
    items: int | None = None  # samples per call, for samples/s
    memory: bool = False  # record peak CUDA memory of the timed variants
    tolerance: float | None = None  # overrides the docs/design.md §8.5 kernel tolerance of the dtype (see model suite)
    steps: int | None = None  # sequential steps of the longest chain (recurrences): per-step latency
    step_bytes: float | None = None  # bytes of recurrent state moved per step: the bandwidth floor of a step


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _describe(err: BaseException) -> str:
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}{where}"


def run_case(case: Case, settings: Settings, env: dict[str, Any]) -> list[Any]:
    """Parity then timing of ``case``; returns its Parity/Throughput/Skip records."""
    start = time.perf_counter()
    records, working = check_parity(case, settings, env)
    timed = [v for v in case.variants if v.timed and v.name in working]
    if timed:
        records += _throughput(case, timed, settings, env)
    print(f"[bench] {case.suite}: {case.name} {dtype_name(case.dtype)} {case.shapes} "
          f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return records


def case_key(case: Case) -> str:
    """The name a case has in the journal's case records (:mod:`gpu_run.isolation`)."""
    return f"{case.suite} | {case.name} | {dtype_name(case.dtype)} | {case.shapes}"


def run_isolated(case: Case, settings: Settings, env: dict[str, Any], log: CaseLog, journal: Journal,
                 limit_s: float | None = None) -> tuple[list[Any], str | None]:
    """:func:`run_case` bracketed by case records, with a watchdog of ``limit_s`` seconds; its records are journaled
    before the case's end.  Returns (records, why the CUDA context is gone or None): after a fault nothing more can
    run in this process (the caller exits with :data:`gpu_run.isolation.RESUME_RC`)."""
    key = case_key(case)
    log.start(key)
    print(f"[bench] {settings.part}: starting {key}", file=sys.stderr, flush=True)
    arm_watchdog(limit_s)
    try:
        records = run_case(case, settings, env)
    except Exception as err:  # noqa: BLE001 -- only a lost context is absorbed (then the case's fault), else raised
        if context_problem(settings.device) is None:
            raise
        records = [SkipRecord(case.suite, case.name, "*", f"the case raised {_describe(err)}", env, settings.part)]
    finally:
        disarm_watchdog()
    fault = context_problem(settings.device)
    journal.extend(records)
    log.end(key, fault)
    return records, fault


def _call(variant: Variant, inp: Any) -> Result | str:
    """The variant's result, or why it crashed (a crashing variant fails parity, with the reason shown)."""
    try:
        return variant.fn(inp)
    except UnsupportedInput:
        raise
    except Exception as err:  # noqa: BLE001
        return _describe(err)


def tied_tolerance(out_err: float | None, grad_err: float | None, documented: float | None = None) -> tuple[float, str]:
    """The tolerance of a low-precision kernel against the fp32 oracle, tied (:func:`kernels.parity.tied_tolerance`)
    to the worse of the baseline's (cuDNN's) output and gradient errors against that oracle in the same run; when
    that error is not a number (the baseline failed), ``documented`` (or the dtype's) stands.  Returns (tolerance,
    the note saying how it was got)."""
    errs = [e for e in (out_err, grad_err) if e is not None]
    measured = math.nan if not errs or any(math.isnan(e) for e in errs) else max(errs)
    tol = tied_bound(measured, documented)
    if math.isnan(measured):
        return tol, ""
    return tol, (f"tolerance {tol:.2e} = max({LOW_PRECISION_FLOOR:g}, {REFERENCE_ERROR_RATIO:g} x the baseline's own "
                 f"error {measured:.2e} against fp32 in this run)")


def check_parity(case: Case, settings: Settings, env: dict[str, Any]) -> tuple[list[Any], set[str]]:
    """A parity (or skip) record per checked variant, and the names of the variants that ran.

    Every variant but the baseline is asserted against the baseline -- or, when the case has an oracle
    and the variant is ``vs_oracle``, against the oracle.  With an oracle the baseline gets an
    informational row too (e.g. cuDNN bf16 against fp32, not asserted); in fp16 / bf16 it sets the tolerance of
    the ``vs_oracle`` variants (:func:`tied_tolerance`).
    """
    inp = case.make_input(PARITY_SEED_OFFSET)
    tol = case.tolerance or tolerance(case.dtype, settings.tf32)
    records: list[Any] = []
    results: dict[str, Result | str] = {}
    for variant in ([case.oracle] if case.oracle else []) + case.variants:
        try:
            results[variant.name] = _call(variant, inp)
        except UnsupportedInput as err:
            records.append(SkipRecord(case.suite, case.name, variant.name, str(err), env, settings.part))
    baseline = case.variants[0]
    pairs = [(baseline, case.oracle, False)] if case.oracle else []
    pairs += [(v, case.oracle if case.oracle and v.vs_oracle else baseline, True) for v in case.variants[1:]]
    oracle_tol, oracle_note = tol, ""
    for variant, reference, asserted in pairs:
        if variant.name not in results or reference.name not in results:
            continue
        got, want = results[variant.name], results[reference.name]
        out_err = grad_err = None
        if isinstance(got, str) or isinstance(want, str):
            failure = got if isinstance(got, str) else f"the reference failed: {want}"
            out_err = float("nan")
        else:
            failure = ""
            out_err, grad_err = max_rel_err(got[0], want[0]), max_rel_err(got[1], want[1])
        if not asserted and case.dtype in LOW_PRECISION:  # the baseline (cuDNN) against the fp32 oracle
            oracle_tol, oracle_note = tied_tolerance(out_err, grad_err, case.tolerance)
        tied = asserted and variant.vs_oracle and case.oracle is not None and case.dtype in LOW_PRECISION
        variant_tol = oracle_tol if tied else tol
        ok = not failure and passes(out_err, variant_tol) and passes(grad_err, variant_tol)
        note = failure or (oracle_note if tied else "")
        records.append(
            ParityRecord(
                case.suite, case.name, variant.name, reference.name, dtype_name(case.dtype), case.shapes,
                out_err, grad_err, variant_tol, ok, note, asserted, env, settings.part,
            )
        )
    working = {name for name, result in results.items() if not isinstance(result, str)}
    return records, working


def _floor(case: Case, settings: Settings) -> tuple[float | None, str]:
    """Seconds one step needs at least to move ``case.step_bytes`` at the device's bandwidth, and how it was got."""
    if not case.step_bytes:
        return None, ""
    from bench.hardware import floor_bandwidth

    bandwidth, source = floor_bandwidth(settings.device)
    size = f"{case.step_bytes / 1e6:.3f} MB" if case.step_bytes >= 1e6 else f"{case.step_bytes / 1e3:.2f} kB"
    return case.step_bytes / bandwidth, f"{size}/step at {source}"


def _throughput(case: Case, timed: Sequence[Variant], settings: Settings, env: dict[str, Any]) -> list[Any]:
    inputs = [case.make_input(seed) for seed in range(settings.rotation)]
    timings = compare({v.name: v.fn for v in timed}, inputs, settings.device, settings.timing)
    baseline = timings.get(case.variants[0].name)
    floor_s, floor_basis = _floor(case, settings)
    records = []
    for variant in timed:
        t = timings[variant.name]
        peak = peak_memory_bytes(variant.fn, inputs[0], settings.device) if case.memory else None
        records.append(
            ThroughputRecord(
                case.suite, case.name, variant.name, case.variants[0].name, dtype_name(case.dtype), case.shapes,
                median_ms=t.median_s * 1e3,
                iqr_ms=t.iqr_s * 1e3,
                repeats=t.repeats,
                speedup=baseline.median_s / t.median_s if baseline else None,
                tflops=case.flops / t.median_s / 1e12 if case.flops else None,
                items_per_s=case.items / t.median_s if case.items else None,
                peak_mem_mb=peak / 2**20 if peak is not None else None,
                env=env,
                step_us=t.median_s / case.steps * 1e6 if case.steps else None,
                floor_us=floor_s * 1e6 if floor_s is not None else None,
                floor_basis=floor_basis,
                part=settings.part,
            )
        )
    return records


def default_timing(device: torch.device, quick: bool) -> TimingPlan:
    if quick:
        return TimingPlan(warmup=1, repeats=3, min_sample_s=0.0, max_calls=1)
    if device.type == "cuda":
        return TimingPlan(warmup=5, repeats=30, min_sample_s=5e-3)
    return TimingPlan(warmup=1, repeats=5, min_sample_s=2e-2, max_calls=4)
