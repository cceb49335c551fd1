"""The inference graph that gets exported: model, boundary probabilities and best-span decoding in one module.

Inputs (the models' forward arguments, :data:`engine.models.MODEL_INPUTS`; B, T, N dynamic)::

    video (B, T, video_dim) float32 | video_mask (B, T) bool | words (B, N) int64 | word_mask (B, N) bool
    word_class (B, N) int64 (0 other, 1 entity, 2 motion; Dynamic Pathway ignores it and its export drops it)

Outputs::

    start_prob, end_prob (B, T) float32   softmax of the start / end logits over the valid clips (0 on padding)
    start_idx, end_idx (B,) int64         argmax_{s <= e} start_prob[s] * end_prob[e]  (engine.decode_spans)
    score (B,) float32                    that product
    presence (B,) float32                 sigmoid of the model's presence logit: does the row hold the moment
                                          (engine.heads; ranks the windows of a long video, engine.inference)
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
# which axes of each named tensor are dynamic
AXES = {
    "video": {0: "batch", 1: "clips"},
    "video_mask": {0: "batch", 1: "clips"},
    "words": {0: "batch", 1: "words"},
    "word_mask": {0: "batch", 1: "words"},
    "word_class": {0: "batch", 1: "words"},
    "start_prob": {0: "batch", 1: "clips"},
    "end_prob": {0: "batch", 1: "clips"},
    "start_idx": {0: "batch"},
    "end_idx": {0: "batch"},
    "score": {0: "batch"},
    PRESENCE_OUTPUT: {0: "batch"},
}
ROW_AXES = {0: "batch"}  # a model's choice output


def masked_probabilities(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Float32 softmax over the valid positions of each row; exactly 0 on the others."""
    return logits.float().masked_fill(~valid, float("-inf")).softmax(-1)


class InferenceGraph(nn.Module):
    """``forward(*MODEL_INPUTS) -> (start_prob, end_prob, start_idx, end_idx, score, presence[, choice])``.

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
        return (*SPAN_OUTPUTS, PRESENCE_OUTPUT) + ((self.choice_output,) if self.choice_output else ())

    def forward(
        self, video: torch.Tensor, video_mask: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor,
        word_class: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        out = self.model(video, video_mask, words, word_mask, word_class)
        valid = video_mask != 0
        start_idx, end_idx, score = decode_spans(out["start_logits"], out["end_logits"], valid)
        result = (
            masked_probabilities(out["start_logits"], valid),
            masked_probabilities(out["end_logits"], valid),
            start_idx,
            end_idx,
            score,
            torch.sigmoid(out["presence_logits"].float()),
        )
        return result + ((out[self.choice_output],) if self.choice_output else ())


def random_inputs(
    config: ModelConfig, batch: int, clips: int, words: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Random :data:`MODEL_INPUTS` with ragged prefix masks: sample 0 uses every clip, the last every word
    (so the padded sizes are real), the other lengths are uniform in [1, size]; padding is zero."""
    if min(batch, clips, words) < 1:
        raise ValueError(f"batch, clips and words must be >= 1, got {(batch, clips, words)}")
    clip_len = torch.randint(1, clips + 1, (batch,), generator=generator)
    word_len = torch.randint(1, words + 1, (batch,), generator=generator)
    clip_len[0], word_len[-1] = clips, words
    video_mask = torch.arange(clips) < clip_len[:, None]
    word_mask = torch.arange(words) < word_len[:, None]
    video = torch.randn(batch, clips, config.video_dim, generator=generator) * video_mask.unsqueeze(-1)
    vocab = max(config.vocab_size, 2)
    ids = torch.randint(1, vocab, (batch, words), generator=generator) * word_mask  # 1 = <unk> included
    word_class = torch.randint(0, 3, (batch, words), generator=generator) * word_mask
    tensors = (video, video_mask, ids, word_mask, word_class)
    return dict(zip(MODEL_INPUTS, tensors, strict=True))
