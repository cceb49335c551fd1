"""R@1 at IoU thresholds and mIoU, in percent (docs/design.md §2.8)."""

from __future__ import annotations

import numpy as np

IOU_THRESHOLDS = (0.3, 0.5, 0.7)
METRIC_NAMES = (*(f"R1@{t}" for t in IOU_THRESHOLDS), "mIoU")  # the keys of evaluate(), in table order


def temporal_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(n, 2), (n, 2) seconds -> (n,) IoU of the intervals (0 when they do not overlap)."""
    inter = np.clip(np.minimum(pred[:, 1], gt[:, 1]) - np.maximum(pred[:, 0], gt[:, 0]), 0.0, None)
    union = np.maximum(pred[:, 1], gt[:, 1]) - np.minimum(pred[:, 0], gt[:, 0])
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def evaluate(pred_seconds, gt_seconds, durations, windows=None) -> dict[str, float]:
    """R1@{0.3,0.5,0.7} (IoU >= threshold counts) and mIoU, in percent.

    Both intervals are clipped to [0, duration] before the IoU.  ``windows`` (optional, one entry per
    sample): every ground-truth window of a sample that has several ((k, 2) seconds; empty = ``gt_seconds``
    alone); its IoU is then the best over its windows, so R@1 counts a hit on any window, as the DETR
    family's evaluation does, and mIoU averages that IoU.
    """
    pred = np.asarray(pred_seconds, dtype=np.float64).reshape(-1, 2)
    gt = np.asarray(gt_seconds, dtype=np.float64).reshape(-1, 2)
    dur = np.asarray(durations, dtype=np.float64).reshape(-1)
    if not (len(pred) == len(gt) == len(dur)) or len(pred) == 0:
        raise ValueError(
            f"evaluate: need equal, non-zero counts; got pred {len(pred)}, gt {len(gt)}, durations {len(dur)}"
        )
    if np.any(dur <= 0):
        raise ValueError("evaluate: durations must be positive")
    bound = dur[:, None]
    iou = temporal_iou(np.clip(pred, 0.0, bound), np.clip(gt, 0.0, bound))
    for i, sample_windows in enumerate(windows if windows is not None else []):
        if len(sample_windows):
            others = np.clip(np.asarray(sample_windows, dtype=np.float64).reshape(-1, 2), 0.0, dur[i])
            iou[i] = max(iou[i], temporal_iou(np.repeat(np.clip(pred[i:i + 1], 0.0, dur[i]), len(others), 0),
                                              others).max())
    out = {f"R1@{t}": float(100.0 * np.mean(iou >= t)) for t in IOU_THRESHOLDS}
    out["mIoU"] = float(100.0 * iou.mean())
    return out
