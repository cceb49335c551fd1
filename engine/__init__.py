"""Reference models, blocks, text, data, decoding and metrics for language-driven action localization."""

from engine.cqa import ContextQueryAttention
from engine.decoding import decode_spans, index_to_seconds, seconds_to_index, topk_spans
from engine.localizer import Localizer
from engine.metrics import evaluate
from engine.models import build_model, count_parameters, set_kernels
from engine.models.dynamic_pathway import DynamicPathway
from engine.models.eamat import EAMAT
from engine.ms_lstm import MultiScaleLSTM, lengths_from_mask, run_encoders
from engine.temporal_conv import MultiScaleTemporalConv
from engine.transformer import FeedForward, TransformerBlock

__all__ = [
    "EAMAT",
    "ContextQueryAttention",
    "DynamicPathway",
    "FeedForward",
    "Localizer",
    "MultiScaleLSTM",
    "MultiScaleTemporalConv",
    "TransformerBlock",
    "build_model",
    "count_parameters",
    "decode_spans",
    "evaluate",
    "index_to_seconds",
    "lengths_from_mask",
    "run_encoders",
    "seconds_to_index",
    "set_kernels",
    "topk_spans",
]
