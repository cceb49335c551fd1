"""kernels.registry: the backends alone list the choices, and "auto" picks the one that declares a priority."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest
import torch

from engine.config import KernelChoice
from kernels import probe, registry
from train.cli import KERNEL_CHOICES

B, T, N, D = 2, 5, 3, 8  # a tiny CQA call


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry (and an empty probe cache) that the test may change; restored afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(probe, "_VERDICTS", {})


def cqa_args() -> tuple:
    torch.manual_seed(0)
    video, query = torch.randn(B, T, D), torch.randn(B, N, D)
    masks = (torch.ones(B, T, dtype=torch.bool), torch.ones(B, N, dtype=torch.bool))
    return (video, query, *masks, *(torch.randn(D) for _ in range(3)), torch.randn(D, 4 * D), torch.randn(D))


def reference_cqa() -> registry.OpImpl:
    return registry.get_backend(registry.REFERENCE).ops["cqa"]


def test_config_and_cli_choices_are_the_registrys() -> None:
    import export  # noqa: F401 -- registers export's internal backends, which are no user choice

    assert get_args(KernelChoice) == KERNEL_CHOICES == registry.kernel_choices()
    internal = [b for b in registry.backend_names()[1:] if not registry.get_backend(b).user_choice]
    assert internal and not set(internal) & set(KERNEL_CHOICES)
    assert registry.AUTO in KERNEL_CHOICES and registry.REFERENCE in KERNEL_CHOICES


def test_a_new_backend_becomes_a_choice(scratch_registry) -> None:
    registry.register_backend(dataclasses.replace(registry.get_backend(registry.REFERENCE), name="mine"))
    assert registry.kernel_choices()[-1] == "mine"


def test_auto_runs_the_backend_with_the_highest_priority_once_it_passed_its_check(scratch_registry) -> None:
    reference = registry.get_backend(registry.REFERENCE)
    calls = []

    def counted(*args):
        calls.append(1)
        return reference.ops["cqa"].run(*args)

    ops = {**reference.ops, "cqa": registry.OpImpl(counted)}
    registry.register_backend(registry.Backend("preferred", "a test backend", ops, auto_priority=10**6))
    assert registry.auto_candidate().name == "preferred"
    args = cqa_args()
    impl = registry.resolve(registry.AUTO, "cqa", args[:2], *args)
    assert impl is ops["cqa"] and calls  # checked against the reference before it was trusted


def test_auto_without_a_candidate_runs_the_reference(scratch_registry) -> None:
    for name in registry.backend_names()[1:]:
        backend = registry.get_backend(name)
        registry.register_backend(dataclasses.replace(backend, auto_priority=None))
    assert registry.auto_candidate() is None
    args = cqa_args()
    assert registry.resolve(registry.AUTO, "cqa", args[:2], *args) is reference_cqa()


def test_auto_never_picks_a_triton_backend_on_cpu_tensors() -> None:
    assert registry.auto_candidate().needs_triton
    args = cqa_args()
    assert registry.resolve(registry.AUTO, "cqa", args[:2], *args) is reference_cqa()
