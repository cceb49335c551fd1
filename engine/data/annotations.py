"""Annotation parsers: Charades-STA and TACoS (VSLNet release layout) -> moments per split, no features needed.

Charades-STA (folder with ``charades_sta_train.txt``, ``charades_sta_test.txt``, ``charades.json``):
lines ``VID start end##sentence`` (seconds); durations from ``charades.json`` (``{vid: {"duration": s}}``).
Charades has no official validation split: unless a ``charades_sta_val.txt`` (same format) is present,
val is carved out of the train file **by video**: a video is in val when ``crc32(video_id) % 1000 <
1000 * val_fraction`` (default 0.1), so no video is in both, and the choice depends on nothing but the id.

TACoS (folder with ``train.json``, ``val.json``, ``test.json``): ``{"sXX-dYY.avi": {"timestamps":
[[f0, f1], ...] (frames), "sentences": [...], "fps": f, "num_frames": n}}``; duration = num_frames / fps,
seconds = frame / fps. The video id (and feature file name) is the key without ``.avi``: ``sXX-dYY``.

Pairs are validated alike (:func:`validated_moment`). Dropped, counted per reason in the split's
:class:`SplitReport`: ``malformed`` (unparsable line / entry), ``unknown_video`` (no duration for it),
``bad_duration`` (duration <= 0), ``empty_sentence``, ``start_not_before_end``, ``start_beyond_duration``.
Kept but adjusted (counted in ``clipped``): a negative start becomes 0, an end past the duration becomes
the duration (as VSLNet does). Blank lines are not annotations and are skipped.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
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


@dataclass
class SplitReport:
    """What an annotation parser made of one split: pairs kept, pairs dropped per reason, pairs clipped."""

    loaded: int = 0
    dropped: Counter = field(default_factory=Counter)
    clipped: int = 0

    def summary(self) -> str:
        dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(self.dropped.items()) if n) or "none"
        return f"{self.loaded} pairs loaded, dropped: {dropped}; times clipped to the video: {self.clipped}"


def validated_moment(
    report: SplitReport, video_id: str, sentence: str, start: float, end: float, duration: float | None
) -> Moment | None:
    """A :class:`Moment`, or None after counting the reason it is dropped in ``report``."""
    sentence = sentence.strip()
    reason = None
    if duration is None:
        reason = "unknown_video"
    elif not all(math.isfinite(x) for x in (start, end, duration)):
        reason = "malformed"
    elif duration <= 0:
        reason = "bad_duration"
    elif not sentence:
        reason = "empty_sentence"
    elif start >= end:
        reason = "start_not_before_end"
    elif start >= duration:
        reason = "start_beyond_duration"
    if reason is not None:
        report.dropped[reason] += 1
        return None
    if start < 0 or end > duration:
        report.clipped += 1
    report.loaded += 1
    return Moment(video_id, sentence, max(start, 0.0), min(end, duration), duration)


def load_charades(
    root: str | Path, val_fraction: float = CHARADES_VAL_FRACTION
) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """Charades-STA moments and reports for "train", "val", "test" (layout in the module docstring)."""
    root = Path(root)
    durations = _charades_durations(_required(root / "charades.json"))
    moments = {split: [] for split in SPLITS}
    reports = {split: SplitReport() for split in SPLITS}
    val_file = root / "charades_sta_val.txt"
    sources = {"train": _required(root / "charades_sta_train.txt"), "test": _required(root / "charades_sta_test.txt")}
    if val_file.is_file():
        sources["val"] = val_file
    for file_split, path in sources.items():
        carve_val = file_split == "train" and "val" not in sources
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            parsed = _charades_line(line)
            if parsed is None:
                reports[file_split].dropped["malformed"] += 1
                continue
            video_id, start, end, sentence = parsed
            split = "val" if carve_val and in_charades_val(video_id, val_fraction) else file_split
            moment = validated_moment(reports[split], video_id, sentence, start, end, durations.get(video_id))
            if moment is not None:
                moments[split].append(moment)
    return moments, reports


def in_charades_val(video_id: str, val_fraction: float = CHARADES_VAL_FRACTION) -> bool:
    """Whether a Charades train video belongs to the carved-out val split (deterministic, by id only)."""
    return zlib.crc32(video_id.encode("utf-8")) % 1000 < round(1000 * val_fraction)


def load_tacos(root: str | Path) -> tuple[dict[str, list[Moment]], dict[str, SplitReport]]:
    """TACoS moments and reports for "train", "val", "test" (layout in the module docstring)."""
    root = Path(root)
    moments = {split: [] for split in SPLITS}
    reports = {split: SplitReport() for split in SPLITS}
    for split in SPLITS:
        for key, entry in _read_json(_required(root / f"{split}.json")).items():
            video_id = key.removesuffix(".avi")
            for sentence, start, end, duration in _tacos_pairs(entry, reports[split]):
                moment = validated_moment(reports[split], video_id, sentence, start, end, duration)
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


def _charades_durations(path: Path) -> dict[str, float]:
    """Video id -> duration; entries without a numeric "duration" are left out (their lines: unknown_video)."""
    durations = {}
    for video_id, entry in _read_json(path).items():
        try:
            durations[video_id] = float(entry["duration"])
        except (TypeError, KeyError, ValueError):
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


def _required(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} not found (data.annotations = {path.parent})")
    return path
