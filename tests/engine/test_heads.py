"""Prediction heads and the shared loss against hand-computed values."""

import math

import pytest
import torch

from engine.heads import (
    MASKED_LOGIT,
    GroundingHeads,
    alignment_loss,
    boundary_loss,
    grounding_loss,
    presence_logits,
    weighted_bce,
)
from tests.engine.grounding_batch import DIM, N, T, random_batch, small_config

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
    batch, config = random_batch(), small_config("eamat")
    perfect, parts_perfect = grounding_loss(perfect_outputs(batch), batch, config)
    random = {k: torch.randn(4, T).masked_fill(~batch["video_mask"], MASKED_LOGIT) for k in perfect_outputs(batch)}
    worst, parts_random = grounding_loss(random, batch, config)
    assert perfect.item() < 1e-3 < worst.item()
    for name in ("boundary", "inner", "pe"):
        assert parts_perfect[name] < parts_random[name]


def test_total_is_the_weighted_sum_and_pe_only_when_present():
    torch.manual_seed(4)
    batch = random_batch()
    config = small_config("eamat", boundary_weight=0.5, inner_weight=3.0, pe_weight=7.0)
    outputs = {k: torch.randn(4, T) for k in ("start_logits", "end_logits", "inner_logits", "pe_logits")}
    total, parts = grounding_loss(outputs, batch, config)
    assert set(parts) == {"boundary", "inner", "pe", "total"}
    expected = 0.5 * parts["boundary"] + 3.0 * parts["inner"] + 7.0 * parts["pe"]
    assert total.item() == pytest.approx(expected, rel=1e-6) and parts["total"] == pytest.approx(expected, rel=1e-6)
    del outputs["pe_logits"]
    assert "pe" not in grounding_loss(outputs, batch, config)[1]


def test_scores_on_padded_clips_do_not_change_the_loss():
    torch.manual_seed(5)
    batch, config = random_batch(), small_config("eamat")
    valid = batch["video_mask"]
    outputs = {k: torch.randn(4, T).masked_fill(~valid, MASKED_LOGIT) for k in perfect_outputs(batch)}
    noisy = dict(outputs)
    for key in ("inner_logits", "pe_logits"):  # start/end carry the mask value on padding by contract
        noisy[key] = torch.where(valid, outputs[key], 50 * torch.randn(4, T))
    clean_loss, noisy_loss = grounding_loss(outputs, batch, config)[0], grounding_loss(noisy, batch, config)[0]
    assert clean_loss.item() == pytest.approx(noisy_loss.item())


def test_alignment_loss_matches_the_symmetric_kl_and_vanishes_when_structures_agree():
    torch.manual_seed(6)
    batch = random_batch()
    query, moment = torch.randn(4, N, DIM), torch.randn(4, T, DIM)
    got = alignment_loss(query, batch["word_mask"], moment, batch["inner"])
    wm, inner = batch["word_mask"].float(), batch["inner"]
    sentence = torch.stack([query[b][wm[b] > 0].mean(0) for b in range(4)])
    moments = torch.stack([moment[b][inner[b] > 0].mean(0) for b in range(4)])
    sq = torch.softmax(torch.nn.functional.cosine_similarity(sentence[:, None], sentence[None], dim=-1), -1)
    sv = torch.softmax(torch.nn.functional.cosine_similarity(moments[:, None], moments[None], dim=-1), -1)
    expected = ((sv * (sv / sq).log()).sum() + (sq * (sq / sv).log()).sum()) / 2
    assert got.item() == pytest.approx(expected.item(), abs=ATOL)
    assert got.item() > 1e-3
    # moment vectors equal to the sentence vectors -> identical similarity structure -> zero loss
    aligned = sentence[:, None, :].expand(4, T, DIM).contiguous()
    assert alignment_loss(query, batch["word_mask"], aligned, inner).item() == pytest.approx(0.0, abs=ATOL)


def test_align_weight_needs_the_feature_outputs():
    batch = random_batch()
    outputs = {k: torch.randn(4, T) for k in ("start_logits", "end_logits", "inner_logits")}
    with pytest.raises(ValueError, match="query_features"):
        grounding_loss(outputs, batch, small_config("eamat", align_weight=1.0))


def test_alignment_term_sums_the_motion_and_entity_branch_halves():
    """As the authors' training loop: KL(F_q, F_mv) + KL(F_q, F_ev), weighted by align_weight."""
    torch.manual_seed(11)
    batch = random_batch()
    outputs = {k: torch.randn(4, T) for k in ("start_logits", "end_logits", "inner_logits")}
    outputs |= {"query_features": torch.randn(4, N, DIM), "moment_features": torch.randn(4, T, DIM),
                "entity_features": torch.randn(4, T, DIM)}
    weight = 3.0
    _, parts = grounding_loss(outputs, batch, small_config("eamat", align_weight=weight))
    halves = [alignment_loss(outputs["query_features"], batch["word_mask"], outputs[k], batch["inner"])
              for k in ("moment_features", "entity_features")]
    assert min(h.item() for h in halves) > 1e-3
    assert parts["align"] == pytest.approx(sum(h.item() for h in halves), abs=ATOL)


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
    batch, config = random_batch(), small_config("eamat")
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
