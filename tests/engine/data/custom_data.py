"""A small dataset in the custom on-disk format (``data.dataset=custom``), written from the synthetic generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.data.synthetic import generate

SIZES = {"train": 24, "val": 8, "test": 8}
SEED = 7


def write_custom(root: Path, sizes: dict[str, int] | None = None) -> tuple[Path, Path]:
    """``root/annotations/{train,val,test}.jsonl`` and ``root/features/<video>.npy``; returns both folders."""
    data = generate(sizes or SIZES, SEED)
    annotations, features = root / "annotations", root / "features"
    annotations.mkdir(parents=True, exist_ok=True)
    features.mkdir(parents=True, exist_ok=True)
    for split, moments in data.moments.items():
        lines = [json.dumps({"video": m.video_id, "query": m.sentence, "start": m.start, "end": m.end,
                             "duration": m.duration}) for m in moments]
        (annotations / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for video_id, array in data.features.items():
        np.save(features / f"{video_id}.npy", array.astype(np.float32))
    return annotations, features


def data_overrides(annotations: Path, features: Path) -> list[str]:
    """``--set`` arguments that select the custom dataset."""
    sets = ["data.dataset=custom", f"data.annotations={annotations}", f"data.features={features}"]
    return [arg for item in sets for arg in ("--set", item)]
