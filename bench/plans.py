"""The one place that says which benchmark cases run: named plans made of parts, and :func:`cases`.

A **plan** is a named list of **parts**; a part is one suite (:mod:`bench.suites`) with a selection of its
cases (keyword arguments of the suite's ``cases``), optionally its own timing and a reason why it leaves out the
torch.compile variants.  ``python -m bench --plan NAME [--suites PART,...]`` (:mod:`bench.cli`) and
``pytest bench/`` (:mod:`bench.test_bench`) both enumerate cases through :func:`cases`; ``bench/gpu.sh`` runs
the parts of ``gpu-quick`` as separate steps, each with its own time limit.

Plans:

* ``full``      -- kernels, model and deploy suites, everything they hold at the device's shapes (the GPU
  shapes on CUDA, smaller ones on CPU); ``bench/gpu.sh full`` and ``python -m bench``.
* ``quick``     -- the same parts at tiny shapes with few repeats (``--quick``; CI on CPU).
* ``gpu-quick`` -- the short GPU plan of ``bench/gpu.sh`` (step times: its --help and the step records of
  results.jsonl; the script runs ``compiled`` before ``v2``: the riskiest part last): part ``kernels`` --
  MS-LSTM E = 1 and 3, CQA, forward and forward + backward, bf16 and fp32,
  T = 64 and 256, ``triton`` vs the cuDNN reference; part ``model`` -- one training step of every registered model at
  the model suite's GPU shapes (both dataset-like workloads), 10 timed samples; part ``v2`` -- the bf16 MS-LSTM
  cases again with ``triton-v2`` next to ``triton`` (v1) when that backend is registered, forward first (its
  launcher compiles a kernel per candidate group size: a part of its own, so a slow build cannot cost the
  v1 and model numbers; bf16 only: in fp32 no group size can run at these shapes -- the ones whose weights fit
  in shared memory allow too few programs per SM for a co-resident grid, see
  ``bench/results/compile-sm90/report.md`` -- so the launcher runs v1 after compiling its five candidates,
  one of them for minutes); part ``compiled`` -- the kernel cases with ``torch.compile`` of the
  reference.  The ``v2`` and ``compiled`` parts run their cases in priority order (T = 256 first, E = 1;
  ``compiled``: bf16 before fp32, forward + backward and CQA first) so that whatever their time limit allows
  is measured.  Off CUDA it runs at the tiny ``--quick`` shapes (to test the flow on CPU).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench.cases import Case, Settings
from bench.records import SkipRecord

TINY_ALWAYS, TINY_OFF_CUDA, TINY_NEVER = "always", "off-cuda", "never"


@dataclass(frozen=True)
class Part:
    """One suite with a selection of its cases (``select``: keyword arguments of ``bench.suites.<suite>.cases``)."""

    name: str
    suite: str
    summary: str
    select: Mapping[str, Any] = field(default_factory=dict)
    timing: Mapping[str, Any] = field(default_factory=dict)  # TimingPlan overrides at full (non-tiny) shapes
    compile_skip: str | None = None  # why this part leaves out the torch.compile variants


@dataclass(frozen=True)
class Plan:
    name: str
    summary: str
    parts: tuple[Part, ...]
    tiny: str = TINY_NEVER  # when the suites use their tiny (--quick) shapes: always, off-cuda, never
    cuda_dtypes: tuple[str, ...] = ("fp32", "bf16")  # default dtypes on CUDA, in the order they run

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"plan {self.name!r} has no part {name!r} (parts: {', '.join(self.part_names())})")

    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    def tiny_shapes(self, device_type: str) -> bool:
        return self.tiny == TINY_ALWAYS or (self.tiny == TINY_OFF_CUDA and device_type != "cuda")


SUITE_PARTS = (
    Part("kernels", "kernels", "fused MS-LSTM and CQA vs the PyTorch reference (cuDNN) and torch.compile"),
    Part("model", "model", "every registered model: training step and inference, engine kernels vs reference ops"),
    Part("deploy", "deploy", "the exported inference graph in every runtime this machine has"),
)
GPU_QUICK_COMPILED = ("torch.compile of the references is timed in part 'compiled', a late step of "
                      "bench/gpu.sh, which measures as many cases as its time limit allows")
PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan("full", "every suite, every case, at the device's shapes", SUITE_PARTS),
        Plan("quick", "every suite at tiny shapes, few repeats (CI on CPU: < 2 min on 2 cores)", SUITE_PARTS,
             tiny=TINY_ALWAYS),
        Plan(
            "gpu-quick",
            "the short GPU plan of bench/gpu.sh: kernel cases at T = 64 and 256, one training step per model, "
            "then triton-v2 and torch.compile while time remains",
            (
                Part("kernels", "kernels", "MS-LSTM E=1,3 and CQA; fwd and fwd+bwd; T=64,256; vs cuDNN reference",
                     select={"lengths": (64, 256), "v2": False}, compile_skip=GPU_QUICK_COMPILED),
                Part("model", "model", "one training step of every registered model per workload, 10 timed samples",
                     select={"inference": False, "interpreter": False}, timing={"warmup": 3, "repeats": 10}),
                Part("v2", "kernels", "MS-LSTM bf16 with triton-v2 next to triton, priority order, while time remains",
                     select={"v2": True, "dtypes": ("bf16",), "directions": (False, True),
                             "encoders": (1, 3), "lengths": (256, 64)}, compile_skip=GPU_QUICK_COMPILED),
                Part("compiled", "kernels", "torch.compile of the references, in priority order, while time remains",
                     select={"only_compiled": True, "dtypes": ("bf16", "fp32"), "directions": (True, False),
                             "ops": ("cqa", "ms_lstm"), "encoders": (1,), "lengths": (256, 64), "v2": False,
                             "interpreter": False}),
            ),
            tiny=TINY_OFF_CUDA,
            cuda_dtypes=("bf16", "fp32"),
        ),
        Plan("video", "seconds of video per second: decoding and feature extraction per recipe (bench.suites.video)",
             (Part("video", "video", "PyAV decoding; the I3D / C3D backbones fp32 eager, bf16 and compiled on CUDA"),)),
    )
}
DEFAULT_PLAN = "full"


def get_plan(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; choose from {', '.join(PLANS)}") from None


def part_settings(settings: Settings, part: Part, overrides: Mapping[str, Any] | None = None) -> Settings:
    """``settings`` for one part: its timing overrides (at full shapes only), then the caller's explicit
    ``overrides`` (TimingPlan fields, e.g. from --repeats), and its torch.compile exclusion."""
    timing = settings.timing
    if part.timing and not settings.quick:
        timing = replace(timing, **part.timing)
    if overrides:
        timing = replace(timing, **{k: v for k, v in overrides.items() if v is not None})
    compile_skip = settings.compile_skip or part.compile_skip
    return replace(settings, timing=timing, compile_skip=compile_skip, part=part.name)


def cases(settings: Settings, plan: Plan, parts: Sequence[str] | None = None,
          timing_overrides: Mapping[str, Any] | None = None) -> Iterator[tuple[Part, Settings, Case | SkipRecord]]:
    """Every case (or skip record) of the plan's ``parts`` (default: all, in plan order), with the part and the
    settings it runs with.  Cases are built lazily, one at a time: a caller that drops each before asking for
    the next never holds the models of two cases."""
    chosen = plan.parts if parts is None else tuple(plan.part(name) for name in parts)
    for part in chosen:
        suite = importlib.import_module(f"bench.suites.{part.suite}")
        part_set = part_settings(settings, part, timing_overrides)
        for item in suite.cases(part_set, **part.select):
            if isinstance(item, SkipRecord):
                item.part = part.name
            yield part, part_set, item
