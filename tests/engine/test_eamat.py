"""EAMAT: shapes, gradient flow, padding invariance, query split, embedding, determinism."""

import pytest
import torch

from engine import EAMAT
from engine.models import build_model
from engine.models.eamat import alignment_loss
from tests.engine.grounding_batch import (
    DIM,
    N,
    T,
    assert_every_parameter_learns,
    assert_valid_outputs_close,
    model_inputs,
    random_batch,
    recall_at_07,
    repadded,
    small_config,
    steps_to_perfect_recall,
    synthetic_overfit_set,
    word_vectors,
)
from tests.kernels import assert_model_parity
from tests.markers import TEXT

ATOL = 1e-5


def make_model(**overrides) -> EAMAT:
    torch.manual_seed(0)
    return build_model(small_config("eamat", **overrides), word_vectors())


def test_output_shapes():
    out = make_model()(*model_inputs(random_batch()))
    assert set(out) == {"start_logits", "end_logits", "inner_logits", "presence_logits", "pe_logits"}
    for name, value in out.items():
        assert value.shape == ((4,) if name == "presence_logits" else (4, T)) and torch.isfinite(value).all()


@pytest.mark.parametrize("gate", ["code", "paper"])
def test_every_trainable_parameter_gets_a_gradient(gate):
    model = make_model(gate=gate, align_weight=1.0)
    batch = random_batch()
    out = model(*model_inputs(batch))
    loss, parts = model.loss(out, batch)
    assert set(parts) == {"boundary", "inner", "pe", "align", "total"}
    loss.backward()
    assert_every_parameter_learns(model)


def test_gates_differ():
    batch = random_batch()
    code, paper = make_model(gate="code"), make_model(gate="paper")
    paper.load_state_dict(code.state_dict())
    assert not torch.allclose(code(*model_inputs(batch))["start_logits"], paper(*model_inputs(batch))["start_logits"])


def test_padding_does_not_change_valid_outputs():
    model = make_model(dropout=0.3).eval()
    batch = random_batch()
    with torch.no_grad():
        a, b = model(*model_inputs(batch)), model(*model_inputs(repadded(batch)))
    assert_valid_outputs_close(a, b, batch["video_mask"], ATOL)
    valid = batch["video_mask"]
    torch.testing.assert_close(a["pe_logits"][valid], b["pe_logits"][valid], atol=ATOL, rtol=0)


def test_eval_is_deterministic_and_train_uses_dropout():
    model = make_model(dropout=0.3)
    inputs = model_inputs(random_batch())
    model.eval()
    with torch.no_grad():
        first, second = model(*inputs), model(*inputs)
    for key in first:
        assert torch.equal(first[key], second[key])
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(*inputs)["inner_logits"], model(*inputs)["inner_logits"])


def test_entity_and_motion_queries_drop_the_other_kind_of_word():
    model = make_model()
    batch = random_batch()
    words, mask, cls = batch["words"], batch["word_mask"], batch["word_class"]
    f_q, f_eq, f_mq = model.encode_query(words, mask, cls)
    projected = model.query_proj(word_vectors()[words]) * mask.unsqueeze(-1)  # <unk> vector starts at zero
    entity_kept = (cls == 1) | (cls == 0)
    motion_kept = (cls == 2) | (cls == 0)
    torch.testing.assert_close(f_eq - f_q, projected * entity_kept.unsqueeze(-1), atol=ATOL, rtol=0)
    torch.testing.assert_close(f_mq - f_q, projected * motion_kept.unsqueeze(-1), atol=ATOL, rtol=0)
    # no word classes = every word "other": both queries keep every word
    _, f_eq_none, f_mq_none = model.encode_query(words, mask, None)
    torch.testing.assert_close(f_eq_none, f_q + projected, atol=ATOL, rtol=0)
    torch.testing.assert_close(f_mq_none, f_q + projected, atol=ATOL, rtol=0)


def test_word_vectors_are_a_frozen_buffer_and_unk_is_learned():
    model = make_model()
    assert "embedding.vectors" in model.state_dict()
    assert "embedding.vectors" not in dict(model.named_parameters())
    torch.testing.assert_close(model.embedding.vectors, word_vectors())
    model.embedding.unk.data.fill_(0.5)
    ids = torch.tensor([[0, 1, 5]])
    looked_up = model.embedding(ids)
    assert torch.equal(looked_up[0, 1], torch.full((16,), 0.5))
    assert torch.equal(looked_up[0, 2], word_vectors()[5])


def test_rebuilt_from_config_and_state_dict_gives_the_same_outputs():
    model = make_model().eval()
    rebuilt = build_model(small_config("eamat"), None).eval()
    assert torch.count_nonzero(rebuilt.embedding.vectors) == 0
    rebuilt.load_state_dict(model.state_dict())
    inputs = model_inputs(random_batch())
    with torch.no_grad():
        assert torch.equal(model(*inputs)["start_logits"], rebuilt(*inputs)["start_logits"])


def test_embedding_size_errors_name_the_field():
    with pytest.raises(ValueError, match="word_dim"):
        build_model(small_config("eamat", word_dim=300), word_vectors())
    with pytest.raises(ValueError, match="vocab_size"):
        build_model(small_config("eamat", vocab_size=0), None)


