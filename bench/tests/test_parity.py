"""bench.parity: the perturbation hook that the parity table must catch."""

import torch
from torch import nn

from bench.parity import perturb_


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
