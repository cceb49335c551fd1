"""The pytest side of :mod:`gpu_run.isolation`: each test journaled started / done / faulted, with a time limit.

``python -m pytest -p gpu_run.pytest_isolation --case-journal DIR --case-limit S ...``: every test gets a
:class:`~gpu_run.records.CaseRecord` pair in ``DIR/results.jsonl``; a test that raises is followed by a probe of the
CUDA context, and a poisoned context ends the process (:data:`gpu_run.isolation.RESUME_RC`) after recording the test
as faulted; a test past ``S`` seconds ends the process (a traceback first).  Tests already recorded in the journal
are deselected, so ``python -m gpu_run.isolation --out DIR -- python -m pytest ...`` goes on after the faulting one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gpu_run.isolation import RESUME_RC, CaseLog, arm_watchdog, context_problem, disarm_watchdog

_FAILED = pytest.StashKey[str]()  # why the running test failed ("" while it has not)
# the real stderr, duplicated before pytest captures it: the watchdog's traceback must reach the step log
_STDERR = os.fdopen(os.dup(2), "w")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("isolation", "gpu_run.isolation: one test's fault cannot take the rest")
    group.addoption("--case-journal", type=Path, default=None,
                    help="results directory whose results.jsonl records each test started / done / faulted; tests "
                    "already recorded there are skipped (rerun with python -m gpu_run.isolation)")
    group.addoption("--case-limit", type=float, default=None,
                    help="seconds one test may take; past it the process ends and the test is recorded as faulted")
    group.addoption("--case-part", default="tests", help="the part name the records carry")


def _log(config: pytest.Config) -> CaseLog | None:
    out = config.getoption("--case-journal")
    if out is None:
        return None
    if not hasattr(config, "_case_log"):
        config._case_log = CaseLog(out, config.getoption("--case-part"), resume=True)
    return config._case_log


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    log = _log(config)
    if log is None:
        return
    done = [item for item in items if log.finished(item.nodeid)]
    if done:
        config.hook.pytest_deselected(items=done)
        items[:] = [item for item in items if not log.finished(item.nodeid)]


def _device(config: pytest.Config) -> Any:
    try:
        return config.getoption("--device")
    except ValueError:  # a session without the project's conftest
        return "cpu"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        item.stash[_FAILED] = f"{report.when}: {crash.message if crash else 'failed'}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    log = _log(item.config)
    if log is not None:
        log.start(item.nodeid)
    arm_watchdog(item.config.getoption("--case-limit"), _STDERR)
    yield
    disarm_watchdog()
    failed = item.stash.get(_FAILED, "")
    fault = context_problem(_device(item.config)) if failed else None
    if log is not None:
        log.end(item.nodeid, fault, note=failed[:300] or "passed or skipped")
    if fault:
        os._exit(RESUME_RC)
