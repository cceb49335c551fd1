"""EAMAT: entity-aware and motion-aware Transformers (Yang & Wu, IJCAI 2022; docs/design.md §3).

Data flow (B rows, Q <= B queries, T clips, N words, d = ``config.dim``; masks 1 = valid)::

    W   = FrozenWordEmbedding(words)                       (Q, N, word_dim)
    P   = LN(Linear(Dropout(W))) * word_mask               projected words (Q, N, d)
    F_q = LSTMTransformer_q(P)                             query encoder, one block (the code's choice)
    F_eq = F_q + P * e,  F_mq = F_q + P * m                e zeroes motion words, m zeroes entity words
    F_q, F_eq, F_mq, word_mask -> (B, N, .)                row i takes query query_row[i] (engine.models.spec)
    V   = LN(Linear(Dropout(video))) * video_mask          (B, T, d)
    F_ev = Transformer_e(V)                                entity branch, standard block x1
    X   = Transformer x entity_blocks (CQA_e(F_ev, F_eq))
    Pe  = sigmoid(MLP(X))                                  action-relevant score, "pe_logits" before the sigmoid
    F_mv = LSTMTransformer_m(V)                            motion branch, LSTM block x1
    G   = (F_mv + F_ev) * Pe   (gate "code")  |  F_mv * Pe   (gate "paper", Eq. 8)
    Y   = LSTMTransformer x motion_blocks (CQA_m(G, F_mq))
    start / end / inner logits = heads(Y)

Ablations of the paper's Table 3 (config): ``motion_block`` replaces every LSTM Transformer of the motion branch
(F_mv's block and the blocks after CQA_m) by a standard Transformer ("fc-transformer"), a Transformer whose Q/K/V
are multi-scale temporal convolutions ("conv-transformer"), or a residual multi-scale temporal convolution /
MS-LSTM layer ("conv" / "lstm", :class:`ResidualTemporalLayer`); ``entity_branch=False`` ("w/o EA Trans")
drops F_ev, CQA_e, the entity blocks and Pe: G = F_mv and the motion CQA reads ``F_q + P`` (every word).

Choices where the paper is silent (docs/design.md §3.2 records the rest):

* ``word_class`` 1 = entity, 2 = motion, 0 = other; ``None`` treats every word as "other", so both
  queries are ``F_q + P`` (the residual form of Eq. 2 with p^o = 1).
* ``<unk>`` (id 1) is a learned vector initialised to zero (:class:`FrozenWordEmbedding`); the frozen
  table is a buffer in the state_dict, sized ``(config.vocab_size, config.word_dim)`` when no
  ``word_vectors`` are given so a checkpoint can fill it.
* No positional embeddings (paper §3.2); padded clips/words are zeroed after the projections and
  never reach a valid position (key-padding masks, per-sample MS-LSTM lengths, masked CQA).
* Heads and Pe use GELU (the code) rather than the paper's ReLU; see :mod:`engine.heads`.
* Both projections are Dropout -> Linear -> LayerNorm, as the authors' ``Projection`` module.
* With ``align_weight > 0`` the outputs also carry ``"query_features"`` (F_q) and the two video features the
  authors' code aligns with it, ``"moment_features"`` (F_mv, motion branch) and ``"entity_features"`` (F_ev,
  entity branch), for the optional KL alignment term of :meth:`EAMAT.loss`.

Loss: the shared objective of :mod:`engine.heads` plus ``pe_weight * BCE_w(pe, y_in)`` (Pe against the inner
label) and, optionally, ``align_weight * (KL_align(F_q, F_mv) + KL_align(F_q, F_ev))``.  ``KL_align`` is the
authors' ``aligment_score`` (weight 100 in their runs): a sentence vector (mean of the query features over valid
words) and a moment vector (mean of the video features over the ground-truth clips) are L2-normalised;
``Sq = softmax_row(q qᵀ)`` and ``Sv = softmax_row(v vᵀ)`` over the batch; ``KL_align = (KL(Sv || Sq) + KL(Sq ||
Sv)) / 2`` summed over the batch rows: it pulls the batch's sentence-similarity structure towards that of their
moments.  As in the authors' training loop it is taken twice and summed, against F_mv and against F_ev, over the
rows that hold their target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import ModelConfig, Section, option
from engine.cqa import ContextQueryAttention
from engine.heads import GroundingHeads, ScoreHead, grounding_loss, weighted_bce
from engine.models.spec import Curve, ModelSpec, per_row, register
from engine.ms_lstm import MultiScaleLSTM, lengths_from_mask
from engine.temporal_conv import MultiScaleTemporalConv
from engine.text import ENTITY, MOTION
from engine.transformer import CONV_KERNELS, TransformerBlock
from engine.word_embedding import FrozenWordEmbedding

Gate = Literal["code", "paper"]
MotionBlock = Literal["lstm-transformer", "fc-transformer", "conv-transformer", "conv", "lstm"]
ALIGNED_OUTPUTS = ("query_features", "moment_features", "entity_features")  # F_q, then the video features


@dataclass
class EAMATConfig(Section):
    """EAMAT's own fields (the ``eamat`` section)."""

    SECTION = "eamat"

    num_scales: int = option(3, "MS-LSTM scales S (scale s runs its own BiLSTM at stride s)")
    entity_blocks: int = option(3, "standard Transformer blocks after the entity CQA (Charades 3, TACoS 1)")
    motion_blocks: int = option(3, "LSTM Transformer blocks after the motion CQA")
    gate: Gate = option("code", "the gate: code = (F_mv + F_ev) * Pe as the authors' code, paper = F_mv * Pe")
    motion_block: MotionBlock = option(
        "lstm-transformer", "the motion-aware blocks; the others are the paper's ablations (Table 3): "
        "fc-transformer ('FC Trans', a standard Transformer), conv-transformer ('T-Conv Trans', Q/K/V by temporal "
        "convolutions), conv ('T-Conv', a residual multi-scale temporal convolution), lstm ('LSTM', a residual "
        "MS-LSTM)")
    entity_branch: bool = option(
        True, "the entity-aware Transformer; false = the 'w/o EA Trans' ablation: the motion branch alone, "
        "reading every query word")
    pe_weight: float = option(1.0, "loss weight of the BCE of the action-relevance score Pe vs the inner label")
    align_weight: float = option(
        0.0, "loss weight of the optional KL video-text alignment term of the authors' code (100 there; 0 = off)")


