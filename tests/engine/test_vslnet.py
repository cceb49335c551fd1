"""VSLNet: shapes, padding invariance, the highlight target and the loss on absent rows, fused-CQA parity, learning
a batch, ONNX export with ONNX Runtime parity, registry and presets."""

import contextlib
import io

import numpy as np
import pytest
import torch

from engine.config import Config
from engine.heads import MASKED_LOGIT, boundary_loss, weighted_bce
from engine.models import build_model, model_names, model_spec
from engine.models.vslnet import VSLNet
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
from train.cli import PRESETS_DIR
from train.cli import main as train_main

ATOL = 1e-5
B = 4  # random_batch's rows
OUTPUTS = {"start_logits", "end_logits", "inner_logits", "presence_logits"}
SPAN_BIASES = ("predictor.start_ffn.2.bias", "predictor.end_ffn.2.bias")  # shift every logit alike: CE ignores them
PRESETS = ("vslnet-synthetic", "vslnet-charades", "vslnet-tacos")


def make_model(**overrides) -> VSLNet:
    torch.manual_seed(0)
    return build_model(small_config("vslnet", **overrides), word_vectors())


def test_output_shapes_and_masked_boundaries():
    batch = random_batch()
    out = make_model()(*model_inputs(batch))
    assert set(out) == OUTPUTS
    for name, value in out.items():
        assert value.shape == ((B,) if name == "presence_logits" else (B, T)) and torch.isfinite(value).all()
    padded = ~batch["video_mask"]
    assert (out["start_logits"][padded] == MASKED_LOGIT).all() and (out["end_logits"][padded] == MASKED_LOGIT).all()
    inner = out["inner_logits"].masked_fill(padded, float("-inf"))
    torch.testing.assert_close(out["presence_logits"], inner.amax(-1))
    assert make_model().encode_query(batch["words"], batch["word_mask"]).shape == (B, N, DIM)


def test_padding_does_not_change_valid_outputs():
    model = make_model(dropout=0.3).eval()
    batch = random_batch()
    with torch.no_grad():
        a, b = model(*model_inputs(batch)), model(*model_inputs(repadded(batch)))
    assert_valid_outputs_close(a, b, batch["video_mask"], ATOL)
    torch.testing.assert_close(a["presence_logits"], b["presence_logits"], atol=ATOL, rtol=0)


def test_word_classes_play_no_role():
    model = make_model().eval()
    inputs = model_inputs(random_batch())
    other_classes = (inputs[4] + 1) % 3 * inputs[3]
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs[:4], other_classes)["start_logits"], model(*inputs)["start_logits"])
        torch.testing.assert_close(model(*inputs[:4], None)["end_logits"], model(*inputs)["end_logits"])


def test_every_trainable_parameter_gets_a_gradient():
    model = make_model(dropout=0.1)
    batch = random_batch()
    loss, parts = model.loss(model(*model_inputs(batch)), batch)
    assert set(parts) == {"boundary", "inner", "total"}
    loss.backward()
    assert_every_parameter_learns(model, skip=SPAN_BIASES)


def test_highlight_target_extends_the_moment_inside_the_valid_clips():
    """round(extension * length) clips on each side (half to even, as Python's round in the authors' code)."""
    mask = torch.arange(30) < torch.tensor([30, 30, 22, 30])[:, None]
    batch = dict(video_mask=mask, start_idx=torch.tensor([10, 0, 15, 7]), end_idx=torch.tensor([19, 4, 21, 11]))
    got = make_model(highlight_extension=0.2).highlight_target(batch)
    # lengths 10, 5, 7, 5 -> 2, 1, 1 (1.4), 1 clips on each side; cut to [0, valid length)
    spans = [(8, 21), (0, 5), (14, 21), (6, 12)]
    want = torch.stack([(torch.arange(30) >= s) & (torch.arange(30) <= e) for s, e in spans]).float()
    torch.testing.assert_close(got, want)
    no_extension = make_model(highlight_extension=0.0).highlight_target(batch)
    want_plain = torch.stack([(torch.arange(30) >= s) & (torch.arange(30) <= e)
                              for s, e in zip(batch["start_idx"], batch["end_idx"], strict=True)]).float()
    torch.testing.assert_close(no_extension, want_plain)


