"""Fixtures of the train tests: one tiny trained run shared by the whole session."""

from pathlib import Path

import pytest

from tests.train.tiny import train_tiny


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch tiny run directory (config.yaml, last.pt, best.pt, metrics.json)."""
    return train_tiny(tmp_path_factory.mktemp("tiny") / "run")
