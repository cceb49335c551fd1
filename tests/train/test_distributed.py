"""``torchrun --nproc_per_node 2 -m train`` on CPU (gloo): rank 0 writes the run, metrics cover the whole split;
a torchrun worker leaves without interpreter shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.checkpoint import BEST, LAST, read_checkpoint
from engine.config import Config
from tests.markers import TEXT
from tests.train.tiny import tiny_args
from train.loop import Trainer

REPO = Path(__file__).resolve().parents[2]
NUM_PROCESSES = 2
TIMEOUT_S = 240
EXIT_CODE = 3
# prints, registers an atexit handler, then ends through exit_process
EXIT_SCRIPT = f"""
import atexit
from train.distributed import exit_process
atexit.register(print, "interpreter shutdown ran")
print("output flushed", end="")
exit_process({EXIT_CODE})
"""


@pytest.mark.parametrize("world_size, shutdown_runs", [("1", True), ("2", False)])
def test_exit_process_skips_interpreter_shutdown_only_in_a_torchrun_worker(world_size: str, shutdown_runs: bool):
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORLD_SIZE": world_size}
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == EXIT_CODE, done.stderr
    assert done.stdout.startswith("output flushed")
    assert ("interpreter shutdown ran" in done.stdout) == shutdown_runs


@TEXT
def test_two_process_gloo_run_matches_a_single_process_evaluation(tmp_path: Path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={NUM_PROCESSES}",
               "-m", "train", *tiny_args(run)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("test split") == 1, "only rank 0 prints the results"
    assert "x2" in done.stdout  # the run announced both processes
    for name in (LAST, BEST, "metrics.json", "config.yaml"):
        assert (run / name).is_file(), name
    assert len(read_checkpoint(run / LAST)["rng"]) == NUM_PROCESSES

    metrics = json.loads((run / "metrics.json").read_text())
    best = read_checkpoint(run / BEST)
    single = Trainer(Config.from_dict(best["config"]), checkpoint=best).evaluate("test")
    assert metrics["test"]["num_samples"] == len(single.durations) == 16
    for key, value in single.metrics.items():
        assert abs(metrics["test"][key] - value) < 1e-9, key
