"""The training curve: ``<run dir>/training_curve.png``, rewritten after every epoch by :meth:`train.loop.Trainer.fit`.

Two panels over the epochs: the training losses (total and each term) and the validation metrics
(R1@0.3 / 0.5 / 0.7, mIoU).  matplotlib is imported only here, when the picture is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.plots import new_figure, save_figure

CURVE_FILE = "training_curve.png"
CURVE_SIZE = (11.0, 4.0)  # inches
VAL_METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")


def plot_training_curve(history: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Losses and validation metrics per epoch of ``history`` (``Trainer.history`` records) as a PNG."""
    if not history:
        raise ValueError("plot_training_curve: no epochs in the history")
    figure = new_figure(CURVE_SIZE)
    losses, metrics = figure.subplots(1, 2)
    epochs = [record["epoch"] for record in history]
    names = [key for key in history[0] if key.startswith("loss_")]
    positive = True
    for name in sorted(names, key=lambda n: n != "loss_total"):  # total first, drawn thicker
        values = [record.get(name, float("nan")) for record in history]
        positive = positive and all(v > 0 for v in values if v == v)
        width = 2.2 if name == "loss_total" else 1.2
        losses.plot(epochs, values, "o-", markersize=3, linewidth=width, label=name.removeprefix("loss_"))
    losses.set_title("training loss (mean per epoch)", fontsize=10)
    if positive:
        losses.set_yscale("log")
    for name in VAL_METRICS:
        values = [record.get("val", {}).get(name, float("nan")) for record in history]
        metrics.plot(epochs, values, "o-", markersize=3, label=name)
    metrics.set_title("validation (%)", fontsize=10)
    metrics.set_ylim(0, 100)
    for ax in (losses, metrics):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.25)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)
