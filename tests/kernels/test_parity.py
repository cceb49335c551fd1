"""kernels.parity: the error measure, the per-dtype tolerances and the tolerance tied to the reference's own error."""

import math

import pytest
import torch

from kernels.parity import (
    FP32_TOL,
    LOW_PRECISION_FLOOR,
    LOW_PRECISION_TOL,
    REFERENCE_ERROR_RATIO,
    SCALE_FLOOR,
    max_rel_err,
    passes,
    rel_err,
    tied_tolerance,
    tolerance,
)

SHAPE = (4, 5)


def test_rel_err_is_max_abs_difference_over_reference_scale() -> None:
    want = torch.tensor([[1.0, -4.0], [2.0, 0.5]])
    got = want + torch.tensor([[0.0, 0.02], [-0.1, 0.0]])
    assert rel_err(got, want) == pytest.approx(0.1 / 4.0)


def test_nan_or_inf_never_passes() -> None:
    want = torch.ones(SHAPE)
    for bad in (float("nan"), float("inf")):
        got = want.clone()
        got[1, 2] = bad
        err = rel_err(got, want)
        assert math.isnan(err)
        assert not passes(err, FP32_TOL)
    assert math.isnan(max_rel_err([want, want.clone().fill_(float("nan"))], [want, want]))


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        rel_err(torch.ones(2, 3), torch.ones(3, 2))


def test_tolerances_follow_spec() -> None:
    assert tolerance(torch.float32) == 1e-5
    assert tolerance(torch.float32, tf32=True) == 1e-3
    assert tolerance(torch.bfloat16) == tolerance(torch.float16) == LOW_PRECISION_TOL == 1e-2


def test_worst_tensor_counts_and_zero_gradients_use_the_floor() -> None:
    big = torch.full(SHAPE, 2.0, dtype=torch.float64)
    noise_only = torch.full(SHAPE, 1e-9, dtype=torch.float64)  # a mathematically zero gradient: rounding noise
    got = [big * (1 + 1e-7), -noise_only]
    err = max_rel_err(got, [big, noise_only])
    assert err == pytest.approx(2e-9 / (SCALE_FLOOR * 2.0))  # the noise is measured against the floor
    assert passes(err, FP32_TOL)
    # a real error in a small (but not negligible) tensor is still caught
    small = torch.full(SHAPE, 0.05, dtype=torch.float64)
    assert not passes(max_rel_err([big, small * 1.01], [big, small]), FP32_TOL)


def test_fp32_tolerance_follows_torchs_matmul_precision_unless_told() -> None:
    saved = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        assert tolerance(torch.float32) == FP32_TOL
        torch.set_float32_matmul_precision("high")
        assert tolerance(torch.float32) == tolerance(torch.float32, tf32=True) > FP32_TOL
        assert tolerance(torch.float32, tf32=False) == FP32_TOL
    finally:
        torch.set_float32_matmul_precision(saved)


def test_unknown_dtype_has_no_tolerance() -> None:
    with pytest.raises(ValueError, match="int32"):
        tolerance(torch.int32)


def test_tied_tolerance_has_a_floor_and_falls_back_when_the_reference_failed() -> None:
    assert tied_tolerance(1e-6) == LOW_PRECISION_FLOOR
    assert tied_tolerance(0.03) == pytest.approx(REFERENCE_ERROR_RATIO * 0.03)
    assert tied_tolerance(float("nan")) == tied_tolerance(None) == LOW_PRECISION_TOL
    assert tied_tolerance(None, documented=0.05) == 0.05
