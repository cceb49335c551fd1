"""Annotation parsers: Charades-STA and TACoS (VSLNet release layout) -> moments per split, no features needed.

Charades-STA (folder with ``charades_sta_train.txt``, ``charades_sta_test.txt``, and ``charades.json`` or
2D-TAN's ``Charades_v1_train.csv`` + ``Charades_v1_test.csv``): lines ``VID start end##sentence`` (seconds);
durations from ``charades.json`` (``{vid: {"duration": s}}``, VSLNet's layout) or else from the CSVs'
``length`` column (``id`` names the video), as 2D-TAN reads them.
Charades has no official validation split: unless a ``charades_sta_val.txt`` (same format) is present,
val is carved out of the train file **by video**: a video is in val when ``crc32(video_id) % 1000 <
1000 * val_fraction`` (default 0.1), so no video is in both, and the choice depends on nothing but the id.
``val_fraction`` 0 carves nothing (the papers' protocol: the whole train split trains, there is no val).

TACoS (folder with ``train.json``, ``val.json``, ``test.json``): ``{"sXX-dYY.avi": {"timestamps":
[[f0, f1], ...] (frames), "sentences": [...], "fps": f, "num_frames": n}}``; duration = num_frames / fps,
seconds = frame / fps. The video id (and feature file name) is the key without ``.avi``: ``sXX-dYY``.
With ``val_fraction`` 0 the val file is not read (EAMAT's code trains and selects without it).

Pairs are validated alike (:func:`validated_moment`). Dropped, counted per reason in the split's
:class:`SplitReport`: ``malformed`` (unparsable line / entry), ``unknown_video`` (no duration for it),
``bad_duration`` (duration <= 0), ``empty_sentence``, ``start_not_before_end``, ``start_beyond_duration``.
Kept but adjusted (counted in ``clipped``): a negative start becomes 0, an end past the duration becomes
the duration (as VSLNet does). Blank lines are not annotations and are skipped.

Custom data (``data.dataset=custom``; folder with ``train.jsonl``, ``test.jsonl`` and optionally
``val.jsonl``): one JSON object per line, ``{"video": id, "query": text, "start": s, "end": s,
"duration": s}`` (seconds; other keys are ignored); the features are ``<data.features>/<video>.npy``.
Without ``val.jsonl``, val is carved out of train by video exactly as for Charades.  A line that is not
such an object is dropped as ``malformed``.

Every dropped or clipped pair of Charades-STA and custom files is also listed, with its file and line
number, in :attr:`SplitReport.issues` (``python -m train check-data`` prints them).
"""

from __future__ import annotations

import csv
import json
import math
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")
CHARADES_VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Moment:
    """One (video, sentence, [start, end] seconds) annotation with its video's duration in seconds."""

    video_id: str
    sentence: str
    start: float
    end: float
    duration: float
    windows: tuple[tuple[float, float], ...] = ()  # every ground truth of a multi-window query, (start, end) first

    @property
    def ground_truths(self) -> tuple[tuple[float, float], ...]:
        """Every ground-truth window of the query in seconds: ``windows``, or ``((start, end),)``."""
        return self.windows or ((self.start, self.end),)


@dataclass(frozen=True)
class LineIssue:
    """A dropped or clipped annotation: ``where`` is ``file:line`` (or ``file:key``), ``reason`` a drop reason or
    ``clipped``, ``detail`` the values involved."""

    where: str
    reason: str
    detail: str
    dropped: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.detail or self.reason} ({'dropped' if self.dropped else 'kept, clipped'})"


@dataclass
class SplitReport:
    """What an annotation parser made of one split: pairs kept, pairs dropped per reason, pairs clipped."""

    loaded: int = 0
    dropped: Counter = field(default_factory=Counter)
    clipped: int = 0
    issues: list[LineIssue] = field(default_factory=list)  # dropped / clipped pairs whose place is known
    source: str = ""  # where the split's pairs come from (a file, or carved out of train)

    def drop(self, reason: str, where: str | None = None, detail: str = "") -> None:
        self.dropped[reason] += 1
        if where is not None:
            self.issues.append(LineIssue(where, reason, detail))

    def summary(self) -> str:
        dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(self.dropped.items()) if n) or "none"
        return f"{self.loaded} pairs loaded, dropped: {dropped}; times clipped to the video: {self.clipped}"


# one parsed annotation line: its video id, and what makes the line's Moment (or None, with the reason counted in
# the report) once its split is known: validate(report, where)
ParsedLine = tuple[str, Callable[[SplitReport, str], "Moment | None"]]


def moment_problem(sentence: str, start: float, end: float, duration: float | None) -> tuple[str, str] | None:
    """(drop reason, detail) of an annotation that cannot be used, None for a usable one."""
    if duration is None:
        return "unknown_video", "no duration for the video"
    if not all(math.isfinite(x) for x in (start, end, duration)):
        return "malformed", f"non-finite time (start {start}, end {end}, duration {duration})"
    if duration <= 0:
        return "bad_duration", f"duration {duration:g} s is not positive"
    if not sentence.strip():
        return "empty_sentence", "empty query"
    if start >= end:
        return "start_not_before_end", f"start {start:g} s is not before end {end:g} s"
    if start >= duration:
        return "start_beyond_duration", f"start {start:g} s is not inside the {duration:g} s video"
    return None


