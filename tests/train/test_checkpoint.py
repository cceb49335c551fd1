"""Checkpoint files: atomic writes, strict loading with a clear error, resume state, --eval-only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.checkpoint import (
    BEST,
    LAST,
    CheckpointMismatch,
    load_model_state,
    model_from_checkpoint,
    read_checkpoint,
    read_training_state,
)
from engine.checkpoint import save_checkpoint as atomic_save
from engine.config import Config
from engine.models import build_model
from train.cli import main

USAGE_ERROR = 2


class ExplodingPickle:
    """Serializing this raises, after torch.save has already written part of the file."""

    def __reduce__(self):
        raise RuntimeError("serialization failed mid-way")


def test_atomic_save_failure_keeps_the_old_file_and_leaves_no_partial_file(tmp_path: Path):
    path = tmp_path / "last.pt"
    atomic_save({"weights": torch.arange(4.0)}, path)
    before = path.read_bytes()
    big = torch.randn(1000, 1000)  # written before the exploding object, so the file is partly written
    with pytest.raises(RuntimeError, match="mid-way"):
        atomic_save({"big": big, "bad": ExplodingPickle()}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    with pytest.raises(RuntimeError):
        atomic_save({"bad": ExplodingPickle()}, tmp_path / "new.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_run_directory_holds_the_documented_files(tiny_run: Path):
    for name in ("config.yaml", "config.json", LAST, BEST, "metrics.json"):
        assert (tiny_run / name).is_file(), name
    last = read_training_state(tiny_run / LAST)
    assert last["epoch"] == 2 and {"python", "numpy", "torch"} <= set(last["rng"][0])
    assert last["vocab"]["itos"][:2] == ["<pad>", "<unk>"]
    assert last["vocab"]["vectors"].shape[0] == len(last["vocab"]["itos"])
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["best_epoch"] == read_checkpoint(tiny_run / BEST)["epoch"]
    assert set(metrics["baselines"]) == {"random", "most_frequent"}
    with pytest.raises(ValueError, match="weights only"):
        read_training_state(tiny_run / BEST)


def test_checkpoint_of_another_model_is_a_clear_error(tiny_run: Path):
    ckpt = read_checkpoint(tiny_run / BEST)
    dp = Config.from_dict(ckpt["config"])
    dp.model.name = "dp"
    with pytest.raises(CheckpointMismatch, match="holds a 'eamat' model"):
        model_from_checkpoint(ckpt, dp)
    with pytest.raises(CheckpointMismatch, match=r"missing \(\d+\): .*unexpected \(\d+\): "):
        load_model_state(build_model(dp), ckpt["model"], "best.pt")


def test_checkpoint_with_other_shapes_names_the_keys_and_loads_nothing(tiny_run: Path):
    ckpt = read_checkpoint(tiny_run / BEST)
    wider = Config.from_dict(ckpt["config"])
    wider.model.dim = 48
    model = build_model(wider)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reshaped = sorted(k for k, v in before.items() if v.shape != ckpt["model"][k].shape)
    first = f"{reshaped[0]} {tuple(ckpt['model'][reshaped[0]].shape)} vs model {tuple(before[reshaped[0]].shape)}"
    with pytest.raises(CheckpointMismatch) as error:
        load_model_state(model, ckpt["model"], "best.pt")
    assert f"shape mismatch ({len(reshaped)}): {first}" in str(error.value)
    assert "missing" not in str(error.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_eval_only_reproduces_the_test_metrics_and_rejects_a_mismatched_config(tiny_run: Path, capsys):
    assert main(["--eval-only", str(tiny_run), "--no-progress"]) == 0
    evaluated = json.loads((tiny_run / "eval_metrics.json").read_text())
    trained = json.loads((tiny_run / "metrics.json").read_text())
    assert evaluated["test"] == trained["test"]
    assert evaluated["epoch"] == trained["best_epoch"]
    capsys.readouterr()
    assert main(["--eval-only", str(tiny_run / BEST), "--set", "model.dim=48"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert "shape mismatch" in err and "Traceback" not in err
