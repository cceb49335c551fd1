"""pytest-benchmark form of ``python -m bench``: the same cases, parity asserted, speed reported.

Run (the repository's ``testpaths`` are ``tests`` and ``bench/tests``, so this is a separate command)::

    pytest bench/test_bench.py --benchmark-json=bench/out/pytest-benchmark.json

The cases are those of :func:`bench.plans.cases` -- the one enumeration ``python -m bench`` uses too -- for
the plan in ``BENCH_PLAN`` (default: ``quick`` on CPU, torch.compile variants off; ``full`` on CUDA, fp32 and
bf16), e.g. ``BENCH_PLAN=gpu-quick pytest bench/test_bench.py``.  ``test_parity`` asserts every variant against its
reference (docs/design.md §8.5 tolerances);
``test_speed`` times each timed variant with pytest-benchmark, rotating through pre-generated inputs
and synchronising CUDA after every call.  Speed is reported, never asserted.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from bench import plans
from bench.cases import Case, Settings, check_parity, default_timing
from bench.cli import DTYPES, QUICK_COMPILE_SKIP
from bench.records import ParityRecord, SkipRecord, parity_failures
from bench.timing import synchronize
from engine.device import resolve_device
from gpu_run.machine import environment

DEVICE = resolve_device("auto")
ON_CUDA = DEVICE.type == "cuda"
PLAN = plans.get_plan(os.environ.get("BENCH_PLAN", "full" if ON_CUDA else "quick"))
TINY = PLAN.tiny_shapes(DEVICE.type)
SETTINGS = Settings(
    DEVICE,
    tuple(DTYPES[d] for d in PLAN.cuda_dtypes) if ON_CUDA else (torch.float32,),
    default_timing(DEVICE, quick=TINY),
    quick=TINY,
    compile_skip=QUICK_COMPILE_SKIP if TINY and not ON_CUDA else None,
)
ROUNDS, WARMUP_ROUNDS = (30, 5) if ON_CUDA else (5, 1)


def generate() -> Iterator[tuple[Settings, Case | SkipRecord]]:
    """(settings of the case's part, case or skip record), from the one enumeration of :mod:`bench.plans`."""
    for _, part_settings, item in plans.cases(SETTINGS, PLAN):
        yield part_settings, item


def case_id(case: Case) -> str:
    dims = "-".join(f"{k}{v}" for k, v in case.shapes.items())
    return f"{case.suite}-{case.name.replace(' ', '_')}-{str(case.dtype).removeprefix('torch.')}-{dims}"


@dataclass(frozen=True)
class CaseRef:
    """What collection needs to know of a case; the case itself (models, weights) is rebuilt when its test runs."""

    index: int
    id: str
    part: str
    compared: bool  # has a variant to check against the reference (reference-only CPU timings have none)
    timed: tuple[str, ...]


@functools.cache
def listing() -> tuple[list[CaseRef], list[SkipRecord]]:
    """One pass over the suites at collection time; each case is dropped as soon as it is described, so
    the models of all cases are never alive together."""
    refs, skips = [], []
    for part_settings, item in generate():
        if isinstance(item, SkipRecord):
            skips.append(item)
            continue
        timed = tuple(v.name for v in item.variants if v.timed)
        compared = len(item.variants) > 1 or item.oracle is not None
        refs.append(CaseRef(len(refs), f"{part_settings.part}-{case_id(item)}", part_settings.part, compared, timed))
    return refs, skips


class CaseStream:
    """Cases in suite order, built on demand: tests asking in order (pytest's) build each case once."""

    def __init__(self) -> None:
        self.cases: Iterator[tuple[Settings, Case]] | None = None
        self.position, self.current = -1, None

    def get(self, index: int) -> tuple[Settings, Case]:
        if self.cases is None or index < self.position:
            self.cases = ((s, item) for s, item in generate() if not isinstance(item, SkipRecord))
            self.position = -1
        while self.position < index:
            self.current, self.position = next(self.cases), self.position + 1
        return self.current


STREAM = CaseStream()


@pytest.fixture(scope="module")
def env() -> dict:
    return environment(DEVICE)


@pytest.mark.parametrize("ref", [r for r in listing()[0] if r.compared], ids=lambda r: r.id)
def test_parity(ref: CaseRef, env: dict) -> None:
    settings, case = STREAM.get(ref.index)
    records, _ = check_parity(case, settings, env)
    failed = parity_failures(records)
    assert not failed, "\n".join(
        f"{r.variant} vs {r.reference}: out err {r.output_rel_err:.3e}, grad err {r.grad_rel_err}, "
        f"tol {r.tolerance:.0e} {r.note}" for r in failed
    )
    if not any(isinstance(r, ParityRecord) for r in records):
        pytest.skip("; ".join(r.reason for r in records if isinstance(r, SkipRecord)))


@pytest.mark.parametrize(("ref", "variant"), [(r, v) for r in listing()[0] for v in r.timed],
                         ids=lambda x: x.id if isinstance(x, CaseRef) else x)
def test_speed(ref: CaseRef, variant: str, benchmark, env: dict) -> None:
    settings, case = STREAM.get(ref.index)
    fn = next(v.fn for v in case.variants if v.name == variant)
    inputs = itertools.cycle([case.make_input(seed) for seed in range(settings.rotation)])

    def call(inp) -> None:
        fn(inp)
        synchronize(DEVICE)

    benchmark.group = f"{case.suite} {case.name} {case.dtype} {case.shapes}"
    benchmark.extra_info.update(
        plan=PLAN.name, part=ref.part, suite=case.suite, case=case.name, variant=variant, dtype=str(case.dtype),
        shapes=case.shapes,
        flops=case.flops, items=case.items, **{f"env_{k}": v for k, v in env.items()},
    )
    benchmark.pedantic(call, setup=lambda: ((next(inputs),), {}), rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)


def test_skips_are_explained() -> None:
    """Whatever cannot run here is listed with a reason (shown with ``-rs``-style output below)."""
    for skip in listing()[1]:
        assert skip.reason, f"{skip.suite}/{skip.variant} skipped without a reason"