def test_alignment_outputs_only_when_weighted():
    out = make_model(align_weight=1.0)(*model_inputs(random_batch()))
    assert out["query_features"].shape == (4, N, DIM) and out["moment_features"].shape == (4, T, DIM)
    assert out["entity_features"].shape == (4, T, DIM)
    assert "entity_features" not in make_model()(*model_inputs(random_batch()))


def test_query_and_video_projections_end_in_layer_norm():
    """Dropout -> Linear -> LayerNorm for both modalities, as the authors' Projection module."""
    model = make_model()
    for projection in (model.query_proj, model.video_proj):
        assert [type(m) for m in projection] == [torch.nn.Dropout, torch.nn.Linear, torch.nn.LayerNorm]


OVERFIT_LR, OVERFIT_MAX_STEPS = 5e-3, 150


@TEXT
def test_overfits_16_synthetic_samples_to_perfect_recall():
    batch, vectors, video_dim = synthetic_overfit_set()
    assert recall_at_07(batch["start_idx"], batch["end_idx"], batch) == 100.0  # the labels themselves reach it
    torch.manual_seed(0)
    config = small_config(
        "eamat", num_scales=2, video_dim=video_dim, vocab_size=vectors.shape[0], word_dim=vectors.shape[1]
    )
    steps = steps_to_perfect_recall(build_model(config, vectors), batch, OVERFIT_LR, OVERFIT_MAX_STEPS)
    assert steps is not None, f"R@1 IoU=0.7 below 100% after {OVERFIT_MAX_STEPS} steps"


MOTION_BLOCK_TYPES = {  # config value -> the module type of every motion-branch block (Table 3's ablations)
    "lstm-transformer": ("TransformerBlock", "lstm"),
    "fc-transformer": ("TransformerBlock", "linear"),
    "conv-transformer": ("TransformerBlock", "conv"),
    "conv": ("ResidualTemporalLayer", "conv"),
    "lstm": ("ResidualTemporalLayer", "lstm"),
}


@pytest.mark.parametrize("motion_block", sorted(MOTION_BLOCK_TYPES))
def test_motion_block_ablations_replace_every_motion_branch_block_and_train(motion_block):
    model = make_model(motion_block=motion_block)
    blocks = [model.motion_video, *model.motion_blocks]
    kind = lambda m: (type(m).__name__, getattr(m, "qkv", getattr(m, "kind", None)))
    assert [kind(m) for m in blocks] == [MOTION_BLOCK_TYPES[motion_block]] * len(blocks)
    assert kind(model.query_encoder) == ("TransformerBlock", "lstm")  # the query encoder is not ablated
    batch = random_batch()
    loss, _ = model.loss(model(*model_inputs(batch)), batch)
    loss.backward()
    assert_every_parameter_learns(model)


def test_without_the_entity_aware_transformer():
    """'w/o EA Trans': no entity branch, no Pe; the motion CQA reads every word, whatever their classes."""
    model = make_model(entity_branch=False, align_weight=1.0)
    assert not any(name.startswith(("entity_", "pe_head")) for name, _ in model.named_parameters())
    batch = random_batch()
    out = model(*model_inputs(batch))
    assert "pe_logits" not in out and "entity_features" not in out
    loss, parts = model.loss(out, batch)
    assert set(parts) == {"boundary", "inner", "align", "total"}
    loss.backward()
    assert_every_parameter_learns(model)
    inputs = model_inputs(batch)
    model.eval()
    other_classes = (inputs[4] + 1) % 3 * inputs[3]  # word classes play no role without the entity branch
    torch.testing.assert_close(model(*inputs[:4], other_classes)["start_logits"], model(*inputs)["start_logits"])


@pytest.mark.cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_kernels_match_the_reference_ops(dtype, device):
    """Whole EAMAT training step with the compiled Triton kernels against the reference ops -- loss, logits
    and every gradient; fp32 with TF32 off, bf16 against a bf16-autocast reference.  (At the benchmark's shapes:
    bench/tests/test_model_parity.py.)"""
    assert_model_parity(make_model(align_weight=1.0), random_batch(), device, dtype)



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


def test_alignment_term_sums_the_motion_and_entity_branch_halves():
    """As the authors' training loop: KL(F_q, F_mv) + KL(F_q, F_ev), weighted by align_weight."""
    torch.manual_seed(11)
    batch = random_batch()
    outputs = {k: torch.randn(4, T) for k in ("start_logits", "end_logits", "inner_logits")}
    outputs |= {"query_features": torch.randn(4, N, DIM), "moment_features": torch.randn(4, T, DIM),
                "entity_features": torch.randn(4, T, DIM)}
    weight = 3.0
    _, parts = make_model(align_weight=weight).loss(outputs, batch)
    halves = [alignment_loss(outputs["query_features"], batch["word_mask"], outputs[k], batch["inner"])
              for k in ("moment_features", "entity_features")]
    assert min(h.item() for h in halves) > 1e-3
    assert parts["align"] == pytest.approx(sum(h.item() for h in halves), abs=ATOL)