def test_loss_on_absent_rows():
    """Rows without the target: no boundary term, an all-negative highlight target; their indices play no role."""
    model = make_model()
    batch = random_batch()
    present = torch.tensor([True, False, True, False])
    batch = {**batch, "present": present, "inner": batch["inner"] * present[:, None]}
    out = model(*model_inputs(batch))
    _, parts = model.loss(out, batch)
    target = model.highlight_target(batch)
    assert target[~present].sum() == 0 and target[present].sum() > 0
    want_boundary = boundary_loss(out["start_logits"][present], out["end_logits"][present],
                                  batch["start_idx"][present], batch["end_idx"][present])
    assert parts["boundary"] == pytest.approx(want_boundary.item(), abs=ATOL)
    want_inner = weighted_bce(out["inner_logits"], target, batch["video_mask"], model.config.bce_pos_weight)
    assert parts["inner"] == pytest.approx(want_inner.item(), abs=ATOL)
    moved = {**batch, "start_idx": batch["start_idx"].where(present, 0), "end_idx": batch["end_idx"].where(present, 0)}
    assert model.loss(out, moved)[1] == parts


def test_longer_input_than_the_positional_table_names_the_field():
    model = make_model(max_positions=T - 1)
    with pytest.raises(ValueError, match="vslnet.max_positions"):
        model(*model_inputs(random_batch()))


def test_fused_cqa_matches_the_reference_ops(device):
    """A whole VSLNet training step with the fused CQA ("triton": the interpreter on CPU, the compiled kernels with
    --device cuda) against the reference ops: loss, logits and every gradient (kernels.parity's rule)."""
    assert_model_parity(make_model(), random_batch(), device)


OVERFIT_LR, OVERFIT_MAX_STEPS = 5e-3, 150


@TEXT
def test_overfits_16_synthetic_samples_to_perfect_recall():
    batch, vectors, video_dim = synthetic_overfit_set()
    assert recall_at_07(batch["start_idx"], batch["end_idx"], batch) == 100.0  # the labels themselves reach it
    torch.manual_seed(0)
    config = small_config("vslnet", video_dim=video_dim, vocab_size=vectors.shape[0], word_dim=vectors.shape[1])
    steps = steps_to_perfect_recall(build_model(config, vectors), batch, OVERFIT_LR, OVERFIT_MAX_STEPS)
    assert steps is not None, f"R@1 IoU=0.7 below 100% after {OVERFIT_MAX_STEPS} steps"


def test_exports_to_onnx_with_onnx_runtime_parity(tmp_path):
    """``python -m export --ckpt RUN`` verifies the graph against PyTorch with ONNX Runtime (exit 0 = every shape
    within kernels.parity's tolerance); then the file runs at a shape it was not traced or verified at."""
    from export.cli import main as export_main
    from export.graph import InferenceGraph, random_inputs
    from export.runtime import OnnxGraph
    from kernels.parity import EXPORT_FP32_ATOL
    from tests.export.tiny import write_checkpoint

    write_checkpoint(tmp_path / "best.pt", "vslnet")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        code = export_main(["--ckpt", str(tmp_path), "--example", "2,8,4", "--seed", "0"])
    assert code == 0, log.getvalue()
    from engine.checkpoint import load_trained

    model, config, _ = load_trained(tmp_path / "best.pt")
    inputs = random_inputs(config.model, 3, 13, 5, torch.Generator().manual_seed(7))
    got = OnnxGraph(tmp_path / "best.onnx")(inputs)
    graph = InferenceGraph(model)
    with torch.no_grad():
        want = dict(zip(graph.output_names, graph(*inputs.values()), strict=True))
    for name in ("start_prob", "end_prob", "presence"):
        np.testing.assert_allclose(got[name], want[name].numpy(), atol=EXPORT_FP32_ATOL, rtol=0)
    for name in ("start_idx", "end_idx"):
        np.testing.assert_array_equal(got[name], want[name].numpy())


def test_registered_with_its_section_and_presets(capsys):
    assert "vslnet" in model_names() and not model_spec("vslnet").deletes_unknown_pos
    assert train_main(["--config", "vslnet-synthetic", "--help-config"]) == 0
    text = capsys.readouterr().out
    assert "vslnet:" in text and "  highlight_extension: 0.1  #" in text
    for preset in PRESETS:
        cfg = Config.load(PRESETS_DIR / f"{preset}.yaml").validate()
        assert cfg.model.name == "vslnet" and isinstance(cfg.own, type(model_spec("vslnet").section()))
        assert cfg.own.max_positions >= cfg.data.max_clips, preset  # every window fits the positional table
        assert not cfg.data.drop_unknown_pos, preset