def validated_moment(
    report: SplitReport, video_id: str, sentence: str, start: float, end: float, duration: float | None,
    where: str | None = None,
) -> Moment | None:
    """A :class:`Moment`, or None after counting the reason it is dropped in ``report`` (and listing it in
    ``report.issues`` when ``where`` names its place)."""
    sentence = sentence.strip()
    problem = moment_problem(sentence, start, end, duration)
    if problem is not None:
        report.drop(problem[0], where, problem[1])
        return None
    if start < 0 or end > duration:
        report.clipped += 1
        if where is not None:
            detail = f"times {start:g}-{end:g} s clipped to the {duration:g} s video"
            report.issues.append(LineIssue(where, "clipped", detail, dropped=False))
    report.loaded += 1
    return Moment(video_id, sentence, max(start, 0.0), min(end, duration), duration)


def load_charades(
    root: str | Path, val_fraction: float = CHARADES_VAL_FRACTION
) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """Charades-STA moments and reports for "train", "val", "test" (layout in the module docstring)."""
    root = Path(root)
    durations = _charades_durations(root)
    val_file = root / "charades_sta_val.txt"
    sources = {"train": _required(root / "charades_sta_train.txt"), "test": _required(root / "charades_sta_test.txt")}
    if val_file.is_file():
        sources["val"] = val_file

    def parse(line: str) -> ParsedLine | str:
        parsed = _charades_line(line)
        if parsed is None:
            return "expected 'VIDEO START END##sentence'"
        video_id, start, end, sentence = parsed
        return video_id, lambda report, where: validated_moment(
            report, video_id, sentence, start, end, durations.get(video_id), where)

    return load_line_splits(sources, val_fraction, parse)


