"""Parameter counts per component at the Charades-STA presets, against closed forms (docs/parameter-counts.md).

EAMAT: every component must have exactly the parameters of the authors' module it replaces (their public code,
github.com/shuoyang129/eamat at 9329f8a, ``models/EAMAT/{EAMAT,attention,encoder,fusion,layers,operation}.py``
with ``experiments/charades/EAMAT.yaml``).  The closed forms below restate their module definitions as
arithmetic; nothing of their code is used.  The two known differences are asserted too: our learned ``<unk>``
vector (the authors look the word vectors up outside the model), and their ``entity_prediction_layer``, built
but never called, which we do not build.

Dynamic Pathway has no public code: its components are counted against the paper's equations (Eq. 1-16) with
the readings of ``docs/design.md`` §4.2 for the sizes the paper leaves open.

The frozen word-vector table is counted apart: its size is the vocabulary's (here 10000 words x 300).
No forward pass runs; building both d = 512 models takes a few seconds on CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from engine import build_model, count_parameters
from engine.config import Config

CONFIGS = Path(__file__).resolve().parents[2] / "train" / "configs"

# The papers' Charades-STA configuration (and the authors' experiments/charades/EAMAT.yaml).
D, HEADS, S, DV, DW = 512, 8, 3, 1024, 300  # width, heads, MS-LSTM scales, I3D width, GloVe 840B width
ENTITY_LAYERS, POST_LAYERS = 3, 3  # early_attention_layers, post_attention_layers
VOCAB = 10_000  # any: only the frozen table depends on it
DP_KERNELS = (3, 5, 7)  # DP: "the kernel sizes of temporal convolutional blocks are set to 3, 5, and 7"


# ---------------------------------------------------------------------------------------------------------------
# Closed forms of the layer types (weights + biases)
# ---------------------------------------------------------------------------------------------------------------
def linear(n_in: int, n_out: int) -> int:
    """``nn.Linear`` with bias, or the authors' ``Conv1D`` (an ``nn.Conv1d`` with kernel_size 1 and bias)."""
    return n_in * n_out + n_out


def conv1d(n_in: int, n_out: int, k: int) -> int:
    return n_in * n_out * k + n_out


def layer_norm(d: int) -> int:
    return 2 * d


def lstm_direction(n_in: int, hidden: int) -> int:
    """One direction of one ``nn.LSTM`` layer: W_ih (4H, in), W_hh (4H, H), b_ih, b_hh (4H)."""
    return 4 * hidden * (n_in + hidden + 2)


def bilstm(n_in: int, hidden: int) -> int:
    return 2 * lstm_direction(n_in, hidden)


# ---------------------------------------------------------------------------------------------------------------
# The authors' EAMAT modules (Charades config: num_layers 1, num_step 3, bi_direction True)
# ---------------------------------------------------------------------------------------------------------------
def projection(n_in: int, d: int) -> int:
    """layers.Projection: Dropout -> Conv1D(in, d) -> LayerNorm(d)."""
    return linear(n_in, d) + layer_norm(d)