def projection(in_dim: int, dim: int, dropout: float) -> nn.Sequential:
    """Dropout -> Linear -> LayerNorm (eps 1e-6), the authors' ``Projection`` of both modalities."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, dim), nn.LayerNorm(dim, eps=1e-6))


TRANSFORMER_QKV = {"lstm-transformer": "lstm", "fc-transformer": "linear", "conv-transformer": "conv"}


class ResidualTemporalLayer(nn.Module):
    """``(x + Dropout(layer(LN x))) * mask``: one multi-scale temporal layer where a Transformer block was
    (EAMAT's "T-Conv" and "LSTM" ablations).  ``kind`` "conv": kernels 3, 5, 7; "lstm": an MS-LSTM, whose own
    input LayerNorm is the LN."""

    def __init__(self, config: ModelConfig, num_scales: int, kind: str) -> None:
        super().__init__()
        d, p = config.dim, config.dropout
        self.kind = kind
        if kind == "lstm":
            self.norm, self.layer = nn.Identity(), MultiScaleLSTM(d, num_scales, p, config.kernels)
        else:
            self.norm, self.layer = nn.LayerNorm(d, eps=1e-6), MultiScaleTemporalConv(d, CONV_KERNELS, p)
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        out = self.layer(h, lengths_from_mask(mask)) if self.kind == "lstm" else self.layer(h, mask)
        return (x + self.dropout(out)) * (mask != 0).unsqueeze(-1).to(x.dtype)


class EAMAT(nn.Module):
    """``forward(video, video_mask, words, word_mask, word_class=None, query_row=None) -> dict`` of (B, T) logits
    ``start_logits``, ``end_logits``, ``inner_logits``, ``pe_logits``; ``loss(outputs, batch)``.  The Q queries are
    encoded once each, then taken per row (``query_row``, :mod:`engine.models.spec`)."""

    def __init__(self, config: ModelConfig, own: EAMATConfig, word_vectors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config, self.own = config.validate(), own.validate()
        d, p = config.dim, config.dropout

        def block(qkv: str) -> TransformerBlock:
            return TransformerBlock(d, config.num_heads, p, qkv, own.num_scales, config.kernels)

        def motion_block() -> nn.Module:
            kind = own.motion_block
            return (block(TRANSFORMER_QKV[kind]) if kind in TRANSFORMER_QKV
                    else ResidualTemporalLayer(config, own.num_scales, kind))

        self.embedding = FrozenWordEmbedding.from_config(config, word_vectors)
        self.query_proj = projection(self.embedding.vectors.shape[1], d, p)
        self.video_proj = projection(config.video_dim, d, p)
        self.query_encoder = block("lstm")
        if own.entity_branch:  # entity-aware branch
            self.entity_video = block("linear")
            self.entity_cqa = ContextQueryAttention(d, config.kernels)
            self.entity_blocks = nn.ModuleList(block("linear") for _ in range(own.entity_blocks))
            self.pe_head = ScoreHead(d, p)
        # motion-aware branch
        self.motion_video = motion_block()
        self.motion_cqa = ContextQueryAttention(d, config.kernels)
        self.motion_blocks = nn.ModuleList(motion_block() for _ in range(own.motion_blocks))
        self.heads = GroundingHeads(d, p)

    def encode_query(
        self, words: torch.Tensor, word_mask: torch.Tensor, word_class: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> F_q, F_eq, F_mq, each (Q, N, d) for the (Q, N) queries."""
        word_valid = (word_mask != 0).unsqueeze(-1)
        projected = self.query_proj(self.embedding(words)) * word_valid
        f_q = self.query_encoder(projected, word_mask)
        if word_class is None:
            return f_q, f_q + projected, f_q + projected
        entity_words = projected * (word_class != MOTION).unsqueeze(-1)
        motion_words = projected * (word_class != ENTITY).unsqueeze(-1)
        return f_q, f_q + entity_words, f_q + motion_words

    def forward(
        self, video: torch.Tensor, video_mask: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor,
        word_class: torch.Tensor | None = None, query_row: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        entity_branch = self.own.entity_branch
        queries = self.encode_query(words, word_mask, word_class if entity_branch else None)
        f_q, f_eq, f_mq, word_mask = per_row(query_row, *queries, word_mask)
        v = self.video_proj(video) * (video_mask != 0).unsqueeze(-1)
        f_mv = self.motion_video(v, video_mask)
        outputs: dict[str, torch.Tensor] = {}
        gated = f_mv
        if entity_branch:
            f_ev = self.entity_video(v, video_mask)
            x = self.entity_cqa(f_ev, f_eq, video_mask, word_mask)
            for blk in self.entity_blocks:
                x = blk(x, video_mask)
            outputs["pe_logits"] = pe_logits = self.pe_head(x)
            gated = (f_mv + f_ev if self.own.gate == "code" else f_mv) * torch.sigmoid(pe_logits).unsqueeze(-1)
        y = self.motion_cqa(gated, f_mq, video_mask, word_mask)
        for blk in self.motion_blocks:
            y = blk(y, video_mask)

        outputs = {**self.heads(y, video_mask), **outputs}
        if self.own.align_weight > 0:
            outputs["query_features"], outputs["moment_features"] = f_q, f_mv
            if entity_branch:
                outputs["entity_features"] = f_ev
        return outputs

    def loss(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The shared objective (:func:`engine.heads.grounding_loss`) + ``pe_weight * BCE_w(pe, y_in)`` +
        ``align_weight * (KL_align(F_q, F_mv) + KL_align(F_q, F_ev))`` (module docstring)."""
        own, mask, inner, present = self.own, batch["video_mask"], batch["inner"], batch.get("present")
        extra = {}
        if "pe_logits" in outputs:
            extra["pe"] = (own.pe_weight, weighted_bce(outputs["pe_logits"], inner, mask, self.config.bce_pos_weight))
        if own.align_weight > 0:
            rows = slice(None) if present is None else present.nonzero().squeeze(1)  # a moment needs its target
            videos = [outputs[k][rows] for k in ALIGNED_OUTPUTS[1:] if k in outputs]  # no F_ev without the entity
            extra["align"] = (own.align_weight, sum(
                alignment_loss(outputs["query_features"][rows], batch["word_mask"][rows], video, inner[rows])
                for video in videos))
        return grounding_loss(outputs, batch, self.config, extra)


def alignment_loss(
    query_features: torch.Tensor,
    word_mask: torch.Tensor,
    moment_features: torch.Tensor,
    inner: torch.Tensor,
) -> torch.Tensor:
    """Symmetric KL between the batch's sentence-sentence and moment-moment similarity softmaxes."""
    words = (word_mask != 0).unsqueeze(-1).float()
    sentence = F.normalize((query_features.float() * words).sum(1) / words.sum(1).clamp(min=1.0), dim=-1)
    moment = F.normalize((moment_features.float() * inner.float().unsqueeze(-1)).sum(1), dim=-1)
    log_q = (sentence @ sentence.T).log_softmax(-1)
    log_v = (moment @ moment.T).log_softmax(-1)
    kl_v_q = F.kl_div(log_q, log_v, reduction="sum", log_target=True)  # KL(Sv || Sq)
    kl_q_v = F.kl_div(log_v, log_q, reduction="sum", log_target=True)  # KL(Sq || Sv)
    return (kl_v_q + kl_q_v) / 2


SPEC = register(ModelSpec(
    name="eamat", title="EAMAT (Yang & Wu, IJCAI 2022)", network=EAMAT, section=EAMATConfig,
    deletes_unknown_pos=True, curves=(Curve("pe_logits", "pe", "Pe (action relevance)"),),
))
