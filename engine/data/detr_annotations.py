"""The DETR family's annotation JSONL (Moment-DETR, QD-DETR, lighthouse, UniVTG) -> moments per split.

``data.dataset=detr``: ``data.annotations`` is a folder holding one ``.jsonl`` file per split, told apart by a
``train`` / ``val`` / ``test`` word in the name (``charades_train_release.jsonl``, ``highlight_val_release.jsonl``,
``charades_sta_test_tvr_format.jsonl``); without a val file, val is carved out of train by video as for
Charades (``data.val_fraction``).  One query per line::

    {"qid": 7, "query": "a person opens the door", "duration": 31.5, "vid": "AO8RW",
     "relevant_windows": [[3.2, 9.8], [20.0, 24.5]]}

Every window of ``relevant_windows`` is a ground truth of the query (:attr:`Moment.windows`): R@1 counts a
hit when the predicted span reaches the IoU threshold with any of them, as the family's evaluation does
(the IoU with the best-matching window; mIoU averages that same IoU).  Other keys (``qid``, saliency
labels) are ignored.  A line is dropped, with its file and line number, when it is not such an object
(``malformed``; QVHighlights' test file has no windows), or when one of its windows cannot be used (the
window's reason, e.g. ``start_not_before_end``); windows past the duration are clipped to it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from engine.data.annotations import (
    CHARADES_VAL_FRACTION,
    SPLITS,
    Moment,
    ParsedLine,
    SplitReport,
    json_line_fields,
    load_line_splits,
    moment_problem,
    validated_moment,
)

DETR_KEYS = ("vid", "query", "duration", "relevant_windows")
SPLIT_WORDS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def detr_files(root: Path) -> dict[str, Path]:
    """The folder's JSONL file of each split (val optional); an error names what is missing or ambiguous."""
    if not root.is_dir():
        raise FileNotFoundError(f"annotation folder {root} not found (data.annotations)")
    found: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for path in sorted(root.glob("*.jsonl")):
        words = set(re.split(r"[^a-z]+", path.stem.lower()))
        for split, names in SPLIT_WORDS.items():
            if words & set(names):
                found[split].append(path)
    files = {}
    for split, paths in found.items():
        if len(paths) > 1:
            raise ValueError(f"{root}: several {split} files {[p.name for p in paths]}; keep one per split")
        if not paths and split != "val":
            raise FileNotFoundError(f"no {split} annotation file in {root}: expected a *{split}*.jsonl "
                                    "(data.dataset=detr)")
        if paths:
            files[split] = paths[0]
    return files


def load_detr(
    root: str | Path, val_fraction: float = CHARADES_VAL_FRACTION
) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """DETR-family moments and reports for "train", "val", "test" (format in the module docstring)."""
    files = detr_files(Path(root))
    if val_fraction == 0:
        files.pop("val", None)
    return load_line_splits(files, val_fraction, _detr_line)


def _validated(report: SplitReport, video_id: str, sentence: str, duration: float,
               windows: list[tuple[float, float]], where: str) -> Moment | None:
    """The query's :class:`Moment` with every window, or None after counting why one window is unusable."""
    for index, (start, end) in enumerate(windows):
        problem = moment_problem(sentence.strip(), start, end, duration)
        if problem is not None:
            report.drop(problem[0], where, f"relevant_windows[{index}]: {problem[1]}")
            return None
    first = validated_moment(report, video_id, sentence, *windows[0], duration, where)
    if first is None or len(windows) == 1:
        return first
    clipped = tuple((max(start, 0.0), min(end, duration)) for start, end in windows)
    return dataclasses.replace(first, windows=clipped)


def _detr_line(line: str) -> ParsedLine | str:
    """A DETR-family line's video id and validation (every window), or what is wrong with the line."""
    fields = json_line_fields(line, DETR_KEYS, "vid")
    if isinstance(fields, str):
        return fields
    entry, video_id, sentence = fields
    duration = entry["duration"]
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        return f"'duration' must be a number of seconds, got {duration!r}"
    raw = entry["relevant_windows"]
    if not isinstance(raw, list) or not raw or not all(_is_window(w) for w in raw):
        return f"'relevant_windows' must be a non-empty list of [start, end] seconds, got {json.dumps(raw)[:80]}"
    windows = [(float(s), float(e)) for s, e in raw]
    return video_id, lambda report, where: _validated(report, video_id, sentence, float(duration), windows, where)


def _is_window(window: object) -> bool:
    return (isinstance(window, list) and len(window) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in window))
