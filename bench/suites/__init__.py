"""Benchmark suites (kernels, model, deploy) and the helpers they share.

Each suite module exposes ``cases(settings, **selection) -> Iterator[Case | SkipRecord]``; the selection is a
plan part's (:mod:`bench.plans`), and :func:`bench.plans.cases` is the one enumeration the CLI and
``pytest bench/`` share.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from bench.cases import Result, Settings, Tensors, Variant
from bench.parity import perturb_
from kernels.policy import triton_interpreted
from kernels.registry import REFERENCE, auto_candidate

RECOMPILE_LIMIT = 64  # every benchmarked shape is its own graph; dynamo's default of 8 would fall back to eager


def fused_backend() -> str:
    """The backend the suites time against :data:`~kernels.registry.REFERENCE` (the baseline): the one ``auto``
    runs where it can (its declared ``auto_priority``), named by the registry, not by the bench."""
    candidate = auto_candidate()
    if candidate is None or candidate.name == REFERENCE:
        raise ValueError("no kernel backend declares an auto_priority: nothing to benchmark against the reference")
    return candidate.name


class Differentiable(Protocol):
    """A benchmark input: the tensors gradients are taken for, and the upstream gradients."""

    grad_outputs: Tensors

    def leaves(self) -> Tensors: ...


def triton_skip(settings: Settings, module: str) -> str | None:
    """Why the fused kernels in ``module`` cannot run on this machine, or None when they can."""
    if settings.device.type != "cuda" and not triton_interpreted():
        return "no CUDA device and TRITON_INTERPRET is not set"
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 -- any import failure means the kernel is not usable here
        return f"{module} cannot be imported ({type(err).__name__}: {err})"
    return None


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compile(fn, dynamic=False)``: specialised to every shape (as fast as compile gets), with a
    recompile limit that fits every shape of a run."""
    config = torch._dynamo.config
    if hasattr(config, "recompile_limit"):
        config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    else:  # torch < 2.6 spells it cache_size_limit
        config.cache_size_limit = max(config.cache_size_limit, RECOMPILE_LIMIT)
    return torch.compile(fn, dynamic=False)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(shape: Sequence[int], gen: torch.Generator, settings: Settings, dtype: torch.dtype) -> torch.Tensor:
    """Normal noise drawn on the CPU (same numbers on every device), then moved."""
    return torch.randn(*shape, generator=gen).to(settings.device, dtype)


def ragged_lengths(batch: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """(batch,) int64 lengths in [length // 2, length], the first one full: padding is always exercised."""
    lengths = torch.randint(max(1, length // 2), length + 1, (batch,), generator=gen)
    lengths[0] = length
    return lengths


def prefix_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    return torch.arange(length) < lengths[:, None]


def candidate_copy(module: nn.Module, settings: Settings) -> nn.Module:
    """The copy of ``module`` a candidate variant runs with: perturbed under ``--perturb``, else itself."""
    if not settings.perturb:
        return module
    twin = copy.deepcopy(module)
    perturb_(twin, settings.perturb)
    return twin


def differentiated(
    forward: Callable[[Any], Tensors], params: Sequence[torch.Tensor], backward: bool, name: str, timed: bool = True
) -> Variant:
    """A variant running ``forward(input)``; with ``backward`` it also returns d(outputs)/d(leaves, params).

    Forward-only variants run under ``torch.no_grad`` (inference); gradients come from
    ``torch.autograd.grad`` so nothing accumulates across timed calls.
    """
    params = list(params)

    def run(inp: Differentiable) -> Result:
        if not backward:
            with torch.no_grad():
                return forward(inp), []
        outs = forward(inp)
        return outs, list(torch.autograd.grad(outs, [*inp.leaves(), *params], inp.grad_outputs))

    return Variant(name, run, timed)


def upcast_oracle(variant_for: Callable[[nn.Module], Variant], module: nn.Module, name: str) -> Variant:
    """The fp32 oracle of a low-precision case: the reference on a float32 copy, inputs upcast first."""
    reference = variant_for(copy.deepcopy(module).float())

    def run(inp: Any) -> Result:
        return reference.fn(inp.to(torch.float32))

    return Variant(name, run, timed=False)


__all__ = [
    "Differentiable",
    "candidate_copy",
    "compiled",
    "differentiated",
    "fused_backend",
    "generator",
    "prefix_mask",
    "ragged_lengths",
    "randn",
    "triton_skip",
    "upcast_oracle",
]
