"""``python -m train check-data``: read a dataset once, as training would, and say whether training would work.

It uses the training loaders (:data:`engine.data.build.LOADERS`), feature stores
(:mod:`engine.data.feature_store`) and word vectors (:mod:`engine.glove`) and reports, without building a
model: pairs / videos / dropped / clipped per split, every dropped or clipped annotation with its file and
line, missing and unreadable feature files (not ``.npy``, pickled, no such HDF5 / npz key, wrong shape,
NaN / Inf with the first bad row), feature widths that differ from the dataset's; per feature release
(each source of ``data.features``): videos, clips per video and seconds per clip (min / median / max, the
latter from the annotated durations), and its ``extraction.json`` when there is one; the word vectors:
source, dimension, share of the queries' distinct words that have a vector.  Training would fail -- the
check fails -- on a missing annotation file, a missing or unreadable feature file of a kept pair, mixed
widths, an empty split, or word vectors that cannot be read; with ``strict`` also on any dropped annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.config import DataConfig
from engine.data.annotations import SPLITS, LineIssue, Moment, SplitReport
from engine.data.build import LOADERS
from engine.data.clip_rate import read_extraction
from engine.data.feature_store import FeatureStore, JoinedStore, open_feature_store
from engine.data.features import FeatureScan, scan_features
from engine.data.synthetic import generate_from_config
from engine.glove import build_vocabulary
from engine.text import deletes_unknown_pos, masked_class, tag_queries

LISTED = 20  # entries of each kind printed in the table (the JSON holds all)
RATE_WARNING = 0.25  # relative difference of the measured seconds per clip from data.clip_seconds that is reported


@dataclass
class DataCheck:
    """The result of :func:`check_data`; ``problems`` empty = training would work."""

    dataset: str
    annotations: str
    features: str
    max_clips: int
    val_fraction: float = 0.1  # 0: no validation split (the papers' protocol), an empty val is expected
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: list[LineIssue] = field(default_factory=list)
    scan: FeatureScan | None = None
    releases: list[dict[str, Any]] = field(default_factory=list)  # per source of data.features (module docstring)
    warnings: list[str] = field(default_factory=list)  # noteworthy, but training works
    word_vectors: dict[str, Any] = field(default_factory=dict)
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
        lines += [_release_line(release) for release in self.releases]
        if self.word_vectors:
            lines.append(_word_vector_line(self.word_vectors))
        lines += [f"warning: {w}" for w in self.warnings]
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
            lines += _listed([f"{v}: width {w} ({scan.places[v]})" for v, w in scan.other_widths.items()], "    ")
        return lines

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok, "dataset": self.dataset, "annotations": self.annotations, "features": self.features,
            "max_clips": self.max_clips, "splits": self.splits,
            "issues": [{"where": i.where, "reason": i.reason, "detail": i.detail, "dropped": i.dropped}
                       for i in self.issues],
            "problems": self.problems, "releases": self.releases, "word_vectors": self.word_vectors,
            "warnings": self.warnings,
        }
        if self.scan is not None:
            out["feature_files"] = {
                "readable": len(self.scan.clips), "width": self.scan.width, "missing": self.scan.missing,
                "unreadable": self.scan.unreadable, "other_widths": self.scan.other_widths,
                "clips": _stats(list(self.scan.clips.values())),
            }
        return out


def check_data(config: DataConfig, strict: bool = False, progress: bool = False, model: str = "eamat") -> DataCheck:
    """Read the dataset of ``config`` once and report (module docstring); never raises for bad data.
    ``model`` names the model whose text rule (:func:`engine.text.deletes_unknown_pos`) makes the vocabulary."""
    check = DataCheck(config.dataset, config.annotations, config.features, config.max_clips, config.val_fraction)
    if config.dataset == "synthetic":
        data = generate_from_config(config)
        reports = {split: SplitReport(loaded=len(data.moments[split])) for split in SPLITS}
        _count(check, data.moments, reports)
        scan = FeatureScan()
        for video_id, array in data.features.items():
            scan.clips[video_id], scan.widths[video_id] = array.shape
        check.scan = scan
        _check_word_vectors(check, config, data.moments, model)
        return check
    for key in ("annotations", "features"):
        if not getattr(config, key):
            check.problems.append(f"data.{key} must name a folder for data.dataset={config.dataset!r}")
    if check.problems:
        return check
    try:
        moments, reports = LOADERS[config.dataset](config.annotations, config.val_fraction)
    except (OSError, ValueError) as err:
        check.problems.append(str(err))
        return check
    _count(check, moments, reports)
    _check_word_vectors(check, config, moments, model)
    if strict:
        dropped = sum(sum(r.dropped.values()) for r in reports.values())
        if dropped:
            check.problems.append(f"{dropped} annotation(s) dropped (--strict)")
    try:
        store = open_feature_store(config.features, config.feature_key)
    except (OSError, ValueError) as err:
        check.problems.append(str(err))
        return check
    scan = check.scan = scan_features(store, {m.video_id for ms in moments.values() for m in ms}, progress)
    _describe_releases(check, store, scan, moments)
    measured = check.releases[0]["seconds_per_clip"].get("median") if check.releases else None
    if config.clip_seconds and measured and abs(measured - config.clip_seconds) > RATE_WARNING * config.clip_seconds:
        check.warnings.append(f"data.clip_seconds={config.clip_seconds:g}, but the files hold a median of "
                              f"{measured:g} s per clip (duration / clips): features of another rate?")
    if scan.missing:
        first = next(iter(scan.missing.values()))
        check.problems.append(f"{len(scan.missing)} feature file(s) missing, e.g. {first}")
    if scan.unreadable:
        first = next(iter(scan.unreadable.values()))
        check.problems.append(f"{len(scan.unreadable)} feature file(s) unreadable or invalid, e.g. {first}")
    if scan.other_widths:
        video, width = next(iter(scan.other_widths.items()))
        check.problems.append(f"{len(scan.other_widths)} feature file(s) of another width than {scan.width}, "
                              f"e.g. {scan.places[video]} has {width}")
    return check


def _check_word_vectors(check: DataCheck, config: DataConfig, moments: dict[str, list[Moment]], model: str) -> None:
    """``check.word_vectors``: source, dimension, share of the queries' distinct words with a vector."""
    sentences = (m.sentence for split in SPLITS for m in moments[split])
    drop = deletes_unknown_pos(config.drop_unknown_pos, model)
    try:
        tagged = tag_queries(sentences, config.max_words, drop, masked_class(config.mask_words))
        words = {t for tokens, _ in tagged.values() for t in tokens}
        vocab = build_vocabulary(words, config.glove)
    except (ImportError, LookupError, OSError, ValueError) as err:
        check.word_vectors = {"source": config.glove, "error": str(err)}
        check.problems.append(f"word vectors (data.glove={config.glove}): {err}")
        return
    check.word_vectors = {
        "source": config.glove, "dim": vocab.word_dim, "words": len(words), "found": len(words) - len(vocab.oov),
        "found_percent": round(100.0 * (len(words) - len(vocab.oov)) / max(len(words), 1), 2),
        "without_vector": sorted(vocab.oov)[:LISTED],
    }


