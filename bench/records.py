"""What every benchmark number carries: the machine (:func:`gpu_run.machine.environment`), dtype and shapes.

Record kinds of a benchmark journal (each written as one JSON object with a ``kind`` key, see :mod:`bench.journal`):

* ``run``        -- one ``python -m bench`` invocation of one plan part: its settings and notes;
* ``step``       -- one step of ``bench/gpu.sh``: exit status, elapsed seconds, its time limit;
* ``parity``     -- :class:`ParityRecord`; ``throughput`` -- :class:`ThroughputRecord`; ``skip`` -- :class:`SkipRecord`;
* ``check`` and ``case`` -- the GPU-run tools' records (:mod:`gpu_run.records`: ``python -m gpu_run.check``'s
  facts; the isolated cases and tests of :mod:`gpu_run.isolation`).

Importable without torch (``python -m bench.report`` rebuilds a report from a journal on any machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpu_run.records import CaseRecord, CheckRecord, Record


@dataclass
class ParityRecord(Record):
    """Largest error of a variant's outputs and gradients against the reference, and the verdict."""

    suite: str
    case: str
    variant: str
    reference: str
    dtype: str
    shapes: dict[str, Any]
    output_rel_err: float
    grad_rel_err: float | None
    tolerance: float
    passed: bool
    note: str = ""
    asserted: bool = True  # False: shown for context, a miss does not fail the run
    env: dict[str, Any] = field(default_factory=dict)
    part: str = ""  # the plan part (bench.plans) that produced it
    kind: str = "parity"


@dataclass
class ThroughputRecord(Record):
    """Median per-call time of a variant, its speed-up over the baseline, and derived rates.

    For the MS-LSTM: ``step_us`` = median / sequential steps of the longest chain (T forward; 2T forward +
    backward), ``floor_us`` = bytes of recurrent state moved per step / memory bandwidth, ``floor_basis`` says
    which bytes and which bandwidth (see :mod:`bench.hardware`).
    """

    suite: str
    case: str
    variant: str
    baseline: str
    dtype: str
    shapes: dict[str, Any]
    median_ms: float
    iqr_ms: float
    repeats: int
    speedup: float | None
    tflops: float | None = None
    items_per_s: float | None = None
    peak_mem_mb: float | None = None
    env: dict[str, Any] = field(default_factory=dict)
    step_us: float | None = None
    floor_us: float | None = None
    floor_basis: str = ""
    part: str = ""
    kind: str = "throughput"


@dataclass
class SkipRecord(Record):
    """A measurement that could not run here, and why."""

    suite: str
    case: str
    variant: str
    reason: str
    env: dict[str, Any] = field(default_factory=dict)
    part: str = ""
    kind: str = "skip"


@dataclass
class RunRecord(Record):
    """One ``python -m bench`` run of one plan part: what was asked and how it measured."""

    plan: str
    part: str
    settings: dict[str, Any]
    notes: list[str]
    env: dict[str, Any] = field(default_factory=dict)
    kind: str = "run"


@dataclass
class StepRecord(Record):
    """One step of ``bench/gpu.sh``: exit status (124/137: killed at its time limit), seconds, limit, log."""

    step: str
    rc: int
    elapsed_s: float
    timeout_s: float
    command: str = ""
    log: str = ""
    timestamp: str = ""
    kind: str = "step"


RECORD_TYPES: dict[str, type] = {
    cls.kind: cls
    for cls in (ParityRecord, ThroughputRecord, SkipRecord, RunRecord, CheckRecord, StepRecord, CaseRecord)
}


def record_from_dict(data: dict[str, Any]) -> Any:
    """The record a :meth:`to_dict` wrote (unknown keys ignored, so newer journals stay readable); "nan"
    strings (JSON has no NaN) become float NaN again.  Raises ValueError for an unknown kind."""
    cls = RECORD_TYPES.get(data.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown record kind {data.get('kind')!r}")
    return cls.from_dict({k: (float(v) if v in ("nan", "inf", "-inf") and k.endswith(("_err", "_ms", "_us")) else v)
                          for k, v in data.items()})


def parity_failures(records: Sequence[Any]) -> list[ParityRecord]:
    """The asserted parity checks that failed: any of them makes a run fail."""
    return [r for r in records if isinstance(r, ParityRecord) and r.asserted and not r.passed]
