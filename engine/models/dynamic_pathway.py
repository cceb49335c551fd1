"""Dynamic Pathway (Yang, Wu et al., IEEE TMM 2024; docs/design.md §4): a query picks exploitation or exploration.

Data flow (B rows, Q <= B queries, T clips, N words, d = ``config.dim``; masks 1 = valid)::

    F_q   = ReLU(Linear(BiLSTM_3(Dropout(W)))) * word_mask       W frozen word vectors; packed by length
            [+ Linear(Dropout(W)) with own.query_skip, not in the paper]
    alpha = softmax_words(FC(ReLU(FC(F_q))))                       token weights, padded words excluded
    F_s   = alphaᵀ F_q                                             sentence feature (Q, d)
    path_logits = FC(F_s) (Q, 2)                                   index 0 = exploitation, 1 = exploration
    F_q, word_mask, path_logits -> (B, .)                          row i takes query query_row[i] (engine.models.spec)
    F_v   = ReLU(LN(Linear(Dropout(video)))) * video_mask
    GoL(x) = TeN(x) = MS-LSTM(x) + MSAB(x)                         Eq. 5-6, 11
    LoL(x) = MultiScaleTemporalConv(x, lol_kernels)                Eq. 7
    SpL(x) = MultiScaleTemporalConv(x, spl_kernels)                Eq. 10
    F_e1 = GoL(LoL(CQA(LoL(GoL(F_v)), F_q)))                       exploitation, Eq. 9
    F_e2 = TeN(SpL(CQA(TeN(SpL(F_v)), F_q)))                       exploration, Eq. 12
    (in both pathways each GoL / LoL / SpL / TeN is applied as x <- (x + block(x)) * video_mask)
    F_e = w_0 F_e1 + w_1 F_e2 ;  start / end / inner logits = heads(F_e)     w from the row's path_logits

Each GoL / LoL / SpL / TeN network stacks ``gol_blocks`` / ``lol_blocks`` / ``spl_blocks`` / ``ten_blocks`` blocks
(default 1, as the equations; the config's comments quote the paper's sentences on the other readings).

Every GoL / LoL / SpL / TeN / CQA occurrence has its own weights.

Path weights ``w`` (Eq. 13-14):

* training, ``path_selection="hard"``: straight-through Gumbel-softmax (``tau = own.gumbel_tau``,
  hard one-hot forward, gradients of the soft sample).  Both pathways run for every sample: the
  straight-through gradient to ``path_logits`` needs both features.
* ``path_selection="soft"`` (train and eval): ``w = softmax(path_logits)``, the paper's "soft dynamic".
* eval, ``"hard"``: the deterministic ``argmax(path_logits)``, no noise.  ``select`` decides how:
  ``"gather"`` (default, eager) runs each pathway only on the samples that chose it (``index_select``
  into the pathway, ``index_copy`` back); ``"both"`` runs both pathways on the whole batch and picks per
  sample with ``torch.where`` -- no data-dependent Python control flow, for ONNX / TensorRT export.
  Set ``model.select = "both"`` before exporting (or pass ``select=`` to ``forward``).

Outputs: ``start_logits``, ``end_logits``, ``inner_logits`` (B, T), ``path_logits`` (B, 2), ``path``
(B,) int64 (the pathway each sample used; in "soft" mode its argmax).

Ablations (config ``pathways``, the paper's Table III): "exploitation" / "exploration" build that module alone,
with no token weights and no selection; ``path`` is then that module's index and there are no ``path_logits``.

Choices where the paper is silent:

* MSAB (Eq. 5, whose brackets do not balance) is read as ``FFN(LN(x + Dropout(MSA(FC_Q x, FC_K x, FC_V x))))``
  -- residual, then LayerNorm, then the FFN (Linear -> GELU -> Dropout -> Linear), as the prose orders
  them; MSA has ``num_heads`` heads and, like EAMAT's, no output projection.
* FFN_2 (Eq. 2, the clip features' feed-forward network) is Linear -> LayerNorm -> ReLU: the LayerNorm
  (as in EAMAT's projections) puts F_v on the scale the CQA's Xavier-initialised weights expect (without it
  DP learns far less on the synthetic benchmark: measured in docs/design.md §4.2).
* ``own.query_skip`` (off by default, on in ``dp-synthetic``) adds ``Linear(Dropout(W))`` to F_q: the
  small model's 3-layer BiLSTM barely passes a one-word change of the query on, and DP then learns to read
  neither the motion nor the entity word; with the skip it reads both (docs/design.md §4.2 has the figures).
* Dropout ``config.dropout`` on the word vectors, on the clip features, between the BiLSTM layers and
  inside the blocks; the BiLSTM has ``d/2`` hidden units per direction.
* GoL / TeN outputs are zeroed on padded clips so padding never reaches a valid clip.
* Every GoL / LoL / SpL / TeN block is residual, ``x + block(x)``; the CQA is not.  The equations compose
  the blocks directly, and so composed (with the query reaching the video only through one CQA in the
  middle of each pathway) the model trains into a query-independent event detector on the synthetic
  benchmark (docs/design.md §4.2, §7.4).
* The heads use GELU (shared with EAMAT, docs/design.md §4.2) where the paper writes ReLU.
* The loss is the shared one of :mod:`engine.heads` (EAMAT's Pe and alignment terms have no counterpart in DP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine.config import ModelConfig, Section, option
from engine.cqa import ContextQueryAttention
from engine.heads import MASKED_LOGIT, GroundingHeads, grounding_loss
from engine.models.spec import Choice, ModelSpec, per_row, register
from engine.ms_lstm import MultiScaleLSTM, lengths_from_mask
from engine.temporal_conv import MultiScaleTemporalConv
from engine.transformer import FeedForward, multi_head_attention
from engine.word_embedding import FrozenWordEmbedding

EXPLOITATION, EXPLORATION = 0, 1
PATHWAYS = ("exploitation", "exploration")  # the ``path`` output's values
SELECT_MODES = ("gather", "both")
Pathways = Literal["both", "exploitation", "exploration"]
PathSelection = Literal["hard", "soft"]


@dataclass
class DPConfig(Section):
    """Dynamic Pathway's own fields (the ``dp`` section).

    Block counts and kernel sizes: the equations (Eq. 9, 12) place one GoL, LoL, SpL and TeN network before and
    one after each CQA; the text says "The numbers of LSTM Blocks and temporal convolutional blocks in both the
    exploitation module and the exploration module are set to 1 and 3, respectively" (read as 3 stacked temporal
    convolution blocks per LoL / SpL: lol_blocks=spl_blocks=3), "the kernel sizes of temporal convolutional
    blocks are set to 3, 5, and 7" (the default of both lists) and "The kernel sizes in Eq. (7) are set to 3, 5,
    7, and 9" (LoL's list: lol_kernels=[3,5,7,9]).  Defaults follow the equations and the first kernel sentence.
    """

    SECTION = "dp"

    num_scales: int = option(3, "MS-LSTM scales S of GoL / TeN (scale s runs its own BiLSTM at stride s)")
    query_lstm_layers: int = option(3, "BiLSTM layers of the language encoder")
    query_skip: bool = option(
        False, "not in the paper: F_q = FFN_1(BiLSTM(Q)) + Linear(Q), the word vectors' own information next "
        "to the BiLSTM's (on in dp-synthetic, where the small 3-layer BiLSTM alone does not pass word identity)")
    gol_blocks: int = option(1, "MS-LSTM + self-attention blocks stacked in each GoL network (Eq. 6, 9)")
    lol_blocks: int = option(1, "temporal-convolution blocks stacked in each LoL network (Eq. 7, 9)")
    spl_blocks: int = option(1, "temporal-convolution blocks stacked in each SpL network (Eq. 10, 12)")
    ten_blocks: int = option(1, "MS-LSTM + self-attention blocks stacked in each TeN network (Eq. 11, 12)")
    lol_kernels: list[int] = option([3, 5, 7], "kernel sizes of LoL's temporal convolutions (Eq. 7)")
    spl_kernels: list[int] = option([3, 5, 7], "kernel sizes of SpL's temporal convolutions (Eq. 10)")
    gumbel_tau: float = option(1.0, "Gumbel-softmax temperature of the pathway selection")
    pathways: Pathways = option(
        "both", "both pathways with the query-aware selection, or one module only (the ablations of Table III)")
    path_selection: PathSelection = option(
        "hard", "hard = straight-through Gumbel in training, argmax at inference; soft = softmax mix")

    def validate(self) -> DPConfig:
        for key in ("gol_blocks", "lol_blocks", "spl_blocks", "ten_blocks"):
            if getattr(self, key) < 1:
                raise ValueError(f"dp.{key} must be >= 1, got {getattr(self, key)}")
        return self


class SelfAttentionBlock(nn.Module):
    """MSAB (Eq. 5): ``FFN(LN(x + Dropout(MSA(FC_Q x, FC_K x, FC_V x))))``, (B, T, d) -> (B, T, d)."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"SelfAttentionBlock: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.dropout_p = num_heads, dropout
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = FeedForward(dim, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        p = self.dropout_p if self.training else 0.0
        attn = multi_head_attention(self.q(x), self.k(x), self.v(x), mask, self.num_heads, p)
        return self.ffn(self.norm(x + self.dropout(attn)))


class GlobalMotion(nn.Module):
    """GoL / TeN (Eq. 6, 11): ``(MS-LSTM(x) + MSAB(x)) * mask``."""

    def __init__(self, config: ModelConfig, num_scales: int) -> None:
        super().__init__()
        self.ms_lstm = MultiScaleLSTM(config.dim, num_scales, config.dropout, config.kernels)
        self.msab = SelfAttentionBlock(config.dim, config.num_heads, config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.ms_lstm(x, lengths_from_mask(mask)) + self.msab(x, mask)
        return out * (mask != 0).unsqueeze(-1)


class Pathway(nn.Module):
    """``after[-1](... after[0](CQA(before[-1](... before[0](F_v)), F_q)))``, each stage ``(x, mask) -> x``
    applied as a residual: ``x <- (x + stage(x)) * mask``."""

    def __init__(self, config: ModelConfig, before: Sequence[nn.Module], after: Sequence[nn.Module]) -> None:
        super().__init__()
        self.before = nn.ModuleList(before)
        self.cqa = ContextQueryAttention(config.dim, config.kernels)
        self.after = nn.ModuleList(after)

    def forward(
        self, video: torch.Tensor, video_mask: torch.Tensor, query: torch.Tensor, word_mask: torch.Tensor,
    ) -> torch.Tensor:
        valid = (video_mask != 0).unsqueeze(-1).to(video.dtype)
        x = video
        for stage in self.before:
            x = (x + stage(x, video_mask)) * valid
        x = self.cqa(x, query, video_mask, word_mask)
        for stage in self.after:
            x = (x + stage(x, video_mask)) * valid
        return x


def _stack(block, count: int) -> list[nn.Module]:
    """``count`` fresh blocks applied in sequence (each stage of a pathway takes ``(x, mask)``)."""
    return [block() for _ in range(count)]


def exploitation_pathway(config: ModelConfig, own: DPConfig) -> Pathway:
    """F_e1 = GoL(LoL(CQA(LoL(GoL(F_v)), F_q)))."""

    def gol() -> list[nn.Module]:
        return _stack(lambda: GlobalMotion(config, own.num_scales), own.gol_blocks)

    def lol() -> list[nn.Module]:
        return _stack(lambda: MultiScaleTemporalConv(config.dim, own.lol_kernels, config.dropout), own.lol_blocks)

    return Pathway(config, [*gol(), *lol()], [*lol(), *gol()])


def exploration_pathway(config: ModelConfig, own: DPConfig) -> Pathway:
    """F_e2 = TeN(SpL(CQA(TeN(SpL(F_v)), F_q)))."""

    def spl() -> list[nn.Module]:
        return _stack(lambda: MultiScaleTemporalConv(config.dim, own.spl_kernels, config.dropout), own.spl_blocks)

    def ten() -> list[nn.Module]:
        return _stack(lambda: GlobalMotion(config, own.num_scales), own.ten_blocks)

    return Pathway(config, [*spl(), *ten()], [*spl(), *ten()])


def path_weights(path_logits: torch.Tensor, mode: str, tau: float, training: bool) -> torch.Tensor:
    """(B, 2) mixing weights: straight-through Gumbel one-hot (hard, training), softmax (soft), or the
    one-hot argmax (hard, eval)."""
    if mode == "soft":
        return path_logits.softmax(-1)
    if training:
        return F.gumbel_softmax(path_logits, tau=tau, hard=True)
    return F.one_hot(path_logits.argmax(-1), path_logits.shape[-1]).to(path_logits.dtype)


class DynamicPathway(nn.Module):
    """``forward(video, video_mask, words, word_mask, word_class=None, query_row=None, select=None) -> dict``;
    ``loss(outputs, batch)``.  ``word_class`` is accepted for a common signature and unused (no POS
    split in DP).  The Q queries are encoded (and their pathways scored) once each, then taken per row
    (``query_row``, :mod:`engine.models.spec`)."""

    def __init__(
        self, config: ModelConfig, own: DPConfig, word_vectors: torch.Tensor | None = None, select: str = "gather"
    ) -> None:
        super().__init__()
        self.config, self.own, self.select = config.validate(), own.validate(), select
        d, p = config.dim, config.dropout
        self.embedding = FrozenWordEmbedding.from_config(config, word_vectors)
        self.word_dropout = nn.Dropout(p)
        self.query_lstm = nn.LSTM(
            self.embedding.vectors.shape[1], d // 2, num_layers=own.query_lstm_layers,
            batch_first=True, bidirectional=True, dropout=p if own.query_lstm_layers > 1 else 0.0,
        )
        self.query_ffn = nn.Sequential(nn.Linear(d, d), nn.ReLU())
        self.query_skip = nn.Linear(self.embedding.vectors.shape[1], d) if own.query_skip else None
        self.video_ffn = nn.Sequential(nn.Dropout(p), nn.Linear(config.video_dim, d), nn.LayerNorm(d), nn.ReLU())
        if own.pathways in ("both", "exploitation"):
            self.exploitation = exploitation_pathway(config, own)
        if own.pathways in ("both", "exploration"):
            self.exploration = exploration_pathway(config, own)
        if own.pathways == "both":  # the query-aware selection
            self.token_weight = nn.Sequential(nn.Linear(d, d // 2), nn.ReLU(), nn.Linear(d // 2, 1))
            self.path_fc = nn.Linear(d, 2)
        self.heads = GroundingHeads(d, p)

    def encode_query(
        self, words: torch.Tensor, word_mask: torch.Tensor, word_class: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> F_q (Q, N, d) zero on padded words, F_s (Q, d) (None with a single pathway: nothing selects) for the
        (Q, N) queries; ``word_class`` is unused."""
        valid = word_mask != 0
        embedded = self.word_dropout(self.embedding(words))
        packed = pack_padded_sequence(  # raises on a sample with no valid word
            embedded, lengths_from_mask(valid).cpu(), batch_first=True, enforce_sorted=False,
        )
        hidden, _ = pad_packed_sequence(self.query_lstm(packed)[0], batch_first=True, total_length=words.shape[1])
        f_q = self.query_ffn(hidden)
        if self.query_skip is not None:
            f_q = f_q + self.query_skip(embedded)
        f_q = f_q * valid.unsqueeze(-1)
        if self.own.pathways != "both":
            return f_q, None
        alpha = self.token_weight(f_q).squeeze(-1).masked_fill(~valid, MASKED_LOGIT).softmax(-1)
        return f_q, (alpha.unsqueeze(-1) * f_q).sum(1)

    def encode_video(self, video: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """-> F_v (B, T, d), zero on padded clips."""
        return self.video_ffn(video) * (video_mask != 0).unsqueeze(-1)

    def forward(
        self,
        video: torch.Tensor,
        video_mask: torch.Tensor,
        words: torch.Tensor,
        word_mask: torch.Tensor,
        word_class: torch.Tensor | None = None,
        query_row: torch.Tensor | None = None,
        select: str | None = None,
    ) -> dict[str, torch.Tensor]:
        select = select or self.select
        if select not in SELECT_MODES:
            raise ValueError(f"DynamicPathway: select must be one of {SELECT_MODES}, got {select!r}")
        f_q, f_s = self.encode_query(words, word_mask)
        path_logits = None if f_s is None else self.path_fc(f_s)
        f_q, word_mask, path_logits = per_row(query_row, f_q, word_mask, path_logits)
        f_v = self.encode_video(video, video_mask)
        args = (f_v, video_mask, f_q, word_mask)
        if self.own.pathways != "both":  # ablation: one module only
            index = EXPLOITATION if self.own.pathways == "exploitation" else EXPLORATION
            outputs = self.heads((self.exploitation if index == EXPLOITATION else self.exploration)(*args), video_mask)
            outputs["path"] = torch.full((video.shape[0],), index, dtype=torch.int64, device=video.device)
            return outputs
        if self.training or self.own.path_selection == "soft":
            weights = path_weights(path_logits, self.own.path_selection, self.own.gumbel_tau, self.training)
            w = weights[:, :, None, None]
            f_e = w[:, EXPLOITATION] * self.exploitation(*args) + w[:, EXPLORATION] * self.exploration(*args)
            path = weights.argmax(-1)
        else:
            path = path_logits.argmax(-1)
            f_e = self.run_selected(path, *args) if select == "gather" else torch.where(
                (path == EXPLOITATION)[:, None, None], self.exploitation(*args), self.exploration(*args)
            )
        outputs = self.heads(f_e, video_mask)
        outputs["path_logits"], outputs["path"] = path_logits, path
        return outputs

    def run_selected(
        self, path: torch.Tensor, video: torch.Tensor, video_mask: torch.Tensor, query: torch.Tensor,
        word_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Each pathway on only the samples whose ``path`` names it, results scattered back in order."""
        out = None
        for index, pathway in ((EXPLOITATION, self.exploitation), (EXPLORATION, self.exploration)):
            rows = (path == index).nonzero().squeeze(1)
            if rows.numel():
                result = pathway(*(t.index_select(0, rows) for t in (video, video_mask, query, word_mask)))
                out = result.new_zeros((path.shape[0], *result.shape[1:])) if out is None else out
                out = out.index_copy(0, rows, result)
        return out

    def loss(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        return grounding_loss(outputs, batch, self.config)


def _export_mode(model: nn.Module) -> None:
    model.select = "both"  # both pathways, each sample picks with torch.where: no data-dependent Python branch


SPEC = register(ModelSpec(
    name="dp", title="Dynamic Pathway (Yang, Wu et al., IEEE TMM 2024)", network=DynamicPathway, section=DPConfig,
    choice=Choice("path", "pathway", PATHWAYS), export_mode=_export_mode,
))