def _describe_releases(check: DataCheck, store: FeatureStore, scan: FeatureScan,
                       moments: dict[str, list[Moment]]) -> None:
    """``check.releases``: per source of the store, what it holds for the readable videos."""
    durations = {m.video_id: m.duration for split in SPLITS for m in moments[split]}
    for part in store.stores if isinstance(store, JoinedStore) else [store]:
        clips = {v: part.num_clips(v) for v in scan.clips}
        release: dict[str, Any] = {
            "source": part.source, "layout": type(part).__name__.removesuffix("Store").lower(),
            "videos": len(clips), "clips": _stats(list(clips.values())),
            "seconds_per_clip": _stats([durations[v] / n for v, n in clips.items()], digits=3),
        }
        try:
            meta = read_extraction(part.metadata_folder())
        except ValueError as err:
            check.problems.append(str(err))
            meta = None
        if meta is not None:
            release["extraction"] = {k: meta[k] for k in ("recipe", "clip_seconds")}
        check.releases.append(release)


def _count(check: DataCheck, moments: dict[str, list], reports: dict[str, SplitReport]) -> None:
    for split in SPLITS:
        report = reports[split]
        check.splits[split] = {
            "pairs": len(moments[split]), "videos": len({m.video_id for m in moments[split]}),
            "dropped": {r: n for r, n in sorted(report.dropped.items()) if n}, "clipped": report.clipped,
        }
        check.issues += report.issues
        if not moments[split] and not (split == "val" and check.val_fraction == 0):
            check.problems.append(f"the {split} split has no usable pairs")


def _stats(values: list[float], digits: int | None = None) -> dict[str, float]:
    """min / median / max, as ints (``digits`` None) or rounded to ``digits``."""
    if not values:
        return {}
    array = np.array(values, dtype=np.float64)
    stats = {"min": array.min(), "median": np.median(array), "max": array.max()}
    return {k: int(v) if digits is None else round(float(v), digits) for k, v in stats.items()}


def _release_line(release: dict[str, Any]) -> str:
    clips, seconds = release["clips"], release["seconds_per_clip"]
    line = f"release {release['source']} ({release['layout']}): {release['videos']} videos"
    if clips:
        line += (f", clips per video min {clips['min']} / median {clips['median']} / max {clips['max']}, "
                 f"seconds per clip min {seconds['min']:g} / median {seconds['median']:g} / max {seconds['max']:g}")
    if "extraction" in release:
        meta = release["extraction"]
        line += f"; extraction.json: recipe {meta['recipe']!r}, {meta['clip_seconds']:g} s per clip"
    return line


def _word_vector_line(vectors: dict[str, Any]) -> str:
    if "error" in vectors:
        return f"word vectors {vectors['source']}: unreadable ({vectors['error']})"
    line = (f"word vectors {vectors['source']}: {vectors['dim']}-d, {vectors['found']} of the queries' "
            f"{vectors['words']} distinct words have one ({vectors['found_percent']:g}%)")
    if vectors["without_vector"]:
        line += "; without: " + ", ".join(vectors["without_vector"][:8])
    return line


def _listed(items: list[str], indent: str = "  ") -> list[str]:
    lines = [f"{indent}{item}" for item in items[:LISTED]]
    if len(items) > LISTED:
        lines.append(f"{indent}... and {len(items) - LISTED} more (all in the JSON)")
    return lines
