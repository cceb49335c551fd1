"""Portable ONNX export: parity with PyTorch at shapes other than the traced one, lengths that stay
dynamic, the ONNX localizer, the embedded metadata."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from engine import Localizer
from engine.checkpoint import load_trained
from engine.config import Config, ModelConfig
from export import OnnxLocalizer, export_onnx
from export.graph import random_inputs
from export.onnx_export import read_onnx_metadata
from export.runtime import OnnxGraph
from kernels.parity import EXPORT_FP32_ATOL as PROB_ATOL
from tests.export.conftest import EXAMPLE, Exported
from tests.export.legacy import without_query_row
from tests.export.tiny import ITOS, MAX_CLIPS, MAX_WORDS, VIDEO_DIM, tiny_config
from tests.markers import NLTK

EXAMPLE_CLIPS = EXAMPLE[1]
# (batch, clips, words): shorter and longer than the example, and the config's maxima
OTHER_SHAPES = [(1, EXAMPLE_CLIPS // 2, 2), (3, 3 * EXAMPLE_CLIPS - 1, MAX_WORDS - 1), (5, MAX_CLIPS, MAX_WORDS)]
QUERY = "the person opens the door and holds a cup"
PATH_BATCH = 16
LEGACY_BATCH = 5  # rows asking 3 queries


def brute_force(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Independent oracle: probabilities and best span (s <= e, both valid) from the model's logits in numpy."""
    with torch.no_grad():
        out = model(*inputs.values())
    valid = inputs["video_mask"].numpy()
    probs = []
    for key in ("start_logits", "end_logits"):
        logits = np.where(valid, out[key].double().numpy(), -np.inf)
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs.append(e / e.sum(1, keepdims=True))
    joint = probs[0][:, :, None] * probs[1][:, None, :]
    T = valid.shape[1]
    allowed = np.triu(np.ones((T, T), bool))[None] & valid[:, :, None] & valid[:, None, :]
    flat = np.where(allowed, joint, -1.0).reshape(len(joint), -1).argmax(1)
    return {"start_prob": probs[0], "end_prob": probs[1], "start_idx": flat // T, "end_idx": flat % T}


@pytest.mark.parametrize("shape", OTHER_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_exported_graph_matches_pytorch_at_other_shapes(exported: Exported, shape: tuple[int, int, int]):
    model, config, _ = load_trained(exported.checkpoint)
    inputs = random_inputs(config.model, *shape, torch.Generator().manual_seed(sum(shape)))
    got = OnnxGraph(exported.onnx)(inputs)
    want = brute_force(model, inputs)
    for name in ("start_prob", "end_prob"):
        np.testing.assert_allclose(got[name], want[name], atol=PROB_ATOL, rtol=0)
    np.testing.assert_array_equal(got["start_idx"], want["start_idx"])
    np.testing.assert_array_equal(got["end_idx"], want["end_idx"])


def test_lengths_stay_dynamic(exported: Exported):
    """The torch 2.13 trap: an exporter that unrolls the LSTMs freezes the traced length.  Here every LSTM
    node takes per-sample ``sequence_lens``, every batch / query / clip / word axis is symbolic, and no ``If``
    (whose branches' ranks could differ, which TensorRT rejects) remains."""
    proto = onnx.load(str(exported.onnx))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims["video"] == ["batch", "clips", VIDEO_DIM]
    assert dims["video_mask"] == ["batch", "clips"] and dims["query_row"] == ["batch"]
    assert dims["words"] == dims["word_mask"] == ["queries", "words"]
    lstms = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert lstms and all(len(n.input) > 4 and n.input[4] for n in lstms)  # input 4 = sequence_lens
    assert not [n.name for n in proto.graph.node if n.op_type == "If"]


@pytest.mark.parametrize("batch", [1, 2, LEGACY_BATCH])
def test_random_inputs_ask_fewer_queries_than_rows_and_every_query(batch: int):
    inputs = random_inputs(tiny_config("eamat").model, batch, EXAMPLE_CLIPS, MAX_WORDS, torch.Generator())
    queries = inputs["words"].shape[0]
    assert queries < batch or queries == batch == 1
    assert inputs["word_mask"].shape == inputs["word_class"].shape == (queries, MAX_WORDS)
    assert inputs["query_row"].shape == (batch,) and set(inputs["query_row"].tolist()) == set(range(queries))
    assert inputs["video_mask"][0].all() and inputs["word_mask"][-1].all()  # the padded sizes are real


def test_an_export_from_before_query_row_gets_each_rows_query(exported: Exported, tmp_path):
    """A file exported before the graphs took ``query_row`` takes one query per row: OnnxGraph picks each row's
    query for it, and the old graph answers as the new one."""
    legacy = OnnxGraph(without_query_row(exported.onnx, tmp_path / "legacy.onnx"))
    assert "query_row" not in legacy.input_names and "words" in legacy.input_names
    config = tiny_config(exported.name)
    inputs = random_inputs(config.model, LEGACY_BATCH, MAX_CLIPS, MAX_WORDS, torch.Generator().manual_seed(5))
    want = OnnxGraph(exported.onnx)(inputs)
    got = legacy(inputs)
    assert got.keys() == want.keys()
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=PROB_ATOL, rtol=0, err_msg=name)


def test_cli_prints_a_passing_parity_table_export_time_and_latency(exported: Exported):
    lines = exported.log.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("batch"))) + 1:]
    rows = [line.split() for line in table if line.split() and line.split()[0].isdigit()]
    assert len(rows) >= 3 and all(row[-1] == "ok" for row in rows)
    shapes = {tuple(int(n) for n in row[:3]) for row in rows}
    assert any(t < EXAMPLE_CLIPS for _, t, _ in shapes) and any(t > EXAMPLE_CLIPS for _, t, _ in shapes)
    assert all(float(row[3]) <= PROB_ATOL and row[4] == "True" for row in rows)
    assert "ONNX export:" in exported.log and "latency" in exported.log
    assert sorted(p.name for p in exported.onnx.parent.iterdir()) == ["best.onnx", "best.pt"]  # no temp files


