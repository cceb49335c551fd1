"""The records the GPU-run tools append to a journal (:mod:`gpu_run.journal`), each one JSON object with a ``kind``:

* ``check`` -- :class:`CheckRecord`: a pass/fail fact that is not a parity comparison (``python -m
  gpu_run.check``: a kernel compiled and ran; the memory bandwidth measured);
* ``case``  -- :class:`CaseRecord`: an isolated item (a benchmark case, a test) started / done / faulted
  (:mod:`gpu_run.isolation`).

The benchmark's own record kinds (``bench.records``) share the journal and derive from :class:`Record`.
Importable without torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

CASE_STARTED, CASE_DONE, CASE_FAULTED = "started", "done", "faulted"


class Record:
    """Base of every journal record: a dataclass whose fields are its JSON form."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The record a :meth:`to_dict` wrote; keys that are not fields are ignored (newer journals stay
        readable).  Raises TypeError when a field without a default is missing."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


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
class CaseRecord(Record):
    """One isolated item (a benchmark case, a test) of a step that can fault: ``started`` before it runs, ``done``
    after, ``faulted`` when it poisoned the CUDA context or its process ended inside it (killed at its limit, a
    crash); a resumed run skips every item with a record (:mod:`gpu_run.isolation`)."""

    item: str
    state: str
    part: str = ""
    seconds: float = 0.0
    note: str = ""
    run: str = ""  # the resumed run it belongs to (gpu_run.isolation.current_run): older runs' records are history
    kind: str = "case"
