"""Seconds of video per clip of a dataset's features (``data.clip_seconds``) and their recipe (``data.feature_recipe``).

Both travel in every checkpoint (the config is stored there), so that ``predict`` turns clips into seconds
without ``--duration`` and can refuse features of another recipe.  Training fills them, in this order:

1. a value set in the config (a preset knows its release's rate, or ``--set data.clip_seconds=...``) stays;
2. else ``extraction.json`` next to the features (written by ``python -m train extract``; format
   ``grounding-engine/features/1``: ``recipe``, ``clip_seconds``, ...) gives them; a set value that
   disagrees with the file is refused, naming both;
3. else the clip rate is measured: the median over the dataset's videos of duration / clips of the
   feature file (the releases without metadata: 2D-TAN's HDF5 files, the DETR family's npz).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import DataConfig
from engine.data.annotations import Moment
from engine.data.feature_store import FeatureStore

EXTRACTION_FILE = "extraction.json"
EXTRACTION_FORMAT = "grounding-engine/features/1"
RATE_TOLERANCE = 1e-3  # relative: a set clip_seconds this close to the file's agrees with it


def read_extraction(folder: Path | None) -> dict[str, Any] | None:
    """The checked contents of ``folder/extraction.json``, None when there is none; a bad file raises
    ValueError naming the file and the field."""
    path = None if folder is None else folder / EXTRACTION_FILE
    if path is None or not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable feature metadata ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != EXTRACTION_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path}: 'format' must be {EXTRACTION_FORMAT!r}, got {found!r}")
    seconds, recipe = meta.get("clip_seconds"), meta.get("recipe")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{path}: 'clip_seconds' must be a positive number of seconds, got {seconds!r}")
    if not isinstance(recipe, str):
        raise ValueError(f"{path}: 'recipe' must be a string, got {recipe!r}")
    return meta


def measured_clip_seconds(store: FeatureStore, moments: Iterable[Moment]) -> float:
    """Median over the videos of duration / clip count of their feature file (0.0 when there is none)."""
    durations = {m.video_id: m.duration for m in moments}
    rates = [d / store.num_clips(v) for v, d in durations.items() if store.locate(v) is not None]
    return float(np.median(rates)) if rates else 0.0


def fill_clip_rate(config: DataConfig, store: FeatureStore, moments: Iterable[Moment]) -> str:
    """Fill ``config.clip_seconds`` / ``feature_recipe`` (module docstring, in place); returns where the clip
    rate came from ("config", "extraction.json" or "measured")."""
    meta = read_extraction(store.metadata_folder())
    if meta is not None:
        where = store.metadata_folder() / EXTRACTION_FILE
        seconds = float(meta["clip_seconds"])
        if config.clip_seconds and abs(config.clip_seconds - seconds) > RATE_TOLERANCE * seconds:
            raise ValueError(f"data.clip_seconds={config.clip_seconds:g} disagrees with {where} "
                             f"(clip_seconds {seconds:g}); drop the setting or use other features")
        if config.feature_recipe and meta["recipe"] and config.feature_recipe != meta["recipe"]:
            raise ValueError(f"data.feature_recipe={config.feature_recipe!r} disagrees with {where} "
                             f"(recipe {meta['recipe']!r}); drop the setting or use other features")
        source = "config" if config.clip_seconds else "extraction.json"
        config.clip_seconds = config.clip_seconds or seconds
        config.feature_recipe = config.feature_recipe or meta["recipe"]
        return source
    if config.clip_seconds:
        return "config"
    config.clip_seconds = measured_clip_seconds(store, moments)
    return "measured"