@NLTK
def test_onnx_localizer_predicts_like_the_engine_localizer(exported: Exported):
    reference = Localizer.from_checkpoint(exported.checkpoint, device="cpu")
    localizer = OnnxLocalizer(exported.onnx)
    rng = np.random.default_rng(0)
    for clips, windows in ((MAX_CLIPS // 2, "auto"), (3 * MAX_CLIPS, "auto"), (3 * MAX_CLIPS, "resample")):
        for runtime in (localizer, reference):  # sliding windows, then the same video resampled to max_clips
            runtime.config.infer.windows = windows
        features = rng.normal(size=(clips, VIDEO_DIM)).astype(np.float32)
        got = localizer.predict(features, QUERY, duration=42.0, k=5)
        want = reference.predict(features, QUERY, duration=42.0, k=5)
        assert [g[:2] for g in got] == [w[:2] for w in want]
        np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=PROB_ATOL)


def test_metadata_carries_config_and_vocabulary(exported: Exported):
    metadata = read_onnx_metadata(exported.onnx)
    _, config, vocab = load_trained(exported.checkpoint)
    assert metadata["variant"] == "portable" and metadata["vocab"] == vocab.itos == ITOS
    assert Config.from_dict(metadata["config"]).to_dict() == config.to_dict()
    expected = ["start_prob", "end_prob", "start_idx", "end_idx", "score", "presence", "inner_logits"] + (
        ["path"] if exported.name == "dp" else [])
    assert metadata["outputs"] == expected == [o.name for o in onnx.load(str(exported.onnx)).graph.output]


class EchoLogits(nn.Module):
    """A stand-in model whose start / end / inner logits are video channels 0 / 1 / 2 (so a test can place the
    peaks)."""

    config = ModelConfig()  # the network contract (engine.models.spec): it stands in for the default model

    def forward(self, video, video_mask, words, word_mask, word_class=None, query_row=None):
        return {"start_logits": video[..., 0], "end_logits": video[..., 1], "inner_logits": video[..., 2],
                "presence_logits": video[..., 2].amax(-1)}


def test_span_decoding_in_the_graph_follows_the_length(tmp_path):
    """A span longer than the traced example must still be found: the decoding's T is not frozen."""
    config = tiny_config("eamat")
    path = export_onnx(EchoLogits(), config, ITOS, tmp_path / "echo.onnx", example=EXAMPLE)
    clips = 3 * EXAMPLE_CLIPS
    inputs = random_inputs(config.model, 1, clips, 2, torch.Generator().manual_seed(0))
    inputs["video_mask"][:] = True
    inputs["video"][:] = 0.0
    inputs["video"][0, 1, 0] = inputs["video"][0, clips - 2, 1] = 20.0  # start peak at 1, end peak at T - 2
    out = OnnxGraph(path)(inputs)
    assert (out["start_idx"][0], out["end_idx"][0]) == (1, clips - 2)


@pytest.mark.parametrize("exported", ["dp"], indirect=True)
def test_dp_export_runs_each_samples_own_pathway(exported: Exported):
    """Both pathways computed, each sample's chosen with Where: matches eager DP, which runs each
    pathway on only the samples that chose it (``select="gather"``)."""
    model, config, _ = load_trained(exported.checkpoint)
    inputs = random_inputs(config.model, PATH_BATCH, MAX_CLIPS // 2, MAX_WORDS, torch.Generator().manual_seed(7))
    got = OnnxGraph(exported.onnx)(inputs)
    with torch.no_grad():
        want = model(*inputs.values())["path"].numpy()
    assert set(want.tolist()) == {0, 1}  # both pathways occur in this batch
    np.testing.assert_array_equal(got["path"], want)
    np.testing.assert_allclose(got["start_prob"], brute_force(model, inputs)["start_prob"], atol=PROB_ATOL, rtol=0)
