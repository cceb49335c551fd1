"""VSLNet: span-based localizing network with query-guided highlighting (Zhang et al., ACL 2020).

The span-based QA model both EAMAT and Dynamic Pathway build on (their context-query attention comes from it) and
the baseline in both papers' tables.  Data flow (B rows, Q <= B queries, T clips, N words, d = ``model.dim``; masks
1 = valid)::

    W   = FrozenWordEmbedding(words)                        (Q, N, word_dim)
    Q   = Linear(Dropout(W))                                projected words (Q, N, d)
    V   = Linear(Dropout(video))                            projected clips (B, T, d)
    Enc(x) = x + P[:len]                                    learned positional embedding P (max_positions, d)
             x += Dropout(ReLU(PWConv(DWConv_k(LN x))))     x conv_layers (depthwise k = kernel_size, pointwise 1)
             x += Dropout(Linear(Dropout(LN(x' := x + Dropout(MHA(Dropout(LN x)))))))   self-attention + FFN
    F_q = Enc(Q),  F_v = Enc(V)                             one encoder, shared by both modalities
    s   = Linear(F_q) (Q, N, 1);  a = softmax_words(s)      attention-pooled sentence vector q = aᵀ F_q (Q, d)
    F_q, word_mask, q -> (B, .)                             row i takes query query_row[i] (engine.models.spec)
    X   = CQA(F_v, F_q)                                     engine.cqa (the fused kernel): (B, T, d)
    C   = Linear([X ; q])                                   CQ concatenation (B, T, d)
    h_logits = Linear(C) (B, T);  h = sigmoid(h_logits)     query-guided highlighting (QGH): "inner_logits"
    H   = C * h                                             (h = 0 on padded clips)
    S   = LSTM_s(H),  E = LSTM_e(S)                         conditioned span predictor, unidirectional, d units
    start / end logits = FFN_s([S ; H]), FFN_e([E ; H])     FFN = Linear(2d, d) -> ReLU -> Linear(d, 1), masked
    presence_logits = max over valid clips of h_logits      engine.heads.presence_logits

Loss: ``boundary_weight * (CE(start) + CE(end)) + inner_weight * BCE_w(h_logits, y_h)``, the shared objective of
:func:`engine.heads.grounding_loss` with the highlight target ``y_h`` in place of the inner label: the moment's
clips extended on each side by ``round(highlight_extension * (end - start + 1))`` clips, cut to the valid clips,
all 0 on rows without the target.  VSLNet's highlight weight lambda (5.0 in the authors' code) is
``model.inner_weight`` (the presets set it), and its positive-clip weight 2 is ``model.bce_pos_weight``: no
field of its own, since the term *is* the shared inner term.  The authors average the highlight BCE over all
valid clips of the batch; the shared term averages per sample, then over samples.

Choices where the paper and the authors' code are silent or where this module departs from the code:

* No character CNN: the authors concatenate a char-CNN word feature (100 channels) to GloVe before the word
  projection; the frozen word embedding alone feeds it here, as in the other two models (and the exported graph
  keeps the shared inputs).
* Padded clips and words are zeroed before every depthwise convolution, and attention masks padded keys, so
  padding never reaches a valid position (the code convolves over the padding and, in its PyTorch version, adds
  ``+1e-30`` where ``-1e30`` was meant, leaving its attention unmasked).
* The CQA is :class:`engine.cqa.ContextQueryAttention` (no dropout on its inputs, which the authors apply).
* Linear / convolution weights (the CQA's projection included) are Xavier-uniform with zero biases, as the
  authors' ``init_parameters``.  The positional table is Xavier-uniform too, as in their TensorFlow code (the
  variable's default Glorot initializer; their main implementation): their PyTorch port leaves it at
  ``nn.Embedding``'s N(0, 1), which drowns the projected features (the synthetic preset then stays near the
  trivial baselines: README, VSLNet row).
* The LSTMs run over each row's valid clips (packed sequences; the masks are prefixes) and give zero on padded
  clips, as the code's masking does; the exported LSTM nodes take the lengths (``sequence_lens``).
* The highlight extension ratio is the code's ``extend`` (0.1); the paper studies the ratio as a hyper-parameter.
* ``word_class`` is ignored (VSLNet has no word classes) and ``data.drop_unknown_pos`` does not apply.

Sources: the paper (arXiv 2004.13931) and the authors' code, github.com/IsaacChanghau/VSLNet (``model/layers.py``
TensorFlow, ``vslnet_pytorch/modules.py`` / ``models.py`` PyTorch, ``main.py`` hyper-parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine.config import ModelConfig, Section, option
from engine.cqa import ContextQueryAttention
from engine.heads import MASKED_LOGIT, grounding_loss, presence_logits
from engine.models.spec import ModelSpec, per_row, register
from engine.ms_lstm import lengths_from_mask
from engine.transformer import multi_head_attention
from engine.word_embedding import FrozenWordEmbedding


@dataclass
class VSLNetConfig(Section):
    """VSLNet's own fields (the ``vslnet`` section); its highlight loss weight is ``model.inner_weight``."""

    SECTION = "vslnet"

    conv_layers: int = option(4, "depthwise-separable convolution layers of the feature encoder")
    kernel_size: int = option(7, "kernel size of the encoder's depthwise convolutions (odd)")
    max_positions: int = option(
        128, "rows of the learned positional embedding: the most clips (and words) a forward pass takes; keep it "
        ">= data.max_clips (the authors' max_pos_len)")
    highlight_extension: float = option(
        0.1, "QGH target: the moment extended on each side by this fraction of its length (the code's extend)")

    def validate(self) -> VSLNetConfig:
        if self.conv_layers < 0:
            raise ValueError(f"vslnet.conv_layers must be >= 0, got {self.conv_layers}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"vslnet.kernel_size must be odd and >= 1, got {self.kernel_size}")
        if self.max_positions < 1:
            raise ValueError(f"vslnet.max_positions must be >= 1, got {self.max_positions}")
        if self.highlight_extension < 0:
            raise ValueError(f"vslnet.highlight_extension must be >= 0, got {self.highlight_extension}")
        return self


def valid_positions(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, L) mask -> (B, L, 1) of ``like``'s dtype: 1 on valid positions."""
    return (mask != 0).unsqueeze(-1).to(like.dtype)


class SeparableConvLayer(nn.Module):
    """``x + Dropout(ReLU(pointwise(depthwise_k(LN(x) * mask))))``: one QANet convolution layer, (B, L, d)."""

    def __init__(self, dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, bias=False)
        self.pointwise = nn.Conv1d(dim, dim, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = (self.norm(x) * valid_positions(mask, x)).transpose(1, 2)
        return x + self.dropout(torch.relu(self.pointwise(self.depthwise(h))).transpose(1, 2))


class AttentionBlock(nn.Module):
    """``r = x + Dropout(MHA(Dropout(LN1 x)))``; ``r + Dropout(Linear(Dropout(LN2 r)))``: the encoder's
    self-attention and feed-forward layer, padded keys masked."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.dropout_p = num_heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.norm1(x))
        p = self.dropout_p if self.training else 0.0
        r = x + self.dropout(multi_head_attention(self.q(h), self.k(h), self.v(h), mask, self.num_heads, p))
        return r + self.dropout(self.out(self.dropout(self.norm2(r))))


class FeatureEncoder(nn.Module):
    """Positional embedding, ``conv_layers`` separable convolutions, one attention block: (B, L, d) -> (B, L, d)."""

    def __init__(self, config: ModelConfig, own: VSLNetConfig) -> None:
        super().__init__()
        d, p = config.dim, config.dropout
        self.position = nn.Embedding(own.max_positions, d)
        self.convs = nn.ModuleList(SeparableConvLayer(d, own.kernel_size, p) for _ in range(own.conv_layers))
        self.attention = AttentionBlock(d, config.num_heads, p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length, limit = x.shape[1], self.position.num_embeddings
        if not torch.jit.is_tracing() and length > limit:  # a traced graph is never asked (sizes are symbolic)
            raise ValueError(f"VSLNet takes at most vslnet.max_positions={limit} clips / words, got {length}")
        x = x + self.position.weight[:length].to(x.dtype)
        for conv in self.convs:
            x = conv(x, mask)
        return self.attention(x, mask)


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``lstm`` over each row's first ``lengths`` steps (packed: the exported LSTM node takes the lengths as its
    ``sequence_lens``), zero on the others: (B, L, d) -> (B, L, hidden)."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


class SpanPredictor(nn.Module):
    """Conditioned span predictor: ``S = LSTM_s(H)``, ``E = LSTM_e(S)`` (unidirectional, d units), start / end
    logits ``FFN([S ; H])`` / ``FFN([E ; H])`` masked to the valid clips with :data:`MASKED_LOGIT`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.start_lstm = nn.LSTM(dim, dim, batch_first=True)
        self.end_lstm = nn.LSTM(dim, dim, batch_first=True)
        self.start_ffn, self.end_ffn = (
            nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1)) for _ in range(2))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = lengths_from_mask(mask).cpu()  # a row without a valid clip raises
        start_features = run_lstm(self.start_lstm, h, lengths)
        end_features = run_lstm(self.end_lstm, start_features, lengths)
        invalid = mask == 0
        start = self.start_ffn(torch.cat([start_features, h], -1)).squeeze(-1).masked_fill(invalid, MASKED_LOGIT)
        end = self.end_ffn(torch.cat([end_features, h], -1)).squeeze(-1).masked_fill(invalid, MASKED_LOGIT)
        return start, end


