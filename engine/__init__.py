"""Reference models, blocks, text, data, decoding and metrics for language-driven action localization."""

from engine.cqa import ContextQueryAttention
from engine.decoding import decode_spans, index_to_seconds, seconds_to_index, topk_spans
from engine.metrics import evaluate
from engine.ms_lstm import MultiScaleLSTM, lengths_from_mask, run_encoders
from engine.temporal_conv import MultiScaleTemporalConv
from engine.transformer import FeedForward, TransformerBlock

__all__ = [
    "ContextQueryAttention",
    "FeedForward",
    "MultiScaleLSTM",
    "MultiScaleTemporalConv",
    "TransformerBlock",
    "decode_spans",
    "evaluate",
    "index_to_seconds",
    "lengths_from_mask",
    "run_encoders",
    "seconds_to_index",
    "topk_spans",
]
