"""bench.parity: the error measure, the docs/design.md §8.5 tolerances and the perturbation hook."""

import math

import pytest
import torch
from torch import nn

from bench.parity import FP32_TOL, HALF_TOL, SCALE_FLOOR, max_rel_err, passes, perturb_, rel_err, tolerance

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
    assert tolerance(torch.bfloat16) == tolerance(torch.float16) == HALF_TOL == 1e-2


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


def test_perturb_scales_the_first_trainable_matrix() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rel = 1e-3
    name = perturb_(model, rel)
    assert name == "1.weight"
    after = model.state_dict()
    torch.testing.assert_close(after["1.weight"], before["1.weight"] * (1 + rel), rtol=0, atol=0)
    for key in ("0.weight", "0.bias", "1.bias"):
        assert torch.equal(after[key], before[key])
