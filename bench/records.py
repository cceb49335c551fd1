"""What every benchmark number carries: the machine, the software versions, the commit, dtype and shapes.

Record kinds (each written as one JSON object with a ``kind`` key, see :mod:`bench.journal`):

* ``run``        -- one ``python -m bench`` invocation of one plan part: its settings and notes;
* ``check``      -- a pass/fail fact that is not a parity comparison (``python -m bench.gpu check``: a kernel
  compiled and ran; the memory bandwidth measured);
* ``step``       -- one step of ``bench/gpu.sh``: exit status, elapsed seconds, its time limit;
* ``case``       -- :class:`CaseRecord`: an isolated case or test started / done / faulted (:mod:`bench.isolation`);
* ``parity``     -- :class:`ParityRecord`; ``throughput`` -- :class:`ThroughputRecord`; ``skip`` -- :class:`SkipRecord`.

Importable without torch (``python -m bench.report`` rebuilds a report from a journal on any machine).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ABSENT = "absent"
REPO_ROOT = Path(__file__).resolve().parents[1]


def package_version(module: str) -> str:
    """``module.__version__``, or "absent" when it cannot be imported."""
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # noqa: BLE001 -- a broken install counts as absent, whatever it raises
        return ABSENT


def git_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD commit of the checkout, "+dirty" when the tree has changes, "unknown" outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_name(device: torch.device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def slug(text: str) -> str:
    """A file-system friendly form of a device name ("NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3")."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) or "device"


def environment(device: torch.device) -> dict[str, Any]:
    """The facts recorded with every number of a run."""
    import torch

    return {
        "device": device_name(device),
        "device_type": device.type,
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "triton": package_version("triton"),
        "onnxruntime": package_version("onnxruntime"),
        "tensorrt": package_version("tensorrt"),
        "cuda": torch.version.cuda or ABSENT,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "triton_interpret": os.environ.get("TRITON_INTERPRET", "0") == "1",
        "tf32": device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


class Record:
    """Base of every journal record: a dataclass whose fields are its JSON form."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
class CheckRecord(Record):
    """A fact checked on the machine that is not a parity comparison (a kernel compiled and ran, a bandwidth)."""

    name: str
    passed: bool
    seconds: float
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    kind: str = "check"


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


CASE_STARTED, CASE_DONE, CASE_FAULTED = "started", "done", "faulted"


@dataclass
class CaseRecord(Record):
    """One isolated item (a benchmark case, a test) of a step that can fault: ``started`` before it runs, ``done``
    after, ``faulted`` when it poisoned the CUDA context or its process ended inside it (killed at its limit, a
    crash); a resumed run skips every item with a record (:mod:`bench.isolation`)."""

    item: str
    state: str
    part: str = ""
    seconds: float = 0.0
    note: str = ""
    run: str = ""  # the resumed run it belongs to (bench.isolation.current_run): older runs' records are history
    kind: str = "case"


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
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: (float(v) if v in ("nan", "inf", "-inf") and k.endswith(("_err", "_ms", "_us")) else v)
              for k, v in data.items() if k in names}
    return cls(**values)


def parity_failures(records: Sequence[Any]) -> list[ParityRecord]:
    """The asserted parity checks that failed: any of them makes a run fail."""
    return [r for r in records if isinstance(r, ParityRecord) and r.asserted and not r.passed]
