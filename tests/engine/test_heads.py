"""Prediction heads and the shared loss against hand-computed values."""

import math

import pytest
import torch

from engine.heads import (
    MASKED_LOGIT,
    GroundingHeads,
    boundary_loss,
    grounding_loss,
    presence_logits,
    weighted_bce,
)
from engine.models import build_model
from tests.engine.grounding_batch import DIM, T, random_batch, small_config

ATOL = 1e-5
PERFECT = 20.0  # logit margin that makes a prediction near-certain


def test_heads_shapes_and_start_end_masked_to_valid_clips():
    torch.manual_seed(0)
    batch = random_batch()
    heads = GroundingHeads(DIM)
    out = heads(torch.randn(4, T, DIM), batch["video_mask"])
    pad = ~batch["video_mask"]
    for key in ("start_logits", "end_logits", "inner_logits"):
        assert out[key].shape == (4, T)
    assert (out["start_logits"][pad] == MASKED_LOGIT).all() and (out["end_logits"][pad] == MASKED_LOGIT).all()
    assert (out["start_logits"][~pad] != MASKED_LOGIT).all()
    assert torch.isfinite(out["inner_logits"]).all()


def test_weighted_bce_matches_per_clip_formula():
    torch.manual_seed(1)
    batch = random_batch()
    logits = torch.randn(4, T)
    pos_weight = 2.0
    got = weighted_bce(logits, batch["inner"], batch["video_mask"], pos_weight)
    per_sample = []
    for b in range(4):
        terms = []
        for t in range(int(batch["video_mask"][b].sum())):
            p, y = 1 / (1 + math.exp(-logits[b, t].item())), batch["inner"][b, t].item()
            terms.append(-(pos_weight if y else 1.0) * (y * math.log(p) + (1 - y) * math.log(1 - p)))
        per_sample.append(sum(terms) / len(terms))
    assert got.item() == pytest.approx(sum(per_sample) / 4, abs=ATOL)


def test_boundary_loss_is_cross_entropy_over_valid_clips_only():
    torch.manual_seed(2)
    batch = random_batch()
    heads = GroundingHeads(DIM)
    out = heads(torch.randn(4, T, DIM), batch["video_mask"])
    got = boundary_loss(out["start_logits"], out["end_logits"], batch["start_idx"], batch["end_idx"])
    expected = 0.0
    for key, idx in (("start_logits", "start_idx"), ("end_logits", "end_idx")):
        for b in range(4):
            valid = out[key][b][batch["video_mask"][b]]
            expected += (valid.logsumexp(0) - valid[batch[idx][b]]).item() / 4
    assert got.item() == pytest.approx(expected, abs=ATOL)


def perfect_outputs(batch):
    onehot = lambda idx: torch.nn.functional.one_hot(idx, T).float() * 2 * PERFECT - PERFECT
    mask = batch["video_mask"]
    return {
        "start_logits": onehot(batch["start_idx"]).masked_fill(~mask, MASKED_LOGIT),
        "end_logits": onehot(batch["end_idx"]).masked_fill(~mask, MASKED_LOGIT),
        "inner_logits": batch["inner"] * 2 * PERFECT - PERFECT,
        "pe_logits": batch["inner"] * 2 * PERFECT - PERFECT,
    }


def test_perfect_predictions_score_lower_than_random_ones():
    torch.manual_seed(3)
    batch, eamat = random_batch(), build_model(small_config("eamat"))  # the shared terms + EAMAT's Pe term
    perfect, parts_perfect = eamat.loss(perfect_outputs(batch), batch)
    random = {k: torch.randn(4, T).masked_fill(~batch["video_mask"], MASKED_LOGIT) for k in perfect_outputs(batch)}
    worst, parts_random = eamat.loss(random, batch)
    assert perfect.item() < 1e-3 < worst.item()
    for name in ("boundary", "inner", "pe"):
        assert parts_perfect[name] < parts_random[name]


def test_total_is_the_weighted_sum_and_pe_only_when_present():
    torch.manual_seed(4)
    batch = random_batch()
    eamat = build_model(small_config("eamat", boundary_weight=0.5, inner_weight=3.0, pe_weight=7.0))
    outputs = {k: torch.randn(4, T) for k in ("start_logits", "end_logits", "inner_logits", "pe_logits")}
    total, parts = eamat.loss(outputs, batch)
    assert set(parts) == {"boundary", "inner", "pe", "total"}
    expected = 0.5 * parts["boundary"] + 3.0 * parts["inner"] + 7.0 * parts["pe"]
    assert total.item() == pytest.approx(expected, rel=1e-6) and parts["total"] == pytest.approx(expected, rel=1e-6)
    del outputs["pe_logits"]
    assert "pe" not in eamat.loss(outputs, batch)[1]
    shared_total, shared = grounding_loss(outputs, batch, eamat.config, {"extra": (2.0, torch.tensor(0.25))})
    assert set(shared) == {"boundary", "inner", "extra", "total"}
    assert shared_total.item() == pytest.approx(0.5 * shared["boundary"] + 3.0 * shared["inner"] + 0.5, rel=1e-6)


