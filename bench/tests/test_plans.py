"""bench.plans: one enumeration for the CLI and pytest-benchmark, the gpu-quick plan's selection, FLOPs from
kernels.policy, the triton-v2 variant, per-step latency and its floor."""

import importlib
import sys
import time

import pytest
import torch

import bench.suites as suites
from bench import cli, hardware, plans
from bench.cases import Case, Settings, Variant, run_case
from bench.records import SkipRecord, ThroughputRecord
from bench.suites import kernels as kernel_suite
from bench.suites import model as model_suite
from bench.timing import TimingPlan
from kernels.policy import cqa_flops, ms_lstm_flops

CPU = torch.device("cpu")
QUICK_TIMING = TimingPlan(warmup=1, repeats=3, min_sample_s=0.0, max_calls=1)
FULL_CPU = Settings(CPU, (torch.float32,), QUICK_TIMING, quick=False)
TINY_CPU = Settings(CPU, (torch.float32,), QUICK_TIMING, quick=True)
MARKER = "marker case from a fake bench.plans.cases"


def _names(items) -> list[tuple[str, int]]:
    return [(c.name, c.shapes["T"]) for c in items if isinstance(c, Case)]


def test_cli_and_pytest_front_end_enumerate_through_plans_cases(monkeypatch, capsys) -> None:
    calls = []

    def fake_cases(settings, plan, parts=None, timing_overrides=None):
        calls.append(plan.name)
        part = plan.parts[0]
        case = Case("kernels", MARKER, torch.float32, {"T": 1}, lambda seed: None,
                    [Variant("reference", lambda x: ([], [])), Variant("other", lambda x: ([], []))])
        yield part, plans.part_settings(settings, part), case

    monkeypatch.setattr(plans, "cases", fake_cases)
    assert cli.main(["--quick", "--device", "cpu", "--list"]) == 0
    assert MARKER in capsys.readouterr().out
    sys.modules.pop("bench.test_bench", None)
    try:
        front_end = importlib.import_module("bench.test_bench")  # parametrizes at import, through plans.cases
        refs, _ = front_end.listing()
        assert [r.part for r in refs] == ["kernels"] and MARKER.replace(" ", "_") in refs[0].id
    finally:
        sys.modules.pop("bench.test_bench", None)
    assert calls[:2] == ["quick", "quick"]


def test_plans_are_named_and_gpu_quick_has_its_parts() -> None:
    assert {"full", "quick", "gpu-quick"} <= set(plans.PLANS)
    gpu = plans.get_plan("gpu-quick")
    assert gpu.part_names() == ("kernels", "model", "v2", "compiled")
    assert gpu.tiny_shapes("cpu") and not gpu.tiny_shapes("cuda")
    assert gpu.cuda_dtypes == ("bf16", "fp32")
    with pytest.raises(ValueError, match="unknown plan"):
        plans.get_plan("nope")
    with pytest.raises(KeyError, match="no part"):
        gpu.part("deploy")


def test_gpu_quick_kernel_part_selects_the_brief_cases() -> None:
    part = plans.get_plan("gpu-quick").part("kernels")
    settings = plans.part_settings(FULL_CPU, part)
    items = list(kernel_suite.cases(settings, **{**part.select, "interpreter": False}))
    cases = [c for c in items if isinstance(c, Case)]
    expected = {f"ms_lstm E={e} {d}" for e in (1, 3) for d in ("fwd", "fwd+bwd")} | {"cqa fwd", "cqa fwd+bwd"}
    assert {c.name for c in cases} == expected
    assert {c.shapes["T"] for c in cases} == {64, 256} and len(cases) == 2 * len(expected)
    assert all("compiled" not in [v.name for v in c.variants] for c in cases)
    assert any(isinstance(s, SkipRecord) and s.variant == "compiled" and "part 'compiled'" in s.reason
               for s in items)
    assert all(c.steps and c.step_bytes for c in cases if c.name.startswith("ms_lstm"))


def test_kernel_cases_come_in_priority_order() -> None:
    items = kernel_suite.cases(FULL_CPU, lengths=(256, 64), directions=(True, False), ops=("cqa", "ms_lstm"),
                               encoders=(1,), dtypes=("bf16", "fp32"), interpreter=False)
    assert _names(items) == [
        ("cqa fwd+bwd", 256), ("cqa fwd+bwd", 64), ("ms_lstm E=1 fwd+bwd", 256), ("ms_lstm E=1 fwd+bwd", 64),
        ("cqa fwd", 256), ("cqa fwd", 64), ("ms_lstm E=1 fwd", 256), ("ms_lstm E=1 fwd", 64),
    ]  # bf16 is not among the run's dtypes (fp32 only): the selection restricts, it never adds


def test_compiled_part_is_only_a_skip_where_torch_compile_cannot_run() -> None:
    part = plans.get_plan("gpu-quick").part("compiled")
    items = list(kernel_suite.cases(plans.part_settings(FULL_CPU, part), **part.select))
    assert items and all(isinstance(i, SkipRecord) and i.variant == "compiled" for i in items)


def test_tiny_shapes_keep_their_own_lengths() -> None:
    part = plans.get_plan("gpu-quick").part("kernels")
    items = kernel_suite.cases(plans.part_settings(TINY_CPU, part), **{**part.select, "interpreter": False})
    assert {t for _, t in _names(items)} == set(kernel_suite.QUICK_SHAPES.lstm_lengths)


