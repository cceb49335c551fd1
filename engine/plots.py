"""Pictures: a prediction over time (``python -m train predict --plot``) and the figure helpers the training
curve shares.  matplotlib is imported only when a picture is drawn (``import engine`` works without it);
files are written atomically (:func:`engine.atomic.atomic_output`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_output
from engine.inference import Prediction
from engine.models import MODELS

DPI = 120
PREDICTION_SIZE = (10.0, 4.2)  # inches
ZOOMED_SIZE = (10.0, 7.0)  # with the zoom panel
ZOOM_BELOW = 0.08  # zoom in when the best span is shorter than this fraction of the video
ZOOM_PAD = 3.0  # the zoom shows this many span lengths on each side (at least ZOOM_BELOW / 2 of the video)
SPAN_ALPHA = (0.30, 0.18, 0.12, 0.09, 0.07)  # shading of the top spans by rank (later ranks: the last value)
SPANS_SHOWN = 5
THUMBNAILS = 5  # frames on the thumbnail strip: evenly spread, one of them at the best span
THUMB_STRIP = 1.6  # inches the thumbnail strip adds to the figure
THUMB_ZOOM = 0.9  # thumbnail pixels -> points
COLORS = {"start": "#1f77b4", "end": "#d62728", "inner": "#2ca02c", "span": "#ff7f0e"}
OWN_CURVE_COLORS = ("#9467bd", "#8c564b", "#e377c2")  # a model's own curves (its spec's), dashed, in this order
BASE_LABELS = {"start": "P(start)", "end": "P(end)", "inner": "P(inside)"}


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def new_figure(size: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` (no pyplot, no global state, Agg rendering), or :class:`PlotUnavailable`."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise PlotUnavailable("drawing a picture needs matplotlib: pip install matplotlib") from err
    return Figure(figsize=size, layout="constrained")


def save_figure(figure: Any, path: str | Path) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically; return ``path``."""
    path = Path(path)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


def plot_prediction(
    prediction: Prediction, path: str | Path, query: str, truth: tuple[float, float] | None = None,
    thumbnails: Sequence[tuple[float, np.ndarray]] | None = None,
) -> Path:
    """Start / end / inner probabilities (and the model's own curves, e.g. EAMAT's Pe) over the video's seconds,
    the top spans shaded with their rank and score, the model's choice (e.g. DP's pathway) in the title;
    ``truth`` (seconds) draws a reference span;
    ``thumbnails`` ``[(seconds, (h, w, 3) uint8 RGB), ...]`` (e.g. :func:`thumbnail_times` decoded by
    :func:`video.decode.thumbnails`) are drawn on a strip above the timeline, at their times.

    When the best span is short next to the video (under ``ZOOM_BELOW`` of it, e.g. a moment in a long
    video), a second panel zooms in around it."""
    zoom = zoom_range(prediction)
    width, height = PREDICTION_SIZE if zoom is None else ZOOMED_SIZE
    ratios = ([THUMB_STRIP] if thumbnails else []) + [height / (1 if zoom is None else 2)] * (1 + (zoom is not None))
    figure = new_figure((width, height + (THUMB_STRIP if thumbnails else 0.0)))
    axes = list(figure.subplots(len(ratios), 1, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0])
    if thumbnails:
        _draw_thumbnails(axes.pop(0), thumbnails, prediction.duration)
    for i, (ax, limits) in enumerate(zip(axes, [(0.0, prediction.duration), zoom], strict=False)):
        _draw(ax, prediction, limits, truth, scores=zoom is None or i == 1)  # scores where they are legible
    axes[0].legend(loc="upper left", fontsize=8, framealpha=0.85)
    if zoom is not None:
        for edge in zoom:
            axes[0].axvline(edge, color="#777777", linestyle=":", linewidth=1)
        axes[1].set_title(f"zoom: {zoom[0]:.1f}-{zoom[1]:.1f} s", fontsize=9, color="#555555")
    title = f"\u201c{query}\u201d"
    if prediction.choice is not None:
        title += f"  \u2014  {prediction.choice[0]}: {prediction.choice[1]}"
    axes[0].set_title(title, fontsize=11)
    detail = {"whole": "whole video", "resampled": f"resampled to {prediction.clips} clips",
              "windows": f"{prediction.windows} windows"}[prediction.mode]
    spans = ", ".join(f"{s:.1f}-{e:.1f} s" for s, e, _ in prediction.spans[:3])
    figure.suptitle(f"{prediction.duration:g} s, {detail}; top spans {spans}", fontsize=8, color="#555555",
                    x=0.99, ha="right")
    return save_figure(figure, path)


def thumbnail_times(prediction: Prediction, count: int = THUMBNAILS) -> list[float]:
    """Seconds to show on the thumbnail strip: ``count`` evenly spread over the video, the one nearest the best
    span's middle moved there."""
    times = [(i + 0.5) * prediction.duration / count for i in range(count)]
    if prediction.spans:
        start, end, _ = prediction.spans[0]
        middle = (start + end) / 2
        times[min(range(count), key=lambda i: abs(times[i] - middle))] = middle
    return sorted(times)


def _draw_thumbnails(ax: Any, thumbnails: Sequence[tuple[float, np.ndarray]], duration: float) -> None:
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    for time, image in thumbnails:
        ax.add_artist(AnnotationBbox(OffsetImage(image, zoom=THUMB_ZOOM), (time, 0.5), frameon=True, pad=0.1))
        ax.axvline(time, color="#777777", linewidth=0.8, linestyle=":")
    ax.set_xlim(0.0, duration)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([])
    ax.set_title("frames", fontsize=8, color="#555555", loc="left")


def zoom_range(prediction: Prediction) -> tuple[float, float] | None:
    """Seconds around the best span when it is shorter than ``ZOOM_BELOW`` of the video, else None."""
    if not prediction.spans:
        return None
    start, end, _ = prediction.spans[0]
    if end - start >= ZOOM_BELOW * prediction.duration:
        return None
    pad = max(ZOOM_PAD * (end - start), ZOOM_BELOW * prediction.duration / 2)
    return max(0.0, start - pad), min(prediction.duration, end + pad)


def _draw(
    ax: Any, prediction: Prediction, limits: tuple[float, float], truth: tuple[float, float] | None, scores: bool
) -> None:
    times = prediction.clip_centers
    own = {curve.name: curve.label for spec in MODELS.values() for curve in spec.curves}
    for name, values in prediction.curves.items():
        if name in BASE_LABELS:
            ax.plot(times, values, "-", color=COLORS[name], label=BASE_LABELS[name], linewidth=1.4)
    for color, name in zip(OWN_CURVE_COLORS, [n for n in prediction.curves if n not in BASE_LABELS], strict=False):
        ax.plot(times, prediction.curves[name], "--", color=color, label=own.get(name, name), linewidth=1.4)
    for rank, (start, end, score) in enumerate(prediction.spans[:SPANS_SHOWN], 1):
        ax.axvspan(start, end, color=COLORS["span"], alpha=SPAN_ALPHA[min(rank, len(SPAN_ALPHA)) - 1], linewidth=0)
        middle = (start + end) / 2
        if scores and limits[0] <= middle <= limits[1]:
            ax.text(middle, 1.02 - 0.055 * (rank - 1), f"#{rank} {score:.2g}", ha="center", va="top", fontsize=8,
                    color="#7f3f00", clip_on=True)
    if truth is not None:
        ax.plot(truth, [-0.03, -0.03], color="black", linewidth=4, solid_capstyle="butt", label="ground truth")
    ax.set_xlim(*limits)
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.grid(alpha=0.25)
