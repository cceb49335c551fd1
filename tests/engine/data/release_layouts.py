"""Tiny datasets written the way each public feature release lays its files out, all from one synthetic draw.

Every layout holds the same videos (the same clip features) and the same queries, so a reader that gets a
layout right reads back exactly :func:`reference`.  The rows of docs/data-guide.md:

========================  ==============================================================================
``i3d-lgi``               Charades-STA txt + charades.json; ``<id>.npy`` of shape (T, 1, 1, dv) (pytorch-i3d)
``tall-c3d-vslnet``       TACoS {split}.json (frames, fps); ``<id>.avi.npy`` (VSLNet's TALL C3D conversion)
``2dtan-tacos``           TACoS {split}.json; one HDF5 file, a dataset per ``<id>.avi``
``2dtan-charades``        Charades-STA txt + Charades_v1_{train,test}.csv (``length``); one HDF5, a dataset per id
``scdm-cmin``             Charades-STA txt + charades.json; one HDF5, a group per id with ``i3d_rgb_features``
``moment-detr``           DETR JSONL (``relevant_windows``, two windows for some test queries); two folders of
                          ``<id>.npz`` (``features``) joined: SlowFast-like and CLIP-like halves, one clip longer
========================  ==============================================================================
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.data.annotations import Moment
from engine.data.synthetic import generate

SIZES = {"train": 10, "val": 4, "test": 4}
SEED = 11
TACOS_FPS = 29.4
SPLIT_AT = 24  # the DETR layout splits the synthetic features' width here into its two joined sources
LAYOUTS = ("i3d-lgi", "tall-c3d-vslnet", "2dtan-tacos", "2dtan-charades", "scdm-cmin", "moment-detr")
H5_GROUP_KEY = "i3d_rgb_features"


@dataclass
class Reference:
    """What every layout holds: per split the moments, per video the (T, dv) features."""

    moments: dict[str, list[Moment]]
    features: dict[str, np.ndarray]


@dataclass
class Written:
    """A layout on disk: ``--set`` values that select it."""

    dataset: str
    annotations: Path
    features: str
    extra: tuple[str, ...] = ()

    def overrides(self) -> list[str]:
        sets = [f"data.dataset={self.dataset}", f"data.annotations={self.annotations}",
                f"data.features={self.features}", *self.extra]
        return [arg for item in sets for arg in ("--set", item)]


def reference() -> Reference:
    data = generate(SIZES, SEED)
    features = {v: a.astype(np.float32) for v, a in data.features.items()}
    return Reference({split: list(ms) for split, ms in data.moments.items()}, features)


def write_layout(name: str, root: Path, ref: Reference) -> Written:
    """Write layout ``name`` (module docstring) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return WRITERS[name](root, ref)


