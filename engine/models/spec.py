"""What a model is, declared in one place: :class:`ModelSpec` and the registry every other package reads.

A model lives in one module of this package (``engine/models/<name>.py``) that defines its network, its config
section and ends with ``register(ModelSpec(...))``.  The package imports every module in it, so adding a model
is adding its module (plus presets in ``train/configs/`` and its tests): config choices (``model.name``), the
per-model config sections, text processing, inference, plots, export, train summaries and bench all read the
spec, never a model's name.

Network contract (every registered network)::

    network(model: ModelConfig, own: <its section>, word_vectors: Tensor | None) -> nn.Module
    .config = model (its ModelConfig: the spec is found from a network by ``.config.name``)
    forward(video, video_mask, words, word_mask, word_class=None, query_row=None) -> dict with
        start_logits, end_logits (B, T)   masked to the valid clips (engine.heads.MASKED_LOGIT)
        inner_logits (B, T)               inside-the-moment logits, presence_logits (B,): does the row hold it
        + the spec's curves (B, T) and choice (B,) int64 outputs
    encode_query(words, word_mask, word_class=None)   the queries' encoding alone (bench.hour_latency times it)
    loss(outputs, batch) -> (total, {term: float})

Rows and queries: ``video`` (B, T, video_dim) and ``video_mask`` (B, T) hold B rows (a video, or a window of one);
``words``, ``word_mask``, ``word_class`` (Q, N) hold Q <= B queries, and row i is asked query ``query_row[i]``
((B,) int64).  A network encodes each of the Q queries once -- everything that reads the query alone, not the
video -- and only then takes each row's query (:func:`per_row`), before the first video-query interaction, so
the windows of one long video share one encoding of their query.  ``query_row=None`` means Q = B and row i is
asked query i (training batches).  The outputs are those of the same rows each given its own copy of its query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.config import ModelConfig, Section


@dataclass(frozen=True)
class Curve:
    """An extra per-clip output of a model: logits ``output`` (B, T), shown as ``sigmoid`` under ``name`` in
    predictions, their JSON and plots (``label``)."""

    output: str
    name: str
    label: str


@dataclass(frozen=True)
class Choice:
    """A per-row categorical output (B,) int64 ``output`` whose value ``i`` means ``values[i]``; reported under
    ``name`` (predictions, their JSON, plots, the share of each value in the train summary)."""

    output: str
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    ``name``: its ``model.name`` choice and the name of its config section (``section.SECTION``); ``title``:
    the paper it implements.  ``deletes_unknown_pos``: whether ``data.drop_unknown_pos`` applies (EAMAT's POS
    rule deletes words of no class) or the model reads the whole query.  ``export_mode``: puts an eval copy of
    the network into the form the exported graph traces (no data-dependent Python branches), None when the
    network already is.
    """

    name: str
    title: str
    network: Callable[..., nn.Module]
    section: type[Section]
    deletes_unknown_pos: bool = False
    curves: tuple[Curve, ...] = ()
    choice: Choice | None = None
    export_mode: Callable[[nn.Module], None] | None = None

    def build(self, model: ModelConfig, own: Section, word_vectors: torch.Tensor | None = None) -> nn.Module:
        return self.network(model, own, word_vectors)


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` (its module calls this when imported); returns it."""
    if spec.section.SECTION != spec.name:
        raise ValueError(f"model {spec.name!r}: its config section is named {spec.section.SECTION!r}, not its name")
    if spec.name in MODELS and MODELS[spec.name] is not spec:
        raise ValueError(f"model {spec.name!r} is registered twice")
    MODELS[spec.name] = spec
    return spec


def per_row(query_row: torch.Tensor | None, *per_query: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Each (Q, ...) tensor of ``per_query`` as (B, ...): row i gets its query's, ``query_row[i]`` (module
    docstring); the tensors as they are when ``query_row`` is None (row i is query i); None stays None."""
    if query_row is None:
        return per_query
    return tuple(None if t is None else t.index_select(0, query_row) for t in per_query)
