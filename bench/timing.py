"""Wall-clock measurement done right: warm-up, synchronisation, rotated inputs, interleaved variants.

``compare`` times several variants of one computation together:

* every variant is warmed up first (compilation, autotuning, allocator growth happen there);
* each timed *sample* runs ``calls`` consecutive calls (chosen so that a sample lasts at least
  ``min_sample_s``) and the per-call time is the sample time divided by ``calls``;
* the calls rotate through several pre-generated inputs so caches do not flatter a variant that
  sees the same tensors again and again;
* samples of the variants are interleaved (A B B A A B ...: the order flips every repeat) so slow
  drift of the machine -- clocks, other tenants -- hits every variant alike;
* on CUDA a sample starts on an idle device (``synchronize``) and is timed with CUDA events;
  on CPU with ``time.perf_counter``;
* the result is the median per-call time with its quartiles (IQR) over ``repeats`` samples.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TimingPlan:
    """How much to measure: warm-up calls, timed samples, and the shortest sample worth timing."""

    warmup: int = 3
    repeats: int = 20
    min_sample_s: float = 2e-3
    max_calls: int = 64


@dataclass(frozen=True)
class Timing:
    """Per-call seconds of one variant: median and quartiles over ``repeats`` samples of ``calls`` calls."""

    median_s: float
    q1_s: float
    q3_s: float
    repeats: int
    calls: int

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) of ``values`` (inclusive method, so a single value is its own quartiles)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


class _Clock:
    """Times one sample: CUDA events on a CUDA device, ``perf_counter`` elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time(self, run: Callable[[], None]) -> float:
        synchronize(self.device)
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        start_s = time.perf_counter()
        run()
        return time.perf_counter() - start_s


class _Rotation:
    """Calls ``fn`` on the inputs in turn, never the same one twice in a row (when there are several)."""

    def __init__(self, fn: Callable[[Any], object], inputs: Sequence[Any]) -> None:
        self.fn, self.inputs, self.next = fn, inputs, 0

    def run(self, calls: int) -> None:
        for _ in range(calls):
            self.fn(self.inputs[self.next])
            self.next = (self.next + 1) % len(self.inputs)


def compare(
    variants: Mapping[str, Callable[[Any], object]],
    inputs: Sequence[Any],
    device: torch.device,
    plan: TimingPlan = TimingPlan(),
) -> dict[str, Timing]:
    """Time every variant on the same rotating ``inputs``, samples interleaved; returns per-call timings."""
    if not variants:
        raise ValueError("compare: no variants to time")
    if not inputs:
        raise ValueError("compare: need at least one input")
    clock = _Clock(device)
    rotations = {name: _Rotation(fn, inputs) for name, fn in variants.items()}
    calls = {}
    for name, rotation in rotations.items():
        rotation.run(plan.warmup)
        one_call_s = clock.time(lambda r=rotation: r.run(1))
        calls[name] = max(1, min(plan.max_calls, math.ceil(plan.min_sample_s / max(one_call_s, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for repeat in range(plan.repeats):
        for name in order if repeat % 2 == 0 else reversed(order):
            elapsed = clock.time(lambda n=name: rotations[n].run(calls[n]))
            samples[name].append(elapsed / calls[name])
    timings = {}
    for name, values in samples.items():
        q1, median, q3 = quartiles(values)
        timings[name] = Timing(median, q1, q3, plan.repeats, calls[name])
    return timings


def peak_memory_bytes(fn: Callable[[Any], object], inp: Any, device: torch.device) -> int | None:
    """Peak CUDA memory allocated while ``fn(inp)`` runs, above what was allocated before; None off CUDA."""
    if device.type != "cuda":
        return None
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn(inp)
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before