class VSLNet(nn.Module):
    """``forward(video, video_mask, words, word_mask, word_class=None, query_row=None) -> dict`` of (B, T)
    ``start_logits``, ``end_logits``, ``inner_logits`` (the QGH logits) and (B,) ``presence_logits``;
    ``loss(outputs, batch)``.  The Q queries are encoded (and pooled) once each, then taken per row
    (``query_row``, :mod:`engine.models.spec`)."""

    def __init__(self, config: ModelConfig, own: VSLNetConfig, word_vectors: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config, self.own = config.validate(), own.validate()
        d, p = config.dim, config.dropout
        self.embedding = FrozenWordEmbedding.from_config(config, word_vectors)
        self.query_proj = nn.Sequential(nn.Dropout(p), nn.Linear(self.embedding.vectors.shape[1], d))
        self.video_proj = nn.Sequential(nn.Dropout(p), nn.Linear(config.video_dim, d))
        self.encoder = FeatureEncoder(config, own)
        self.cqa = ContextQueryAttention(d, config.kernels)
        self.pool = nn.Linear(d, 1, bias=False)  # word scores of the attention-pooled sentence vector
        self.concat = nn.Linear(2 * d, d)
        self.highlight = nn.Linear(d, 1)
        self.predictor = SpanPredictor(d)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.encoder.position.weight)

    def encode_query(
        self, words: torch.Tensor, word_mask: torch.Tensor, word_class: torch.Tensor | None = None
    ) -> torch.Tensor:
        """-> F_q (Q, N, d) of the (Q, N) queries, zero on padded words (``word_class`` is not used)."""
        projected = self.query_proj(self.embedding(words))
        return self.encoder(projected, word_mask) * valid_positions(word_mask, projected)

    def forward(
        self, video: torch.Tensor, video_mask: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor,
        word_class: torch.Tensor | None = None, query_row: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        f_q = self.encode_query(words, word_mask)
        weights = self.pool(f_q).squeeze(-1).masked_fill(word_mask == 0, MASKED_LOGIT).softmax(-1)  # (Q, N)
        sentence = torch.einsum("qn,qnd->qd", weights, f_q)
        f_q, word_mask, sentence = per_row(query_row, f_q, word_mask, sentence)
        v = self.video_proj(video)
        f_v = self.encoder(v, video_mask) * valid_positions(video_mask, v)
        x = self.cqa(f_v, f_q, video_mask, word_mask)
        c = self.concat(torch.cat([x, sentence.unsqueeze(1).expand_as(x)], -1))
        inner = self.highlight(c).squeeze(-1)
        h = c * torch.sigmoid(inner.masked_fill(video_mask == 0, MASKED_LOGIT)).unsqueeze(-1)
        start, end = self.predictor(h, video_mask)
        return {"start_logits": start, "end_logits": end, "inner_logits": inner,
                "presence_logits": presence_logits(inner, video_mask)}

    def highlight_target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, T) float: clips ``start - ext .. end + ext`` with ``ext = round(highlight_extension * (end - start
        + 1))``, inside the valid clips; 0 on every clip of a row whose ``present`` is False."""
        start, end, mask = batch["start_idx"], batch["end_idx"], batch["video_mask"] != 0
        ext = torch.round(self.own.highlight_extension * (end - start + 1).float()).long()
        clips = torch.arange(mask.shape[1], device=mask.device)
        target = (clips >= (start - ext)[:, None]) & (clips <= (end + ext)[:, None]) & mask
        present = batch.get("present")
        if present is not None:
            target &= (present != 0)[:, None]
        return target.float()

    def loss(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The shared objective (:func:`engine.heads.grounding_loss`) with the highlight target as the inner label
        (module docstring)."""
        return grounding_loss(outputs, {**batch, "inner": self.highlight_target(batch)}, self.config)


SPEC = register(ModelSpec(
    name="vslnet", title="VSLNet (Zhang et al., ACL 2020)", network=VSLNet, section=VSLNetConfig,
    deletes_unknown_pos=False,
))
