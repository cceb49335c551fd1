"""The inference graph that gets exported: model, boundary probabilities and best-span decoding in one module.

Inputs (the models' forward arguments, :data:`engine.models.MODEL_INPUTS`; B rows, Q queries, T, N dynamic)::

    video (B, T, video_dim) float32 | video_mask (B, T) bool      the rows: videos, or windows of a long one
    words (Q, N) int64 | word_mask (Q, N) bool                    the queries, each once (Q <= B)
    word_class (Q, N) int64 (0 other, 1 entity, 2 motion; Dynamic Pathway ignores it and its export drops it)
    query_row (B,) int64                                          row i is asked query query_row[i]

The graph encodes each query once and hands each row its query's encoding (the network contract,
:mod:`engine.models.spec`): the windows of one long video share one query encoding.  Files exported before
``query_row`` existed take one query per row (Q = B); :func:`export.runtime.graph_inputs` feeds them.

Outputs::

    start_prob, end_prob (B, T) float32   softmax of the start / end logits over the valid clips (0 on padding)
    start_idx, end_idx (B,) int64         argmax_{s <= e} start_prob[s] * end_prob[e]  (engine.decode_spans)
    score (B,) float32                    that product
    presence (B,) float32                 sigmoid of the model's presence logit: does the row hold the moment
                                          (engine.heads; ranks the windows of a long video, engine.inference)
    inner_logits (B, T) float32           the model's inner (inside-the-moment) logits: a span's mean of them
                                          is its presence (engine.inference); logits, as a sigmoid would round
                                          the confident ones to 1
    <choice> (B,) int64                   a model with a per-row choice (its spec): e.g. Dynamic Pathway's path,
                                          0 exploitation, 1 exploration

Nothing in the graph branches on data in Python: the model runs in its spec's export mode (Dynamic Pathway:
both pathways computed, each sample picks its own with ``Where``), dropout is off, no Gumbel noise.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.config import ModelConfig
from engine.decoding import decode_spans
from engine.models import MODEL_INPUTS, model_spec, set_kernels

SPAN_OUTPUTS = ("start_prob", "end_prob", "start_idx", "end_idx", "score")
PRESENCE_OUTPUT = "presence"
INNER_OUTPUT = "inner_logits"
# which axes of each named tensor are dynamic
AXES = {
    "video": {0: "batch", 1: "clips"},
    "video_mask": {0: "batch", 1: "clips"},
    "words": {0: "queries", 1: "words"},
    "word_mask": {0: "queries", 1: "words"},
    "word_class": {0: "queries", 1: "words"},
    "query_row": {0: "batch"},
    "start_prob": {0: "batch", 1: "clips"},
    "end_prob": {0: "batch", 1: "clips"},
    "start_idx": {0: "batch"},
    "end_idx": {0: "batch"},
    "score": {0: "batch"},
    PRESENCE_OUTPUT: {0: "batch"},
    INNER_OUTPUT: {0: "batch", 1: "clips"},
}
ROW_AXES = {0: "batch"}  # a model's choice output


def masked_probabilities(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Float32 softmax over the valid positions of each row; exactly 0 on the others."""
    return logits.float().masked_fill(~valid, float("-inf")).softmax(-1)


class InferenceGraph(nn.Module):
    """``forward(*MODEL_INPUTS) -> (start_prob, end_prob, start_idx, end_idx, score, presence, inner_logits
    [, choice])``.

    Wraps an eval-mode copy of ``model`` (the caller's model is never modified) in its spec's export mode, its
    kernels set to ``kernels`` ("reference" exports standard ONNX ops).
    """

    def __init__(self, model: nn.Module, kernels: str = "reference") -> None:
        super().__init__()
        spec = model_spec(model.config.name)
        self.model = set_kernels(copy.deepcopy(model), kernels).eval()
        if spec.export_mode is not None:
            spec.export_mode(self.model)
        self.choice_output = spec.choice.output if spec.choice else None

    @property
    def output_names(self) -> tuple[str, ...]:
        return (*SPAN_OUTPUTS, PRESENCE_OUTPUT, INNER_OUTPUT) + ((self.choice_output,) if self.choice_output else ())

    def forward(
        self, video: torch.Tensor, video_mask: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor,
        word_class: torch.Tensor, query_row: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        out = self.model(video, video_mask, words, word_mask, word_class, query_row)
        valid = video_mask != 0
        start_idx, end_idx, score = decode_spans(out["start_logits"], out["end_logits"], valid)
        result = (
            masked_probabilities(out["start_logits"], valid),
            masked_probabilities(out["end_logits"], valid),
            start_idx,
            end_idx,
            score,
            torch.sigmoid(out["presence_logits"].float()),
            out["inner_logits"].float(),
        )
        return result + ((out[self.choice_output],) if self.choice_output else ())


def random_inputs(
    config: ModelConfig, batch: int, clips: int, words: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Random :data:`MODEL_INPUTS` of ``batch`` rows asking half as many queries, rounded up (fewer queries than
    rows from 2 rows on: every query asked, some by several rows, in shuffled order), with ragged prefix masks:
    row 0 uses every clip, the last query every word (so the padded sizes are real), the other lengths are uniform
    in [1, size]; padding is zero."""
    if min(batch, clips, words) < 1:
        raise ValueError(f"batch, clips and words must be >= 1, got {(batch, clips, words)}")
    queries = (batch + 1) // 2
    clip_len = torch.randint(1, clips + 1, (batch,), generator=generator)
    word_len = torch.randint(1, words + 1, (queries,), generator=generator)
    clip_len[0], word_len[-1] = clips, words
    video_mask = torch.arange(clips) < clip_len[:, None]
    word_mask = torch.arange(words) < word_len[:, None]
    video = torch.randn(batch, clips, config.video_dim, generator=generator) * video_mask.unsqueeze(-1)
    vocab = max(config.vocab_size, 2)
    ids = torch.randint(1, vocab, (queries, words), generator=generator) * word_mask  # 1 = <unk> included
    word_class = torch.randint(0, 3, (queries, words), generator=generator) * word_mask
    asked = torch.cat([torch.arange(queries), torch.randint(0, queries, (batch - queries,), generator=generator)])
    query_row = asked[torch.randperm(batch, generator=generator)]
    tensors = (video, video_mask, ids, word_mask, word_class, query_row)
    return dict(zip(MODEL_INPUTS, tensors, strict=True))
