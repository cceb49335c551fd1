"""gpu_run.isolation: an item whose process ended inside it is recorded as faulted and skipped by the next run of
the same command; a clean command passes through; the journal's other records are left alone."""

import sys

from gpu_run.isolation import ENDED_INSIDE, RUN_ENV, CaseLog, case_records, faults, run_resumed, unfinished
from gpu_run.journal import Journal
from gpu_run.records import CASE_FAULTED, CASE_STARTED, CaseRecord, CheckRecord

PART = "demo-tests"


def test_resumed_log_records_an_unfinished_item_as_faulted(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_ENV, "run 1")
    Journal(tmp_path).append(CaseRecord("case A", CASE_STARTED, PART, run="run 1"))
    Journal(tmp_path).append(CheckRecord("environment", True, 0.1))  # another tool's record in the same journal
    assert unfinished(tmp_path) == [(PART, "case A")]
    log = CaseLog(tmp_path, PART, resume=True)
    assert log.finished("case A") and not log.finished("case B") and unfinished(tmp_path) == []
    faulted = [r for r in case_records(tmp_path) if r.state == CASE_FAULTED]
    assert [(r.item, r.note) for r in faulted] == [("case A", ENDED_INSIDE)]
    assert faults(tmp_path) == [f"FAULTED {PART}: case A: {ENDED_INSIDE}"]
    assert CaseLog(tmp_path, "another part", resume=True).finished("case A") is False
    monkeypatch.setenv(RUN_ENV, "run 2")  # a later run of the same step: the earlier records are history
    assert not CaseLog(tmp_path, PART, resume=True).finished("case A") and unfinished(tmp_path) == []


def test_an_item_that_lost_the_context_is_recorded_faulted_with_the_reason(tmp_path):
    log = CaseLog(tmp_path, PART, resume=False)
    log.start("case B")
    log.end("case B", fault="RuntimeError: an illegal memory access")
    (started, ended) = case_records(tmp_path)
    assert (started.state, ended.state, ended.note) == (CASE_STARTED, CASE_FAULTED,
                                                         "RuntimeError: an illegal memory access")
    assert log.finished("case B") and unfinished(tmp_path) == []


def test_run_resumed_passes_through_a_clean_run(tmp_path):
    assert run_resumed([sys.executable, "-c", "pass"], tmp_path) == 0
    assert run_resumed([sys.executable, "-c", "raise SystemExit(1)"], tmp_path) == 1
    assert case_records(tmp_path) == []
