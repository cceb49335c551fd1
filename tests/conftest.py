"""Test session set-up: the device the kernel tests run on, and Triton's mode, before any kernel is defined.

``python -m pytest`` runs on the CPU: the Triton kernels go through the interpreter (``TRITON_INTERPRET=1``)
at small shapes.  ``python -m pytest --device cuda`` compiles the real kernels: the kernel, op, model and
fused-export tests then run on the GPU and add bf16 and the benchmark shapes (tests marked ``cuda_only``).
"""

import os
from pathlib import Path

# tiny test shapes gain nothing from intra-op threads, and the subprocess tests (DDP, command lines) would
# oversubscribe a small CI machine: one thread per process unless the caller says otherwise (set before torch
# is imported, which reads it once)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.markers import missing  # noqa: E402
from tests.tiny_run import tiny_run_dir  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu",
                     help="device of the kernel / op / model tests: cpu (Triton interpreter, default) or cuda[:N]")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda_only: needs --device cuda (real kernels, bf16, benchmark shapes)")
    config.addinivalue_line("markers", "requires(*modules): needs these optional packages (skipped without them)")
    device = torch.device(config.getoption("--device"))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise pytest.UsageError(f"--device {device} but torch sees no CUDA device")
        os.environ["TRITON_INTERPRET"] = "0"  # set before collection imports (and defines) any kernel
    elif device.type == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    else:
        raise pytest.UsageError(f"--device must be cpu or cuda[:N], got {device}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_cuda = torch.device(config.getoption("--device")).type == "cuda"
    for item in items:
        if "cuda_only" in item.keywords and not on_cuda:
            item.add_marker(pytest.mark.skip(reason="CUDA only: run with --device cuda"))
        for marker in item.iter_markers("requires"):
            reasons = missing(*marker.args)
            if reasons:
                item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))



@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    """The device the kernel tests run on (``--device``)."""
    return torch.device(pytestconfig.getoption("--device"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch tiny synthetic EAMAT run directory (config.yaml, last.pt, best.pt, metrics.json)."""
    return tiny_run_dir(tmp_path_factory)