# ------------------------------------------------------------------------------------------- annotations
def _charades_txt(root: Path, ref: Reference) -> None:
    """charades_sta_train.txt (train + val moments: val is carved by video) and charades_sta_test.txt."""
    for split, parts in (("train", ("train", "val")), ("test", ("test",))):
        lines = [f"{m.video_id} {m.start} {m.end}##{m.sentence}" for p in parts for m in ref.moments[p]]
        (root / f"charades_sta_{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _durations(ref: Reference) -> dict[str, float]:
    return {m.video_id: m.duration for ms in ref.moments.values() for m in ms}


def _charades_json(root: Path, ref: Reference) -> None:
    entries = {v: {"subset": "training", "duration": d, "actions": []} for v, d in _durations(ref).items()}
    (root / "charades.json").write_text(json.dumps(entries), encoding="utf-8")


def _charades_csvs(root: Path, ref: Reference) -> None:
    """2D-TAN's Charades_v1 CSVs: the real column set, quoted free text with commas, ``length`` in seconds."""
    columns = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions",
               "actions", "length"]
    durations = _durations(ref)
    for split, parts in (("train", ("train", "val")), ("test", ("test",))):
        videos = dict.fromkeys(m.video_id for p in parts for m in ref.moments[p])
        with open(root / f"Charades_v1_{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            for v in videos:
                writer.writerow({"id": v, "subject": "HR43", "scene": "Kitchen", "quality": 6, "relevance": 7,
                                 "verified": "Yes", "script": "A person opens a door, then sits.",
                                 "objects": "door;chair", "descriptions": "A person, sitting.", "actions": "c001 0 5",
                                 "length": durations[v]})


def _tacos_json(root: Path, ref: Reference) -> None:
    """TACoS {split}.json keyed ``<id>.avi``: timestamps in frames at 29.4 fps, as 2D-TAN / VSLNet ship them."""
    for split, moments in ref.moments.items():
        entries: dict[str, dict] = {}
        for m in moments:
            frames = round(m.duration * TACOS_FPS)
            entry = entries.setdefault(f"{m.video_id}.avi", {"fps": TACOS_FPS, "num_frames": frames,
                                                             "timestamps": [], "sentences": []})
            entry["timestamps"].append([round(m.start * TACOS_FPS), round(m.end * TACOS_FPS)])
            entry["sentences"].append(m.sentence)
        (root / f"{split}.json").write_text(json.dumps(entries), encoding="utf-8")


def multi_window(m: Moment) -> list[list[float]]:
    """The test queries' windows in the DETR layout: the moment, and for every other query a second window."""
    second = [round(m.duration * 0.8, 2), round(m.duration, 2)]
    return [[m.start, m.end], second] if int(m.video_id[-1]) % 2 == 0 and second[0] > m.end else [[m.start, m.end]]


def _detr_jsonl(root: Path, ref: Reference) -> None:
    for split, moments in ref.moments.items():
        lines = [json.dumps({"qid": i, "query": m.sentence, "duration": m.duration, "vid": m.video_id,
                             "relevant_windows": multi_window(m) if split == "test" else [[m.start, m.end]],
                             "relevant_clip_ids": [0], "saliency_scores": [[1, 2, 3]]})
                 for i, m in enumerate(moments)]
        (root / f"charades_{split}_release.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------- features
def _folder(root: Path, ref: Reference, suffix: str, shape=lambda a: a) -> Path:
    folder = root / "features"
    folder.mkdir(exist_ok=True)
    for video_id, array in ref.features.items():
        np.save(folder / f"{video_id}{suffix}", shape(array))
    return folder


def _hdf5(path: Path, ref: Reference, key_suffix: str = "", group_key: str = "") -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        for video_id, array in ref.features.items():
            if group_key:
                f.create_group(video_id + key_suffix).create_dataset(group_key, data=array)
            else:
                f.create_dataset(video_id + key_suffix, data=array)
    return path


def _i3d_lgi(root: Path, ref: Reference) -> Written:
    _charades_txt(root, ref)
    _charades_json(root, ref)
    folder = _folder(root, ref, ".npy", lambda a: a[:, None, None, :])
    return Written("charades", root, str(folder), ("data.val_fraction=0",))


def _tall_c3d_vslnet(root: Path, ref: Reference) -> Written:
    _tacos_json(root, ref)
    return Written("tacos", root, str(_folder(root, ref, ".avi.npy")))


def _2dtan_tacos(root: Path, ref: Reference) -> Written:
    _tacos_json(root, ref)
    return Written("tacos", root, str(_hdf5(root / "tall_c3d_features.hdf5", ref, key_suffix=".avi")))


def _2dtan_charades(root: Path, ref: Reference) -> Written:
    _charades_txt(root, ref)
    _charades_csvs(root, ref)
    return Written("charades", root, str(_hdf5(root / "vgg_rgb_features.hdf5", ref)), ("data.val_fraction=0.2",))


def _scdm_cmin(root: Path, ref: Reference) -> Written:
    _charades_txt(root, ref)
    _charades_json(root, ref)
    features = _hdf5(root / "charades_i3d_rgb.hdf5", ref, group_key=H5_GROUP_KEY)
    return Written("charades", root, str(features), ("data.val_fraction=0.2", f"data.feature_key={H5_GROUP_KEY}"))


def _moment_detr(root: Path, ref: Reference) -> Written:
    _detr_jsonl(root, ref)
    slowfast, clip = root / "slowfast_features", root / "clip_features"
    slowfast.mkdir(exist_ok=True)
    clip.mkdir(exist_ok=True)
    for video_id, array in ref.features.items():
        np.savez(slowfast / f"{video_id}.npz", features=array[:, :SPLIT_AT])
        longer = np.concatenate([array[:, SPLIT_AT:], array[-1:, SPLIT_AT:]])  # one clip more: truncated away
        np.savez(clip / f"{video_id}.npz", features=longer)
    return Written("detr", root, f"{slowfast},{clip}")


WRITERS = {"i3d-lgi": _i3d_lgi, "tall-c3d-vslnet": _tall_c3d_vslnet, "2dtan-tacos": _2dtan_tacos,
           "2dtan-charades": _2dtan_charades, "scdm-cmin": _scdm_cmin, "moment-detr": _moment_detr}
