"""The models and whole-model utilities: the registry (:mod:`engine.models.spec`), ``build_model``,
``set_kernels``, ``count_parameters``.

Every module of this package is imported here, and a model's module registers its :class:`ModelSpec`: a new model
is a new module (plus its presets and tests), nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import torch
from torch import nn

from engine.config import Config
from engine.models.spec import MODELS, Choice, Curve, ModelSpec, register
from kernels.registry import check_backend_name

# every model's forward arguments (engine.models.spec): the rows' videos, the batch's queries, each row's query
MODEL_INPUTS = ("video", "video_mask", "words", "word_mask", "word_class", "query_row")
OPTIONAL_INPUTS = ("query_row",)  # absent from a batch (a training batch): None, row i reads query i

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["MODELS", "MODEL_INPUTS", "OPTIONAL_INPUTS", "Choice", "Curve", "ModelSpec", "build_model",
           "count_parameters", "model_inputs", "model_names", "model_spec", "register", "set_kernels"]


def model_names() -> tuple[str, ...]:
    """The registered models' names: the choices of ``model.name``."""
    return tuple(MODELS)


def model_spec(name: str) -> ModelSpec:
    """The registered model ``name``, or a KeyError listing the registered ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}") from None


def model_inputs(batch: dict[str, Any]) -> tuple[torch.Tensor | None, ...]:
    """The :data:`MODEL_INPUTS` of a batch dict, in forward order: ``model(*model_inputs(batch))``; None for an
    :data:`OPTIONAL_INPUTS` input the batch lacks."""
    return tuple(batch.get(name) if name in OPTIONAL_INPUTS else batch[name] for name in MODEL_INPUTS)


def build_model(config: Config, word_vectors: torch.Tensor | None = None) -> nn.Module:
    """The network of the model ``config.model.name``, from ``config.model`` and the model's own section.

    ``word_vectors`` (V, word_dim) fill the frozen embedding; without them the table is zeros of
    ``(model.vocab_size, model.word_dim)``, to be loaded from a checkpoint.
    """
    if not isinstance(config, Config):
        raise TypeError(f"build_model: expected a Config, got {type(config).__name__}")
    spec = model_spec(config.model.name)
    return spec.build(config.model.validate(), config.own.validate(), word_vectors)


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
