"""bench's tests.  The Triton mode is bench/conftest.py's (the interpreter on a machine without CUDA); the processes
the tests start run one thread each unless the caller says otherwise (as tests/conftest.py sets it)."""

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from tests.tiny_run import tiny_run_dir  # noqa: E402


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch tiny synthetic EAMAT run directory (the checkpoint bench.long_videos reads); the one of
    tests/conftest.py when the session runs both."""
    return tiny_run_dir(tmp_path_factory)
