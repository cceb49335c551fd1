"""The machine a run is on: the facts recorded with every result, and its memory bandwidth.

:func:`environment` is what every record of a run carries (device, versions, commit).  The bandwidth is the
**nominal** HBM figure of the device from :data:`NOMINAL_BANDWIDTH` (vendor datasheet figures, matched on the
device name) and the **measured** device-to-device copy of :func:`copy_bandwidth` (``2 * bytes / median time``
of a 256 MiB ``copy_`` on CUDA, 64 MiB on CPU: one read and one write per byte); ``python -m gpu_run.check``
records both once per run.

Importable without torch (a report is rebuilt from a journal on any machine).
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ABSENT = "absent"
REPO_ROOT = Path(__file__).resolve().parents[1]

# (substring of torch.cuda.get_device_name, in lower case; label; bytes/s) -- first match wins, so the more
# specific names come first.  NVIDIA datasheets: H100 SXM5 80 GB HBM3 3.35 TB/s, H100 PCIe 80 GB HBM2e
# 2.0 TB/s, H100 NVL 94 GB HBM3 3.9 TB/s, H200 SXM / NVL 141 GB HBM3e 4.8 TB/s.
NOMINAL_BANDWIDTH: tuple[tuple[str, str, float], ...] = (
    ("h200", "NVIDIA H200 (SXM / NVL) HBM3e, nominal", 4.8e12),
    ("h100 nvl", "NVIDIA H100 NVL HBM3, nominal", 3.9e12),
    ("h100 pcie", "NVIDIA H100 PCIe HBM2e, nominal", 2.0e12),
    ("h100", "NVIDIA H100 SXM5 HBM3, nominal", 3.35e12),
)
COPY_BYTES = {"cuda": 256 * 2**20, "cpu": 64 * 2**20}
COPY_REPEATS = 7


def package_version(module: str) -> str:
    """``module.__version__``, or "absent" when it cannot be imported."""
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # noqa: BLE001 -- a broken install counts as absent, whatever it raises
        return ABSENT


def git_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD commit of the checkout, "+dirty" when the tree has changes, "unknown" outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_name(device: torch.device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def slug(text: str) -> str:
    """A file-system friendly form of a device name ("NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3")."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) or "device"


def environment(device: torch.device) -> dict[str, Any]:
    """The facts recorded with every result of a run."""
    import torch

    return {
        "device": device_name(device),
        "device_type": device.type,
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "triton": package_version("triton"),
        "onnxruntime": package_version("onnxruntime"),
        "tensorrt": package_version("tensorrt"),
        "cuda": torch.version.cuda or ABSENT,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "triton_interpret": os.environ.get("TRITON_INTERPRET", "0") == "1",
        "tf32": device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def nominal_bandwidth(name: str) -> tuple[float, str] | None:
    """(bytes/s, label) of the device called ``name`` from the table, or None when it is not in it."""
    name = name.lower()
    for key, label, value in NOMINAL_BANDWIDTH:
        if key in name:
            return value, label
    return None


@functools.cache
def copy_bandwidth(device: torch.device) -> float:
    """Measured bytes/s of a large tensor copy on ``device`` (read + write counted), median of a few copies."""
    import torch

    n = COPY_BYTES["cuda" if device.type == "cuda" else "cpu"] // 4
    src = torch.ones(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up: allocation, first touch
    times = []
    for _ in range(COPY_REPEATS):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            dst.copy_(src)
            times.append(time.perf_counter() - t0)
    return 2 * src.numel() * src.element_size() / statistics.median(times)
