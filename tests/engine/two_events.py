"""A small custom dataset (``data.dataset=custom``) where presence can be learned in seconds: every video holds
two events, "a person opens the door" and "someone closes the box", each a few clips carrying its own code,
and each event is a moment of its own query.  A window without one query's event still holds the other
event, so presence must read the query."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VIDEO_DIM = 64
CLIPS = 16  # one second per clip
EVENT_CLIPS = 4
QUERIES = ("a person opens the door", "someone closes the box")
SIZES = {"train": 64, "val": 8, "test": 16}  # videos; two moments each
EVENT_AMP, NOISE_STD = 2.0, 0.3


def codes(seed: int = 0) -> np.ndarray:
    """(len(QUERIES), VIDEO_DIM) orthonormal event codes."""
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(VIDEO_DIM, len(QUERIES))))[0].T


def write_two_events(root: Path, seed: int = 0) -> tuple[Path, Path, dict[str, list[tuple[str, str, int, int]]]]:
    """Write the dataset under ``root``; -> (annotations folder, features folder, per split the moments as
    (video_id, query, first clip, last clip))."""
    rng = np.random.default_rng(seed)
    annotations, features = root / "annotations", root / "features"
    annotations.mkdir(parents=True, exist_ok=True)
    features.mkdir(parents=True, exist_ok=True)
    event_codes, moments = codes(seed), {}
    for split, videos in SIZES.items():
        lines, moments[split] = [], []
        for i in range(videos):
            video_id = f"{split}-{i:03d}"
            video = rng.normal(0.0, NOISE_STD, (CLIPS, VIDEO_DIM))
            first_a = int(rng.integers(0, CLIPS - 2 * EVENT_CLIPS + 1))
            first_b = int(rng.integers(first_a + EVENT_CLIPS, CLIPS - EVENT_CLIPS + 1))
            firsts = (first_a, first_b) if rng.random() < 0.5 else (first_b, first_a)
            for code, query, first in zip(event_codes, QUERIES, firsts, strict=True):
                video[first:first + EVENT_CLIPS] += EVENT_AMP * code
                last = first + EVENT_CLIPS - 1
                lines.append(json.dumps({"video": video_id, "query": query, "start": first + 0.25,
                                         "end": last + 0.75, "duration": float(CLIPS)}))
                moments[split].append((video_id, query, first, last))
            np.save(features / f"{video_id}.npy", video.astype(np.float32))
        (annotations / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return annotations, features, moments
