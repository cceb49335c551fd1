"""bench.timing: interleaved samples, rotated inputs, medians and quartiles."""

import statistics
import time

import pytest
import torch

from bench.timing import TimingPlan, compare, quartiles

CPU = torch.device("cpu")
REPEATS, WARMUP = 6, 2
FAST_S, SLOW_S = 0.002, 0.010


def test_quartiles_match_statistics() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0]
    q1, median, q3 = quartiles(values)
    assert median == statistics.median(values)
    assert (q1, q3) == tuple(statistics.quantiles(values, n=4, method="inclusive")[i] for i in (0, 2))
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)


def test_variants_interleave_and_rotate_inputs() -> None:
    log: list[tuple[str, int]] = []
    variants = {name: (lambda inp, n=name: log.append((n, inp))) for name in ("A", "B")}
    inputs = [0, 1, 2]
    plan = TimingPlan(warmup=WARMUP, repeats=REPEATS, min_sample_s=0.0, max_calls=1)
    timings = compare(variants, inputs, CPU, plan)
    assert set(timings) == {"A", "B"} and all(t.repeats == REPEATS and t.calls == 1 for t in timings.values())
    timed = log[2 * (WARMUP + 1):]  # after each variant's warm-up and its one calibration call
    assert [name for name, _ in timed] == ["A", "B", "B", "A"] * (REPEATS // 2)
    for name in ("A", "B"):  # each variant walks the inputs in turn, never one twice in a row
        seen = [inp for n, inp in log if n == name]
        assert seen == [i % len(inputs) for i in range(len(seen))]


def test_medians_rank_a_slow_and_a_fast_variant() -> None:
    variants = {"fast": lambda _: time.sleep(FAST_S), "slow": lambda _: time.sleep(SLOW_S)}
    timings = compare(variants, [None], CPU, TimingPlan(warmup=1, repeats=5, min_sample_s=0.0, max_calls=1))
    assert timings["fast"].median_s >= FAST_S
    assert timings["slow"].median_s >= SLOW_S
    assert timings["slow"].median_s > timings["fast"].median_s
    for t in timings.values():
        assert t.q1_s <= t.median_s <= t.q3_s and t.iqr_s >= 0


def test_short_calls_are_batched_into_samples() -> None:
    timings = compare({"noop": lambda _: None}, [None], CPU, TimingPlan(warmup=1, repeats=3, min_sample_s=1e-3))
    assert timings["noop"].calls > 1


def test_empty_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="variants"):
        compare({}, [None], CPU)
    with pytest.raises(ValueError, match="input"):
        compare({"a": lambda _: None}, [], CPU)