def test_model_part_is_one_train_step_per_model_and_workload() -> None:
    part = plans.get_plan("gpu-quick").part("model")
    settings = plans.part_settings(TINY_CPU, part)
    cases = [c for c in model_suite.cases(settings, **part.select) if isinstance(c, Case)]
    workloads = model_suite.QUICK_SHAPES.workloads
    assert set(model_suite.MODELS) >= {"eamat", "dp"}
    assert sorted(c.name for c in cases) == sorted(f"{m} {w.name} train step" for m in model_suite.MODELS
                                                   for w in workloads)
    # the part's own timing applies at full shapes only
    full = plans.part_settings(Settings(CPU, (torch.float32,), TimingPlan(), quick=False), part)
    assert (full.timing.warmup, full.timing.repeats) == (3, 10)
    assert settings.timing == QUICK_TIMING and settings.part == "model"


def test_flops_come_from_kernels_policy() -> None:
    assert not hasattr(suites, "kernel_function")  # no lookup of counters by name in the Triton modules
    shapes = kernel_suite.QUICK_SHAPES
    encoders = kernel_suite.make_encoders(1, shapes, TINY_CPU, torch.float32)
    case = kernel_suite.ms_lstm_case(TINY_CPU, shapes, encoders, 16, backward=True)
    B, D, S = shapes.batch, shapes.dim, shapes.scales
    sizes = (B, 16, D, D // 2, S, 1)
    assert case.flops == ms_lstm_flops(*sizes) + ms_lstm_flops(*sizes, backward=True)
    block = kernel_suite.make_cqa_block(shapes, TINY_CPU, torch.float32)
    cqa = kernel_suite.cqa_case(TINY_CPU, shapes, block, 16, backward=False)
    assert cqa.flops == cqa_flops(B, 16, shapes.words, D)


@pytest.mark.parametrize("registered", [True, False])
def test_triton_v2_variant_only_for_ms_lstm_when_registered(monkeypatch, registered: bool) -> None:
    names = ("auto", "reference", "triton") + ((kernel_suite.V2,) if registered else ())
    monkeypatch.setattr(kernel_suite, "backend_names", lambda: names)
    items = list(kernel_suite._interpreter_cases(TINY_CPU))
    variants = {c.name: [v.name for v in c.variants] for c in items if isinstance(c, Case)}
    assert variants, "no interpreter case (TRITON_INTERPRET is set by tests/conftest.py)"
    for name, found in variants.items():
        want_v2 = registered and name.startswith("ms_lstm")
        assert (kernel_suite.V2 in found) == want_v2, (name, found)
        assert "triton" in found


@pytest.mark.parametrize("registered", [True, False])
def test_v2_part_is_ms_lstm_only_and_the_other_parts_leave_v2_out(monkeypatch, registered: bool) -> None:
    names = ("auto", "reference", "triton") + ((kernel_suite.V2,) if registered else ())
    monkeypatch.setattr(kernel_suite, "backend_names", lambda: names)
    gpu = plans.get_plan("gpu-quick")
    part = gpu.part("v2")
    items = list(kernel_suite.cases(plans.part_settings(TINY_CPU, part), **part.select))
    cases = [c for c in items if isinstance(c, Case)]
    if not registered:
        assert not cases and any(isinstance(s, SkipRecord) and s.variant == kernel_suite.V2 for s in items)
        return
    assert cases and all(c.name.startswith("ms_lstm") for c in cases)
    interpreted = [c for c in cases if any(not v.timed for v in c.variants)]
    assert interpreted and all(kernel_suite.V2 in [v.name for v in c.variants] for c in interpreted)
    kernels_part = gpu.part("kernels")
    others = kernel_suite.cases(plans.part_settings(TINY_CPU, kernels_part), **kernels_part.select)
    assert all(kernel_suite.V2 not in [v.name for v in c.variants] for c in others if isinstance(c, Case))


def test_recurrent_state_bytes() -> None:
    # 1 encoder x 1 scale x 2 directions x 4 frames = 8 visits of H = 2 fp32 elements
    assert kernel_suite.recurrent_state_bytes([4], H=2, S=1, E=1, element=4, backward=False) == 8 * 2 * 4 * 2
    assert kernel_suite.recurrent_state_bytes([4], H=2, S=1, E=1, element=4, backward=True) == 8 * 2 * 4 * 10


def test_per_step_latency_and_floor(monkeypatch) -> None:
    monkeypatch.setattr(hardware, "floor_bandwidth", lambda device: (1e9, "1 GB/s (test)"))
    steps, step_bytes = 4, 2e6
    case = Case("kernels", "ms_lstm fake", torch.float32, {"T": 4}, lambda seed: None,
                [Variant("reference", lambda x: ([time.sleep(1e-3) or torch.zeros(1)], []))],
                steps=steps, step_bytes=step_bytes)
    (record,) = [r for r in run_case(case, TINY_CPU, {}) if isinstance(r, ThroughputRecord)]
    assert record.step_us == pytest.approx(record.median_ms * 1e3 / steps)
    assert record.floor_us == pytest.approx(step_bytes / 1e9 * 1e6)
    assert "1 GB/s (test)" in record.floor_basis and "2.000 MB/step" in record.floor_basis