def prediction(d: int, n_out: int) -> int:
    """layers.Prediction: Conv1D(d, d/2) -> GELU -> Dropout -> Conv1D(d/2, out)."""
    return linear(d, d // 2) + linear(d // 2, n_out)


def multi_step_lstm_encoder(d: int, steps: int) -> int:
    """encoder.MultiStepLSTMEncoder: LayerNorm(d), ``steps`` BiLSTMs (d -> d/2 per direction), Conv1D(steps*d, d)."""
    return layer_norm(d) + steps * bilstm(d, d // 2) + linear(steps * d, d)


def multi_head_attention(d: int) -> int:
    """attention.MultiHeadAttention: Conv1D query/key/value, layer_norm1/2, out_layer1/2 (no output projection)."""
    return 3 * linear(d, d) + 2 * layer_norm(d) + 2 * linear(d, d)


def multi_lstm_attention(d: int, steps: int) -> int:
    """attention.MultiLSTMAttention: MultiHeadAttention with MultiStepLSTMEncoder query/key/value."""
    return 3 * multi_step_lstm_encoder(d, steps) + 2 * layer_norm(d) + 2 * linear(d, d)


def cq_fusion(d: int) -> int:
    """fusion.CQFusion: w4C (d, 1), w4Q (d, 1), w4mlu (1, 1, d), cqa_linear Conv1D(4d, d)."""
    return 3 * d + linear(4 * d, d)


AUTHORS_EAMAT = {  # module name in the authors' EAMAT -> parameters at the Charades config
    "query_affine": projection(DW, D),
    "video_affine": projection(DV, D),
    "query_encoder": 1 * multi_lstm_attention(D, S),  # query_attention_layers: 1, MultiLSTMAttention
    "video_encoder": 1 * multi_head_attention(D),  # video_attention_layers: 1, MultiHeadAttention
    "early_fusion_layer": cq_fusion(D),
    "early_encoder": ENTITY_LAYERS * multi_head_attention(D),  # early_attention_layers: 3
    "fg_prediction_layer": prediction(D, 1),
    "video_encoder2": 1 * multi_lstm_attention(D, S),  # video_attention_layers copies of the post block
    "fusion_layer": cq_fusion(D),
    "post_attention_layer": POST_LAYERS * multi_lstm_attention(D, S),  # post_attention_layers: 3
    "starting+ending+intering": 3 * prediction(D, 1),
    "entity_prediction_layer": prediction(D, 3),  # built, never called in forward
}
EAMAT_COUNTERPART = {  # our top-level submodule -> the authors' module with the same role
    "query_proj": "query_affine",
    "video_proj": "video_affine",
    "query_encoder": "query_encoder",
    "entity_video": "video_encoder",
    "entity_cqa": "early_fusion_layer",
    "entity_blocks": "early_encoder",
    "pe_head": "fg_prediction_layer",
    "motion_video": "video_encoder2",
    "motion_cqa": "fusion_layer",
    "motion_blocks": "post_attention_layer",
    "heads": "starting+ending+intering",
}
UNUSED_BY_AUTHORS = ("entity_prediction_layer",)


# ---------------------------------------------------------------------------------------------------------------
# Dynamic Pathway per the paper's equations (no public code); sizes the paper leaves open: docs/design.md §4.2
# ---------------------------------------------------------------------------------------------------------------
def dp_ms_lstm(d: int, scales: int) -> int:
    """Eq. 3-4: S BiLSTMs (d/2 per direction, so each scale outputs d) and FFN_3 (S*d -> d, one Linear),
    plus the input LayerNorm kept from EAMAT's MultiStepLSTMEncoder."""
    return layer_norm(d) + scales * bilstm(d, d // 2) + linear(scales * d, d)


def dp_msab(d: int) -> int:
    """Eq. 5: FC_Q, FC_K, FC_V (d -> d), LN, FFN_4 (Linear d -> d, GELU, Linear d -> d)."""
    return 3 * linear(d, d) + layer_norm(d) + 2 * linear(d, d)


def dp_gol(d: int, scales: int) -> int:
    """Eq. 6 / 11: GoL = TeN = MS-LSTM + MSAB."""
    return dp_ms_lstm(d, scales) + dp_msab(d)


def dp_lol(d: int, kernels: tuple[int, ...]) -> int:
    """Eq. 7 / 10: LoL = SpL = K Conv1d (d -> d, kernel k) and FFN_5 (Linear K*d -> d, ReLU, Linear d -> d)."""
    return sum(conv1d(d, d, k) for k in kernels) + linear(len(kernels) * d, d) + linear(d, d)


def dp_cqa(d: int) -> int:
    """Eq. 8: trilinear SIM (w_c, w_q, w_m of VSLNet's CQA) and FFN_6 (4d -> d, one Linear)."""
    return 3 * d + linear(4 * d, d)


def dp_pathway(d: int, scales: int, kernels: tuple[int, ...]) -> int:
    """Eq. 9 (and 12): one GoL (TeN) and one LoL (SpL) before and after the CQA."""
    return 2 * dp_gol(d, scales) + 2 * dp_lol(d, kernels) + dp_cqa(d)


PAPER_DP = {  # our top-level submodule -> parameters from the paper's equations
    "embedding": DW,  # the learned <unk> vector (trainable part of the embedding)
    "query_lstm": bilstm(DW, D // 2) + 2 * bilstm(D, D // 2),  # Eq. 1: 3-layer BiLSTM
    "query_ffn": linear(D, D),  # Eq. 1: FFN_1 = Linear + ReLU
    "token_weight": linear(D, D // 2) + linear(D // 2, 1),  # Eq. 1: FC_1 (d/2), FC_2 (1)
    "video_ffn": linear(DV, D) + 2 * D,  # Eq. 2: FFN_2 = Linear + LayerNorm + ReLU
    "exploitation": dp_pathway(D, S, DP_KERNELS),  # Eq. 3-9
    "exploration": dp_pathway(D, S, DP_KERNELS),  # Eq. 10-12
    "path_fc": linear(D, 2),  # Eq. 13: FC_3
    "heads": 3 * (linear(D, D // 2) + linear(D // 2, 1)),  # Eq. 15-16: FC_4..FC_9
}


# ---------------------------------------------------------------------------------------------------------------
def charades_preset(name: str) -> Config:
    """A Charades-STA preset with the papers' 300-d word vectors and a 10000-word vocabulary, reference kernels."""
    cfg = Config.load(CONFIGS / f"{name}-charades.yaml")
    cfg.model.vocab_size, cfg.model.word_dim, cfg.model.kernels = VOCAB, DW, "reference"
    return cfg


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def components(model: nn.Module) -> dict[str, int]:
    """Trainable parameters per top-level submodule (those that hold any)."""
    counts = {name: trainable(child) for name, child in model.named_children()}
    return {name: n for name, n in counts.items() if n}


@pytest.fixture(scope="module")
def eamat() -> nn.Module:
    return build_model(charades_preset("eamat"))


@pytest.fixture(scope="module")
def dp() -> nn.Module:
    return build_model(charades_preset("dp"))


@pytest.mark.parametrize("name", ["eamat", "dp"])
def test_presets_are_the_papers_charades_configuration(name):
    cfg = charades_preset(name)
    m = cfg.own
    assert (cfg.model.dim, cfg.model.num_heads, m.num_scales, cfg.model.video_dim) == (D, HEADS, S, DV)
    if name == "eamat":
        assert (m.entity_blocks, m.motion_blocks) == (ENTITY_LAYERS, POST_LAYERS)
    else:
        assert (m.query_lstm_layers, tuple(m.lol_kernels), tuple(m.spl_kernels)) == (3, DP_KERNELS, DP_KERNELS)
        assert (m.gol_blocks, m.lol_blocks, m.spl_blocks, m.ten_blocks) == (1, 1, 1, 1)


def test_eamat_components_match_the_authors_modules(eamat):
    ours = components(eamat)
    assert set(ours) == set(EAMAT_COUNTERPART) | {"embedding"}, "EAMAT's top-level components changed"
    mismatched = {
        name: (ours[name], AUTHORS_EAMAT[theirs])
        for name, theirs in EAMAT_COUNTERPART.items()
        if ours[name] != AUTHORS_EAMAT[theirs]
    }
    assert not mismatched, f"component -> (ours, authors'): {mismatched}"


def test_eamat_totals_differ_from_the_authors_by_unk_and_the_unused_layer(eamat):
    ours = components(eamat)
    assert ours["embedding"] == DW  # the learned <unk> vector; the authors' model has no embedding
    authors_total = sum(AUTHORS_EAMAT.values())
    unused = sum(AUTHORS_EAMAT[name] for name in UNUSED_BY_AUTHORS)
    counts = count_parameters(eamat)
    assert counts["trainable"] == authors_total - unused + DW
    assert counts["frozen"] == VOCAB * DW  # the GloVe table, a buffer
    assert counts["trainable"] == 93_989_680 and authors_total == 94_121_479  # the numbers of the doc's table


def test_eamat_blocks_have_the_authors_structure(eamat):
    """Finer grain: every LSTM Transformer block and MS-LSTM encoder, standard block and CQA."""
    for blk in [eamat.query_encoder, eamat.motion_video, *eamat.motion_blocks]:
        assert trainable(blk) == multi_lstm_attention(D, S)
        for encoder in (blk.q, blk.k, blk.v):
            assert trainable(encoder) == multi_step_lstm_encoder(D, S)
            assert [tuple(lstm.weight_hh_l0.shape) for lstm in encoder.lstms] == [(4 * D // 2, D // 2)] * S
    for blk in [eamat.entity_video, *eamat.entity_blocks]:
        assert trainable(blk) == multi_head_attention(D)
    for cqa in (eamat.entity_cqa, eamat.motion_cqa):
        assert trainable(cqa) == cq_fusion(D)


def test_dp_components_match_the_papers_equations(dp):
    ours = components(dp)
    assert set(ours) == set(PAPER_DP), "Dynamic Pathway's top-level components changed"
    mismatched = {name: (ours[name], PAPER_DP[name]) for name in PAPER_DP if ours[name] != PAPER_DP[name]}
    assert not mismatched, f"component -> (ours, paper): {mismatched}"
    counts = count_parameters(dp)
    assert counts["trainable"] == sum(PAPER_DP.values()) == 54_979_890
    assert counts["frozen"] == VOCAB * DW


def test_dp_pathway_stages_match_the_papers_equations(dp):
    for pathway in (dp.exploitation, dp.exploration):
        stages = [*pathway.before, *pathway.after]
        assert len(stages) == 4
        motion = [s for s in stages if hasattr(s, "ms_lstm")]  # GoL / TeN
        conv = [s for s in stages if hasattr(s, "convs")]  # LoL / SpL
        assert len(motion) == len(conv) == 2
        for stage in motion:
            assert trainable(stage.ms_lstm) == dp_ms_lstm(D, S)
            assert trainable(stage.msab) == dp_msab(D)
        for stage in conv:
            assert trainable(stage) == dp_lol(D, DP_KERNELS)
        assert trainable(pathway.cqa) == dp_cqa(D)


def test_frozen_table_is_a_buffer_not_a_parameter(eamat, dp):
    for model in (eamat, dp):
        assert tuple(model.embedding.vectors.shape) == (VOCAB, DW)
        assert not any(p.numel() == VOCAB * DW for p in model.parameters())
        assert "vectors" in dict(model.embedding.named_buffers())
