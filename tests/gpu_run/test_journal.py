"""gpu_run.journal: every append durable before it returns; a line cut short by a kill is skipped, not fatal."""

import json
import math
import os

from gpu_run import journal
from gpu_run.journal import JOURNAL_NAME, Journal, finite, read_dicts
from gpu_run.records import CaseRecord, CheckRecord

RECORDS = [CheckRecord("memory bandwidth", True, 0.5, "measured", {"copy_bytes_per_s": float("nan")}),
           CaseRecord("case A", "started", "kernels", run="r")]


def test_every_append_is_flushed_and_fsynced(tmp_path, monkeypatch) -> None:
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(journal.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    book = Journal(tmp_path, fresh=True)
    for i, record in enumerate(RECORDS):
        book.append(record)
        assert len(synced) == i + 1  # durable before append returns
        assert len((tmp_path / JOURNAL_NAME).read_text().splitlines()) == i + 1


def test_objects_read_back_and_cut_or_foreign_lines_are_skipped(tmp_path) -> None:
    Journal(tmp_path, fresh=True).extend(RECORDS)
    with open(tmp_path / JOURNAL_NAME, "a") as f:
        f.write("[1, 2]\n")  # valid JSON, not a record
        f.write('{"kind": "check", "name": "cut sh')  # a write cut short by a kill
    objects, skipped = read_dicts(tmp_path / JOURNAL_NAME)
    assert skipped == 2
    assert [CheckRecord.from_dict(objects[0]).data, CaseRecord.from_dict(objects[1])] == [
        {"copy_bytes_per_s": "nan"}, RECORDS[1]]  # JSON has no NaN: written as a string
    assert read_dicts(tmp_path / "missing" / JOURNAL_NAME) == ([], 0)
    assert Journal(tmp_path).path.read_text().count("\n") == 3  # kept, not truncated
    assert Journal(tmp_path, fresh=True).path.read_text() == ""


def test_non_finite_numbers_become_strings_everywhere() -> None:
    value = finite({"a": [1.0, float("inf"), {"b": -math.inf}], "c": (float("nan"),)})
    assert json.loads(json.dumps(value)) == {"a": [1.0, "inf", {"b": "-inf"}], "c": ["nan"]}