def load_line_splits(
    sources: dict[str, Path], val_fraction: float, parse: Callable[[str], ParsedLine | str]
) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """Moments and reports for "train", "val", "test" from one annotation file per split (``sources``), one
    annotation a line: ``parse`` turns a line into (video id, its validation) or says what is wrong with it (the
    line is then dropped as malformed in its file's split).  Without a val file, the train videos
    :func:`in_charades_val` picks go to val.  Every loader of line-based annotations reads through this."""
    moments = {split: [] for split in SPLITS}
    reports = {split: SplitReport() for split in SPLITS}
    mark_sources(reports, sources, val_fraction)
    for file_split, path in sources.items():
        carve_val = file_split == "train" and "val" not in sources
        for number, line in enumerate(_read_lines(path), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            parsed = parse(line)
            if isinstance(parsed, str):
                reports[file_split].drop("malformed", where, parsed)
                continue
            video_id, validate = parsed
            split = "val" if carve_val and in_charades_val(video_id, val_fraction) else file_split
            moment = validate(reports[split], where)
            if moment is not None:
                moments[split].append(moment)
    return moments, reports


def mark_sources(reports: dict[str, SplitReport], sources: dict[str, Path], val_fraction: float) -> None:
    """Say in each report where its split comes from: its file, or (val without a file) carved out of train."""
    for split, report in reports.items():
        if split in sources:
            report.source = str(sources[split])
        elif split == "val" and val_fraction > 0:
            report.source = f"{val_fraction:g} of the training videos, carved out of {sources['train']}"


def in_charades_val(video_id: str, val_fraction: float = CHARADES_VAL_FRACTION) -> bool:
    """Whether a Charades train video belongs to the carved-out val split (deterministic, by id only)."""
    return zlib.crc32(video_id.encode("utf-8")) % 1000 < round(1000 * val_fraction)


CUSTOM_FILES = {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"}
CUSTOM_KEYS = ("video", "query", "start", "end", "duration")


def load_custom(
    root: str | Path, val_fraction: float = CHARADES_VAL_FRACTION
) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """Custom-data moments and reports for "train", "val", "test" (format in the module docstring)."""
    root = Path(root)
    sources = {split: _required(root / name) for split, name in CUSTOM_FILES.items()
               if split != "val" or (root / name).is_file()}
    return load_line_splits(sources, val_fraction, _custom_line)


def json_line_fields(line: str, keys: tuple[str, ...], id_key: str) -> tuple[dict, str, str] | str:
    """A JSON-lines annotation's object with every key of ``keys``, its video id (``id_key``: a feature file's
    name) and its sentence (``query``) -- or what is wrong with the line.  Shared by every JSONL reader."""
    try:
        entry = json.loads(line)
    except ValueError as err:
        return f"not JSON ({getattr(err, 'msg', err)})"
    if not isinstance(entry, dict):
        return f"expected a JSON object with keys {list(keys)}, got {type(entry).__name__}"
    missing = [key for key in keys if key not in entry]
    if missing:
        return f"missing {', '.join(repr(k) for k in missing)}"
    video_id, sentence = entry[id_key], entry["query"]
    if not isinstance(video_id, str) or not video_id or video_id in (".", "..") or any(c in video_id for c in "/\\"):
        return f"{id_key!r} must be a feature file name (without .npy), got {video_id!r}"
    if not isinstance(sentence, str):
        return f"'query' must be a string, got {sentence!r}"
    return entry, video_id, sentence


def _custom_line(line: str) -> ParsedLine | str:
    """A custom annotation line's video id and validation, or what is wrong with the line."""
    fields = json_line_fields(line, CUSTOM_KEYS, "video")
    if isinstance(fields, str):
        return fields
    entry, video_id, sentence = fields
    times = []
    for key in ("start", "end", "duration"):
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{key!r} must be a number of seconds, got {value!r}"
        times.append(float(value))
    return video_id, lambda report, where: validated_moment(report, video_id, sentence, *times, where)


def load_tacos(
    root: str | Path, val_fraction: float = CHARADES_VAL_FRACTION
) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """TACoS moments and reports for "train", "val", "test" (layout in the module docstring; ``val_fraction``
    0 leaves val empty, any other value reads ``val.json``)."""
    root = Path(root)
    moments = {split: [] for split in SPLITS}
    reports = {split: SplitReport() for split in SPLITS}
    splits = SPLITS if val_fraction > 0 else ("train", "test")
    mark_sources(reports, {split: root / f"{split}.json" for split in splits}, val_fraction)
    for split in splits:
        for key, entry in _read_json(_required(root / f"{split}.json")).items():
            video_id = key.removesuffix(".avi")
            for sentence, start, end, duration in _tacos_pairs(entry, reports[split]):
                where = f"{root / f'{split}.json'}:{key}"
                moment = validated_moment(reports[split], video_id, sentence, start, end, duration, where)
                if moment is not None:
                    moments[split].append(moment)
    return moments, reports


def _tacos_pairs(entry: object, report: SplitReport):
    """(sentence, start s, end s, duration s) of one TACoS video; unusable pairs counted as malformed."""
    try:
        fps, num_frames = float(entry["fps"]), float(entry["num_frames"])
        timestamps, sentences = list(entry["timestamps"]), list(entry["sentences"])
    except (TypeError, KeyError, ValueError):
        sentences = entry.get("sentences") if isinstance(entry, dict) else None
        report.dropped["malformed"] += len(sentences) if isinstance(sentences, list) else 1
        return
    report.dropped["malformed"] += abs(len(timestamps) - len(sentences))
    if fps <= 0:
        report.dropped["bad_duration"] += min(len(timestamps), len(sentences))
        return
    for frames, sentence in zip(timestamps, sentences, strict=False):  # unpaired extras counted above
        try:
            f0, f1 = (float(f) for f in frames)
        except (TypeError, ValueError):
            report.dropped["malformed"] += 1
            continue
        if not isinstance(sentence, str):
            report.dropped["malformed"] += 1
            continue
        yield sentence, f0 / fps, f1 / fps, num_frames / fps


def _charades_line(line: str) -> tuple[str, float, float, str] | None:
    head, sep, sentence = line.partition("##")
    fields = head.split()
    if not sep or len(fields) != 3:
        return None
    try:
        return fields[0], float(fields[1]), float(fields[2]), sentence
    except ValueError:
        return None


CHARADES_CSVS = ("Charades_v1_train.csv", "Charades_v1_test.csv")  # 2D-TAN's duration files


def _charades_durations(root: Path) -> dict[str, float]:
    """Video id -> duration from ``charades.json`` or, without it, 2D-TAN's CSVs; entries without a numeric
    duration are left out (their lines: unknown_video)."""
    if not (root / "charades.json").is_file() and all((root / name).is_file() for name in CHARADES_CSVS):
        return {k: v for name in CHARADES_CSVS for k, v in _csv_durations(root / name).items()}
    if not (root / "charades.json").is_file():
        raise FileNotFoundError(f"no video durations in {root}: neither charades.json (VSLNet) nor "
                                f"{' + '.join(CHARADES_CSVS)} (2D-TAN) (data.annotations = {root})")
    durations = {}
    for video_id, entry in _read_json(root / "charades.json").items():
        try:
            durations[video_id] = float(entry["duration"])
        except (TypeError, KeyError, ValueError):
            continue
    return durations


def _csv_durations(path: Path) -> dict[str, float]:
    """``id`` -> ``length`` (seconds) of a Charades_v1 CSV; rows without a numeric length are left out."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"cannot read annotation file {path}: {err}") from err
    if rows and not {"id", "length"} <= set(rows[0]):
        raise ValueError(f"annotation file {path}: expected the columns 'id' and 'length' (Charades_v1 CSV), "
                         f"got {sorted(rows[0])[:12]}")
    durations = {}
    for row in rows:
        try:
            durations[row["id"]] = float(row["length"])
        except (TypeError, ValueError):
            continue
    return durations


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read annotation file {path}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"annotation file {path} must hold a JSON object keyed by video, got {type(data).__name__}")
    return data


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read annotation file {path}: {err}") from err


def _required(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} not found (data.annotations = {path.parent})")
    return path
