"""``python -m train check-data``: read a dataset once, as training would, and say whether training would work.

It uses the training loaders (:data:`engine.data.build.LOADERS`) and feature readers
(:func:`engine.data.features.scan_features`) and reports, without building a vocabulary or a model:
pairs / videos / dropped / clipped per split, every dropped or clipped annotation with its file and line,
missing and unreadable feature files (not ``.npy``, pickled, wrong shape, NaN / Inf with the first bad
row), feature widths that differ from the dataset's, and clip counts.  Training would fail -- the check
fails -- on a missing annotation file, a missing or unreadable feature file of a kept pair, mixed widths, or
an empty split; with ``strict`` also on any dropped annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import DataConfig
from engine.data.annotations import SPLITS, LineIssue, SplitReport
from engine.data.build import LOADERS
from engine.data.features import FeatureScan, scan_features
from engine.data.synthetic import generate_from_config

LISTED = 20  # entries of each kind printed in the table (the JSON holds all)


@dataclass
class DataCheck:
    """The result of :func:`check_data`; ``problems`` empty = training would work."""

    dataset: str
    annotations: str
    features: str
    max_clips: int
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: list[LineIssue] = field(default_factory=list)
    scan: FeatureScan | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        """The readable report (several lines)."""
        lines = [f"check-data: data.dataset={self.dataset}" + (
            f", annotations {self.annotations}, features {self.features}" if self.dataset != "synthetic" else "")
            + f", data.max_clips {self.max_clips}"]
        if self.splits:
            lines.append(f"{'split':<6}{'pairs':>8}{'videos':>8}{'dropped':>9}{'clipped':>9}")
            for split, row in self.splits.items():
                dropped = sum(row["dropped"].values())
                lines.append(f"{split:<6}{row['pairs']:>8}{row['videos']:>8}{dropped:>9}{row['clipped']:>9}")
            reasons = sorted({r for row in self.splits.values() for r, n in row["dropped"].items() if n})
            if reasons:
                counts = {r: sum(row["dropped"].get(r, 0) for row in self.splits.values()) for r in reasons}
                lines.append("dropped by reason: " + ", ".join(f"{r} {n}" for r, n in counts.items()))
        if self.issues:
            dropped = sum(issue.dropped for issue in self.issues)
            lines.append(f"dropped or clipped annotations ({dropped} dropped, {len(self.issues) - dropped} clipped):")
            lines += _listed([str(issue) for issue in sorted(self.issues, key=lambda i: not i.dropped)])
        if self.scan is not None:
            lines += self._feature_lines(self.scan)
        if self.ok:
            lines.append("result: OK, training can read this dataset")
        else:
            lines.append(f"result: FAILED, training would stop ({len(self.problems)} problem(s)):")
            lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def _feature_lines(self, scan: FeatureScan) -> list[str]:
        total = len(scan.clips) + len(scan.missing) + len(scan.unreadable)
        lines = [f"feature files: {total} videos, {len(scan.clips)} readable, width {scan.width}"]
        if scan.clips:
            clips = np.array(list(scan.clips.values()))
            longer = int((clips > self.max_clips).sum())
            lines.append(f"  clips per video: min {clips.min()}, median {int(np.median(clips))}, max {clips.max()}; "
                         f"{longer} longer than data.max_clips={self.max_clips} (resampled in training)")
        if scan.missing:
            lines.append(f"  missing ({len(scan.missing)}):")
            lines += _listed([f"{v}: {p}" for v, p in scan.missing.items()], "    ")
        if scan.unreadable:
            lines.append(f"  unreadable or invalid ({len(scan.unreadable)}):")
            lines += _listed(list(scan.unreadable.values()), "    ")
        if scan.other_widths:
            lines.append(f"  other width than {scan.width} ({len(scan.other_widths)}):")
            lines += _listed([f"{v}: width {w} ({Path(self.features) / f'{v}.npy'})" for v, w in
                              scan.other_widths.items()], "    ")
        return lines

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok, "dataset": self.dataset, "annotations": self.annotations, "features": self.features,
            "max_clips": self.max_clips, "splits": self.splits,
            "issues": [{"where": i.where, "reason": i.reason, "detail": i.detail, "dropped": i.dropped}
                       for i in self.issues],
            "problems": self.problems,
        }
        if self.scan is not None:
            out["feature_files"] = {
                "readable": len(self.scan.clips), "width": self.scan.width, "missing": self.scan.missing,
                "unreadable": self.scan.unreadable, "other_widths": self.scan.other_widths,
                "clips": _stats(list(self.scan.clips.values())),
            }
        return out


def check_data(config: DataConfig, strict: bool = False, progress: bool = False) -> DataCheck:
    """Read the dataset of ``config`` once and report (module docstring); never raises for bad data."""
    check = DataCheck(config.dataset, config.annotations, config.features, config.max_clips)
    if config.dataset == "synthetic":
        data = generate_from_config(config)
        reports = {split: SplitReport(loaded=len(data.moments[split])) for split in SPLITS}
        _count(check, data.moments, reports)
        scan = FeatureScan()
        for video_id, array in data.features.items():
            scan.clips[video_id], scan.widths[video_id] = array.shape
        check.scan = scan
        return check
    for key in ("annotations", "features"):
        if not getattr(config, key):
            check.problems.append(f"data.{key} must name a folder for data.dataset={config.dataset!r}")
    if check.problems:
        return check
    try:
        moments, reports = LOADERS[config.dataset](config.annotations)
    except (OSError, ValueError) as err:
        check.problems.append(str(err))
        return check
    _count(check, moments, reports)
    if strict:
        dropped = sum(sum(r.dropped.values()) for r in reports.values())
        if dropped:
            check.problems.append(f"{dropped} annotation(s) dropped (--strict)")
    if not Path(config.features).is_dir():
        check.problems.append(f"feature folder {config.features} not found (data.features)")
        return check
    scan = check.scan = scan_features(config.features, {m.video_id for ms in moments.values() for m in ms}, progress)
    if scan.missing:
        first = next(iter(scan.missing.values()))
        check.problems.append(f"{len(scan.missing)} feature file(s) missing, e.g. {first}")
    if scan.unreadable:
        first = next(iter(scan.unreadable.values()))
        check.problems.append(f"{len(scan.unreadable)} feature file(s) unreadable or invalid, e.g. {first}")
    if scan.other_widths:
        video, width = next(iter(scan.other_widths.items()))
        check.problems.append(f"{len(scan.other_widths)} feature file(s) of another width than {scan.width}, "
                              f"e.g. {Path(config.features) / f'{video}.npy'} has {width}")
    return check


def _count(check: DataCheck, moments: dict[str, list], reports: dict[str, SplitReport]) -> None:
    for split in SPLITS:
        report = reports[split]
        check.splits[split] = {
            "pairs": len(moments[split]), "videos": len({m.video_id for m in moments[split]}),
            "dropped": {r: n for r, n in sorted(report.dropped.items()) if n}, "clipped": report.clipped,
        }
        check.issues += report.issues
        if not moments[split]:
            check.problems.append(f"the {split} split has no usable pairs")


def _stats(values: list[int]) -> dict[str, int]:
    if not values:
        return {}
    array = np.array(values)
    return {"min": int(array.min()), "median": int(np.median(array)), "max": int(array.max())}


def _listed(items: list[str], indent: str = "  ") -> list[str]:
    lines = [f"{indent}{item}" for item in items[:LISTED]]
    if len(items) > LISTED:
        lines.append(f"{indent}... and {len(items) - LISTED} more (all in the JSON)")
    return lines
