"""``--resume`` after a stop ends exactly like the uninterrupted run (weights and metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.checkpoint import BEST, LAST, read_checkpoint
from tests.train.tiny import tiny_args
from train.cli import main


def test_resume_after_one_epoch_equals_the_uninterrupted_run(tiny_run: Path, tmp_path: Path):
    run = tmp_path / "resumed"
    assert main(tiny_args(run, "--stop-after-epoch", "1")) == 0
    assert read_checkpoint(run / LAST)["epoch"] == 1 and not (run / "metrics.json").exists()
    assert main(["--resume", str(run), "--no-progress"]) == 0

    for name in (LAST, BEST):
        resumed, uninterrupted = read_checkpoint(run / name), read_checkpoint(tiny_run / name)
        assert resumed["epoch"] == uninterrupted["epoch"]
        for key, value in uninterrupted["model"].items():
            assert torch.equal(resumed["model"][key], value), f"{name}: {key} differs"
    resumed_metrics = json.loads((run / "metrics.json").read_text())
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("test", "val", "best_epoch", "baselines"):
        assert resumed_metrics[key] == metrics[key], key
    losses = [[epoch["loss_total"] for epoch in m["history"]] for m in (resumed_metrics, metrics)]
    assert losses[0] == losses[1]


def test_a_finished_run_directory_is_not_overwritten_by_accident(tiny_run: Path, capsys):
    assert main(tiny_args(tiny_run)) == 2
    assert "--resume" in capsys.readouterr().err
