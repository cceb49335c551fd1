"""Model factory and whole-model utilities: ``build_model``, ``set_kernels``, ``count_parameters``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.config import Config, ModelConfig
from engine.dynamic_pathway import DynamicPathway
from engine.eamat import EAMAT
from kernels.registry import check_backend_name

MODELS: dict[str, type[nn.Module]] = {"eamat": EAMAT, "dp": DynamicPathway}
MODEL_INPUTS = ("video", "video_mask", "words", "word_mask", "word_class")  # every model's forward arguments


def model_inputs(batch: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    """The :data:`MODEL_INPUTS` of a batch dict, in forward order: ``model(*model_inputs(batch))``."""
    return tuple(batch[name] for name in MODEL_INPUTS)


def build_model(config: Config | ModelConfig, word_vectors: torch.Tensor | None = None) -> nn.Module:
    """The model named by ``config.model.name`` (or ``config.name``): "eamat" | "dp".

    ``word_vectors`` (V, word_dim) fill the frozen embedding; without them the table is zeros of
    ``(model.vocab_size, model.word_dim)``, to be loaded from a checkpoint.
    """
    model_config = config.model if isinstance(config, Config) else config
    if not isinstance(model_config, ModelConfig):
        raise TypeError(f"build_model: expected a Config or ModelConfig, got {type(config).__name__}")
    return MODELS[model_config.name](model_config, word_vectors)


def set_kernels(module: nn.Module, backend: str) -> nn.Module:
    """Set ``.kernels = backend`` ("auto" or a registered backend, see :mod:`kernels.registry`) on every
    submodule that has it."""
    check_backend_name(backend)
    for sub in module.modules():
        if hasattr(sub, "kernels"):
            sub.kernels = backend
    return module


def count_parameters(module: nn.Module) -> dict[str, int]:
    """Element counts: ``trainable`` (requires_grad parameters), ``frozen`` (other parameters and the
    buffers, e.g. the word-vector table) and ``total``."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    frozen += sum(b.numel() for b in module.buffers())
    return {"trainable": trainable, "frozen": frozen, "total": trainable + frozen}
