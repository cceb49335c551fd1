"""gpu_run.records: a record reads back from its JSON form; keys a newer writer added are ignored."""

import pytest

from gpu_run.records import CASE_DONE, CaseRecord, CheckRecord


def test_round_trip_ignores_unknown_keys() -> None:
    record = CaseRecord("kernels | cqa fwd", CASE_DONE, "kernels", 1.25, "passed", "run-1")
    assert CaseRecord.from_dict({**record.to_dict(), "added_later": 1}) == record
    assert record.to_dict()["kind"] == "case" and CheckRecord("x", True, 0.0).to_dict()["kind"] == "check"


def test_a_missing_field_is_an_error() -> None:
    with pytest.raises(TypeError):
        CheckRecord.from_dict({"kind": "check", "name": "x"})
