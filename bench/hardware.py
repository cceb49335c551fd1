"""Memory bandwidth for the MS-LSTM per-step floor: the GPU's nominal HBM figure, and a measured copy.

``floor_us`` of an MS-LSTM throughput record is (bytes of recurrent state moved per sequential step) /
bandwidth.  The bandwidth is the **nominal** HBM bandwidth of the device from :data:`NOMINAL_BANDWIDTH`
(vendor datasheet figures, matched on the device name) when the device is in the table, otherwise the
**measured** device-to-device copy bandwidth of :func:`copy_bandwidth` (``2 * bytes / median time`` of a
256 MiB ``copy_`` on CUDA, 64 MiB on CPU: one read and one write per byte).  ``floor_basis`` of every record
names the bandwidth used and its source; ``python -m bench.gpu check`` records both figures once per run.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

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


def nominal_bandwidth(device_name: str) -> tuple[float, str] | None:
    """(bytes/s, label) of the device's HBM from the table, or None when the name is not in it."""
    name = device_name.lower()
    for key, label, value in NOMINAL_BANDWIDTH:
        if key in name:
            return value, label
    return None


@functools.cache
def copy_bandwidth(device: torch.device) -> float:
    """Measured bytes/s of a large tensor copy on ``device`` (read + write counted), median of a few copies."""
    import torch

    from bench.timing import synchronize

    n = COPY_BYTES["cuda" if device.type == "cuda" else "cpu"] // 4
    src = torch.ones(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up: allocation, first touch
    times = []
    for _ in range(COPY_REPEATS):
        synchronize(device)
        if device.type == "cuda":
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


@functools.cache
def floor_bandwidth(device: torch.device) -> tuple[float, str]:
    """(bytes/s, description) used for floors on ``device``: nominal when known, else the measured copy."""
    from bench.records import device_name

    nominal = nominal_bandwidth(device_name(device)) if device.type == "cuda" else None
    if nominal:
        value, label = nominal
        return value, f"{value / 1e9:.0f} GB/s ({label})"
    value = copy_bandwidth(device)
    return value, f"{value / 1e9:.1f} GB/s (measured device-to-device copy)"