def test_scores_on_padded_clips_do_not_change_the_loss():
    torch.manual_seed(5)
    batch, eamat = random_batch(), build_model(small_config("eamat"))
    valid = batch["video_mask"]
    outputs = {k: torch.randn(4, T).masked_fill(~valid, MASKED_LOGIT) for k in perfect_outputs(batch)}
    noisy = dict(outputs)
    for key in ("inner_logits", "pe_logits"):  # start/end carry the mask value on padding by contract
        noisy[key] = torch.where(valid, outputs[key], 50 * torch.randn(4, T))
    clean_loss, noisy_loss = eamat.loss(outputs, batch)[0], eamat.loss(noisy, batch)[0]
    assert clean_loss.item() == pytest.approx(noisy_loss.item())


def test_presence_is_the_largest_inner_logit_over_valid_clips():
    torch.manual_seed(6)
    batch = random_batch()
    out = GroundingHeads(DIM)(torch.randn(4, T, DIM), batch["video_mask"])
    for b in range(4):
        assert out["presence_logits"][b] == out["inner_logits"][b][batch["video_mask"][b]].max()
    padded_high = out["inner_logits"].masked_fill(~batch["video_mask"], 1e3)  # padding never counts
    assert torch.equal(presence_logits(padded_high, batch["video_mask"]), out["presence_logits"])


def test_rows_without_their_target_have_no_boundary_term_and_all_negative_inner():
    torch.manual_seed(7)
    batch, config = random_batch(), small_config("eamat").model
    outputs = {k: torch.randn(4, T).masked_fill(~batch["video_mask"], MASKED_LOGIT) for k in perfect_outputs(batch)}
    present = torch.tensor([True, False, True, False])
    absent = {**batch, "present": present, "inner": batch["inner"] * present[:, None]}
    kept = {k: v[present] for k, v in batch.items() if isinstance(v, torch.Tensor)}
    want = boundary_loss(*(t[present] for t in (outputs["start_logits"], outputs["end_logits"])),
                         kept["start_idx"], kept["end_idx"])
    _, parts = grounding_loss(outputs, absent, config)
    assert parts["boundary"] == pytest.approx(want.item(), abs=ATOL)
    assert boundary_loss(outputs["start_logits"], outputs["end_logits"], batch["start_idx"], batch["end_idx"],
                         torch.zeros(4, dtype=torch.bool)).item() == 0.0  # no row holds its target
    everyone = {**batch, "present": torch.ones(4, dtype=torch.bool)}  # all present: the papers' loss
    assert grounding_loss(outputs, everyone, config)[1] == pytest.approx(grounding_loss(outputs, batch, config)[1])
    # an absent row's inner BCE is all negative: high inner logits there raise the loss
    hot = {**outputs, "inner_logits": outputs["inner_logits"] + 5.0 * (~present)[:, None]}
    assert grounding_loss(hot, absent, config)[1]["inner"] > parts["inner"]


def test_lookalike_clips_weigh_lookalike_weight_in_the_inner_bce():
    torch.manual_seed(8)
    batch, config = random_batch(), small_config("eamat").model
    outputs = {k: torch.randn(4, T).masked_fill(~batch["video_mask"], MASKED_LOGIT) for k in perfect_outputs(batch)}
    present = torch.tensor([True, False, True, False])
    lookalike = torch.zeros(4, T, dtype=torch.bool)
    lookalike[1, 1:3] = True
    absent = {**batch, "present": present, "inner": batch["inner"] * present[:, None]}
    marked = {**absent, "lookalike": lookalike}
    plain = grounding_loss(outputs, absent, config)[1]["inner"]
    assert grounding_loss(outputs, marked, config)[1]["inner"] == pytest.approx(plain, abs=ATOL)  # weight 1
    config.lookalike_weight = 5.0
    want = weighted_bce(outputs["inner_logits"], absent["inner"], batch["video_mask"], config.bce_pos_weight,
                        1.0 + 4.0 * lookalike.float())
    got = grounding_loss(outputs, marked, config)[1]["inner"]
    assert got == pytest.approx(want.item(), abs=ATOL) and got > plain
    # only the marked clips weigh more: raising an unmarked absent clip's logit costs what it did before
    hot = {**outputs, "inner_logits": outputs["inner_logits"].clone()}
    hot["inner_logits"][1, 4] += 3.0
    assert (grounding_loss(hot, marked, config)[1]["inner"] - got
            == pytest.approx(grounding_loss(hot, absent, config)[1]["inner"] - plain, abs=ATOL))
