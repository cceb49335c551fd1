"""The memory bandwidth behind the MS-LSTM per-step floor.

``floor_us`` of an MS-LSTM throughput record is (bytes of recurrent state moved per sequential step) /
bandwidth.  The bandwidth is the **nominal** HBM bandwidth of the device when it is in
:data:`gpu_run.machine.NOMINAL_BANDWIDTH`, otherwise the **measured** device-to-device copy of
:func:`gpu_run.machine.copy_bandwidth`.  ``floor_basis`` of every record names the bandwidth used and its source;
``python -m gpu_run.check`` records both figures once per run.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from gpu_run.machine import copy_bandwidth, device_name, nominal_bandwidth

if TYPE_CHECKING:
    import torch


@functools.cache
def floor_bandwidth(device: torch.device) -> tuple[float, str]:
    """(bytes/s, description) used for floors on ``device``: nominal when known, else the measured copy."""
    nominal = nominal_bandwidth(device_name(device)) if device.type == "cuda" else None
    if nominal:
        value, label = nominal
        return value, f"{value / 1e9:.0f} GB/s ({label})"
    value = copy_bandwidth(device)
    return value, f"{value / 1e9:.1f} GB/s (measured device-to-device copy)"
