"""Session fixtures of the export tests: tiny checkpoints and their portable ONNX exports (through the CLI)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.models import model_names
from export.cli import main
from tests.export.tiny import write_checkpoint

EXAMPLE = (2, 8, 4)  # tracing example (batch, clips, words); the checks run other shapes


@dataclass
class Exported:
    name: str
    checkpoint: Path
    onnx: Path
    log: str  # the CLI's stdout


@pytest.fixture(scope="session", params=model_names())
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """``python -m export --ckpt RUN`` (verification on, default output RUN/best.onnx) for each registered model."""
    run = tmp_path_factory.mktemp(request.param)
    checkpoint = write_checkpoint(run / "best.pt", request.param)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        code = main(["--ckpt", str(run), "--example", ",".join(map(str, EXAMPLE)), "--seed", "0"])
    assert code == 0, log.getvalue()
    return Exported(request.param, checkpoint, run / "best.onnx", log.getvalue())
