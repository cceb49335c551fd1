"""Dynamic Pathway: shapes, gradients, path selection (Gumbel / argmax / per-sample routing), padding."""

import pytest
import torch
import torch.nn.functional as F

from engine import DynamicPathway
from engine.config import Config
from engine.models import build_model
from engine.models.dynamic_pathway import EXPLOITATION, EXPLORATION, path_weights
from tests.engine.grounding_batch import (
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
TAU = 0.7


def make_model(**overrides) -> DynamicPathway:
    torch.manual_seed(0)
    return build_model(small_config("dp", **overrides), word_vectors())


def pathway_alone(model, batch, sample, path):
    """Start logits of one sample run alone through one pathway and the heads."""
    rows = slice(sample, sample + 1)
    f_q, _ = model.encode_query(batch["words"][rows], batch["word_mask"][rows])
    f_v = model.encode_video(batch["video"][rows], batch["video_mask"][rows])
    pathway = model.exploitation if path == EXPLOITATION else model.exploration
    f_e = pathway(f_v, batch["video_mask"][rows], f_q, batch["word_mask"][rows])
    return model.heads(f_e, batch["video_mask"][rows])["start_logits"][0]


def force_paths(model, batch):
    """Set path_fc so that sample 0 takes exploitation and sample 1 exploration (a mixed batch)."""
    with torch.no_grad():
        _, f_s = model.encode_query(batch["words"], batch["word_mask"])
        u = f_s[0] - f_s[1]
        model.path_fc.weight.zero_()
        model.path_fc.bias.zero_()
        model.path_fc.weight[EXPLOITATION] = u
        model.path_fc.bias[EXPLOITATION] = -u @ (f_s[0] + f_s[1]) / 2  # logit gap > 0 for sample 0, < 0 for 1


def test_output_shapes():
    out = make_model().eval()(*model_inputs(random_batch()))
    assert set(out) == {"start_logits", "end_logits", "inner_logits", "presence_logits", "path_logits", "path"}
    for key in ("start_logits", "end_logits", "inner_logits"):
        assert out[key].shape == (4, T) and torch.isfinite(out[key]).all()
    assert out["path_logits"].shape == (4, 2)
    assert out["path"].dtype == torch.int64 and set(out["path"].tolist()) <= {0, 1}


def test_soft_selection_gives_every_parameter_a_gradient():
    model = make_model(path_selection="soft")
    batch = random_batch()
    loss, parts = model.loss(model(*model_inputs(batch)), batch)
    assert set(parts) == {"boundary", "inner", "total"}
    loss.backward()
    assert_every_parameter_learns(model)


def test_hard_selection_trains_the_selector_through_the_straight_through_estimator():
    model = make_model()
    batch = random_batch()
    torch.manual_seed(1)
    out = model(*model_inputs(batch))
    model.loss(out, batch)[0].backward()
    chosen = set(out["path"].tolist())
    skip = tuple(f"{name}." for k, name in ((0, "exploitation"), (1, "exploration")) if k not in chosen)
    assert_every_parameter_learns(model, skip=skip)


def test_training_forward_uses_exactly_the_sampled_pathway():
    model = make_model()
    batch = random_batch()
    torch.manual_seed(2)
    out = model(*model_inputs(batch))
    for sample, path in enumerate(out["path"].tolist()):
        expected = pathway_alone(model, batch, sample, path)
        valid = batch["video_mask"][sample]
        torch.testing.assert_close(out["start_logits"][sample][valid], expected[valid], atol=ATOL, rtol=0)


def test_gumbel_hard_is_one_hot_with_soft_sample_gradients():
    logits = torch.randn(6, 2, requires_grad=True)
    probe = torch.randn(6, 2)
    torch.manual_seed(3)
    weights = path_weights(logits, "hard", TAU, training=True)
    (weights * probe).sum().backward()
    # the same Gumbel draw by hand
    torch.manual_seed(3)
    gumbel = -torch.empty(6, 2).exponential_().log()
    leaf = logits.detach().requires_grad_()
    soft = ((leaf + gumbel) / TAU).softmax(-1)
    (soft * probe).sum().backward()
    assert torch.equal(weights.detach(), F.one_hot(soft.argmax(-1), 2).float())
    torch.testing.assert_close(logits.grad, leaf.grad, atol=1e-6, rtol=0)


def test_eval_selection_is_the_deterministic_argmax():
    logits = torch.randn(6, 2)
    first = path_weights(logits, "hard", TAU, training=False)
    assert torch.equal(first, path_weights(logits, "hard", TAU, training=False))
    assert torch.equal(first, F.one_hot(logits.argmax(-1), 2).float())
    torch.testing.assert_close(path_weights(logits, "soft", TAU, training=True), logits.softmax(-1))


def test_inference_runs_each_sample_through_its_selected_pathway_only():
    model = make_model().eval()
    batch = random_batch()
    force_paths(model, batch)
    with torch.no_grad():
        gathered = model(*model_inputs(batch), select="gather")
        both = model(*model_inputs(batch), select="both")
        assert gathered["path"][:2].tolist() == [EXPLOITATION, EXPLORATION]
        assert torch.equal(gathered["path"], both["path"])
        assert_valid_outputs_close(gathered, both, batch["video_mask"], ATOL)
        for sample, path in enumerate(gathered["path"].tolist()):
            valid = batch["video_mask"][sample]
            expected = pathway_alone(model, batch, sample, path)[valid]
            torch.testing.assert_close(gathered["start_logits"][sample][valid], expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("select", ["gather", "both"])
def test_padding_does_not_change_valid_outputs(select):
    model = make_model(dropout=0.3).eval()
    batch = random_batch()
    with torch.no_grad():
        a = model(*model_inputs(batch), select=select)
        b = model(*model_inputs(repadded(batch)), select=select)
    assert_valid_outputs_close(a, b, batch["video_mask"], ATOL)
    torch.testing.assert_close(a["path_logits"], b["path_logits"], atol=ATOL, rtol=0)


def test_eval_is_deterministic():
    model = make_model(dropout=0.3).eval()
    inputs = model_inputs(random_batch())
    with torch.no_grad():
        first, second = model(*inputs), model(*inputs)
    for key in first:
        assert torch.equal(first[key], second[key])


def test_token_weights_ignore_padded_words():
    model = make_model().eval()
    batch = random_batch()
    with torch.no_grad():
        f_q, f_s = model.encode_query(batch["words"], batch["word_mask"])
        for b in range(4):
            valid = f_q[b][batch["word_mask"][b]]
            alpha = model.token_weight(valid).squeeze(-1).softmax(0)
            torch.testing.assert_close(f_s[b], alpha @ valid, atol=ATOL, rtol=0)
        assert (f_q[~batch["word_mask"]] == 0).all()


class ZeroStage(torch.nn.Module):
    def forward(self, x, mask):
        return torch.zeros_like(x)


def test_pathway_stages_are_residual():
    """With every GoL / LoL stage contributing zero, a pathway is its CQA on the masked clip features."""
    model = make_model().eval()
    batch = random_batch()
    pathway = model.exploitation
    for stages in (pathway.before, pathway.after):
        for i in range(len(stages)):
            stages[i] = ZeroStage()
    with torch.no_grad():
        f_q, _ = model.encode_query(batch["words"], batch["word_mask"])
        f_v = model.encode_video(batch["video"], batch["video_mask"])
        out = pathway(f_v, batch["video_mask"], f_q, batch["word_mask"])
        expected = pathway.cqa(f_v, f_q, batch["video_mask"], batch["word_mask"])
    valid = batch["video_mask"].unsqueeze(-1)
    torch.testing.assert_close(out, expected * valid, atol=ATOL, rtol=0)


def test_query_skip_adds_a_linear_map_of_the_word_vectors():
    model = make_model(query_skip=True).eval()
    batch = random_batch()
    with torch.no_grad():
        f_q, _ = model.encode_query(batch["words"], batch["word_mask"])
        skip = model.query_skip(model.embedding(batch["words"]))
        model.query_skip.weight.zero_()
        model.query_skip.bias.zero_()
        f_q_without, _ = model.encode_query(batch["words"], batch["word_mask"])
    valid = batch["word_mask"].unsqueeze(-1)
    torch.testing.assert_close(f_q - f_q_without, skip * valid, atol=ATOL, rtol=0)
    assert make_model().query_skip is None  # the paper's encoder by default


def test_unknown_select_mode_is_rejected():
    with pytest.raises(ValueError, match="select"):
        make_model().eval()(*model_inputs(random_batch()), select="first")


OVERFIT_LR, OVERFIT_MAX_STEPS = 5e-3, 200


@TEXT
def test_overfits_16_synthetic_samples_to_perfect_recall():
    batch, vectors, video_dim = synthetic_overfit_set()
    assert recall_at_07(batch["start_idx"], batch["end_idx"], batch) == 100.0  # the labels themselves reach it
    torch.manual_seed(0)
    config = small_config(
        "dp", num_scales=2, video_dim=video_dim, vocab_size=vectors.shape[0], word_dim=vectors.shape[1]
    )
    steps = steps_to_perfect_recall(build_model(config, vectors), batch, OVERFIT_LR, OVERFIT_MAX_STEPS)
    assert steps is not None, f"R@1 IoU=0.7 below 100% after {OVERFIT_MAX_STEPS} steps"


def test_eamat_fields_are_not_dp_fields():
    with pytest.raises(KeyError, match="eamat.align_weight"):
        Config().set("dp.align_weight", 1.0)


def test_block_counts_and_kernel_lists_are_set_per_network():
    """GoL / LoL / SpL / TeN stack their own number of blocks; LoL and SpL have their own kernel lists."""
    counts = {"gol_blocks": 2, "lol_blocks": 3, "spl_blocks": 1, "ten_blocks": 1}
    lol_kernels, spl_kernels = [3, 5, 7, 9], [3, 5]
    model = make_model(**counts, lol_kernels=lol_kernels, spl_kernels=spl_kernels)
    exploit, explore = model.exploitation, model.exploration
    stages = lambda path: [type(m).__name__ for m in (*path.before, *path.after)]
    gol, lol = ["GlobalMotion"] * counts["gol_blocks"], ["MultiScaleTemporalConv"] * counts["lol_blocks"]
    spl, ten = ["MultiScaleTemporalConv"] * counts["spl_blocks"], ["GlobalMotion"] * counts["ten_blocks"]
    assert stages(exploit) == gol + lol + lol + gol  # F_e1 = GoL(LoL(CQA(LoL(GoL(F_v)))))
    assert stages(explore) == spl + ten + spl + ten  # F_e2 = TeN(SpL(CQA(TeN(SpL(F_v)))))
    kernels = lambda stage: [conv.kernel_size[0] for conv in stage.convs]
    assert all(kernels(m) == lol_kernels for m in exploit.before if hasattr(m, "convs"))
    assert all(kernels(m) == spl_kernels for m in explore.before if hasattr(m, "convs"))
    batch = random_batch()
    assert model(*model_inputs(batch))["start_logits"].shape == batch["video_mask"].shape
    with pytest.raises(ValueError, match="dp.lol_blocks must be >= 1"):
        make_model(lol_blocks=0)


@pytest.mark.parametrize("pathways, index", [("exploitation", EXPLOITATION), ("exploration", EXPLORATION)])
def test_one_module_only_ablations(pathways, index):
    """Table III's 'exploitation module only' / 'exploration module only': one pathway, no selection."""
    model = make_model(pathways=pathways)
    other = "exploration" if pathways == "exploitation" else "exploitation"
    assert hasattr(model, pathways) and not hasattr(model, other)
    assert not hasattr(model, "path_fc") and not hasattr(model, "token_weight")
    batch = random_batch()
    out = model(*model_inputs(batch))
    assert out["path"].tolist() == [index] * batch["video"].shape[0] and "path_logits" not in out
    model.loss(out, batch)[0].backward()
    assert_every_parameter_learns(model)
    model.eval()
    assert model(*model_inputs(batch))["path"].tolist() == [index] * batch["video"].shape[0]


@pytest.mark.cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_kernels_match_the_reference_ops(dtype, device):
    """Whole Dynamic Pathway training step with the compiled Triton kernels against the reference ops -- loss, logits
    and every gradient; fp32 with TF32 off, bf16 against a bf16-autocast reference.  (At the benchmark's shapes:
    bench/tests/test_model_parity.py.)"""
    assert_model_parity(make_model(), random_batch(), device, dtype)

