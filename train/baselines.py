"""Two trivial span predictors, the floor any trained model must clear on the same split.

* ``random``: a seeded uniformly random span -- two independent U(0, 1) draws, sorted, times the duration.
* ``most_frequent``: the most frequent (start, end) of the training set, normalized by the duration and
  quantized to ``bin_width`` of it (bin centres), applied to every test video.
"""

from __future__ import annotations

import numpy as np

from engine.metrics import evaluate

BIN_WIDTH = 0.1


def random_spans(durations: np.ndarray, seed: int) -> np.ndarray:
    """(n,) seconds -> (n, 2) uniformly random spans inside [0, duration]."""
    draws = np.sort(np.random.default_rng(seed).uniform(size=(len(durations), 2)), axis=1)
    return draws * np.asarray(durations, dtype=np.float64)[:, None]


def most_frequent_span(gt_seconds: np.ndarray, durations: np.ndarray, bin_width: float = BIN_WIDTH) -> np.ndarray:
    """The modal normalized (start, end) of a split, as bin centres in [0, 1] (ties: the earliest span)."""
    frac = np.clip(np.asarray(gt_seconds, dtype=np.float64) / np.asarray(durations, dtype=np.float64)[:, None], 0, 1)
    num_bins = int(round(1.0 / bin_width))
    bins = np.minimum((frac / bin_width).astype(np.int64), num_bins - 1)  # 1.0 falls into the last bin
    pairs, counts = np.unique(bins, axis=0, return_counts=True)
    return (pairs[np.argmax(counts)] + 0.5) * bin_width


def baseline_metrics(
    train_gt: np.ndarray, train_durations: np.ndarray, gt: np.ndarray, durations: np.ndarray, seed: int
) -> dict[str, dict[str, float]]:
    """R1@{0.3,0.5,0.7} and mIoU of both baselines on (gt, durations); the mode comes from the training split."""
    durations = np.asarray(durations, dtype=np.float64)
    mode = most_frequent_span(train_gt, train_durations)
    return {
        "random": evaluate(random_spans(durations, seed), gt, durations),
        "most_frequent": evaluate(mode[None, :] * durations[:, None], gt, durations),
    }
