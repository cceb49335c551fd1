"""The tiny trained run that tests of several packages read (the ``tiny_run`` fixtures of tests/conftest.py and
bench/tests/conftest.py): trained once per session, whichever fixture asks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.tiny import train_tiny

_RUNS: dict[int, Path] = {}  # id of the session's TempPathFactory (not hashable) -> its run


def tiny_run_dir(factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch tiny synthetic EAMAT run directory (config.yaml, last.pt, best.pt, metrics.json), one per
    session (``factory`` is the session's)."""
    if id(factory) not in _RUNS:
        _RUNS[id(factory)] = train_tiny(factory.mktemp("tiny") / "run")
    return _RUNS[id(factory)]
