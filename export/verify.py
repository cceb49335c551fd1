"""Parity of an exported graph with the PyTorch model in eval mode, as a printable table.

For each (batch, clips, words) shape, fresh random inputs with ragged masks
(:func:`export.graph.random_inputs`) go through the PyTorch :class:`~export.graph.InferenceGraph` and
through the exported runtime.  A row passes when the probabilities and span scores agree within
``atol`` (NaN never passes; the tolerances: :mod:`kernels.parity`, ``EXPORT_*_ATOL``) and the decoded spans --
and a model's per-row choice (Dynamic Pathway's pathway) -- are identical.
Reduced-precision engines (fp16 / bf16) may instead land on a span that ties the best one: given
``tie_atol`` a span passes when its score under the PyTorch probabilities is within ``tie_atol`` of the
best score.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.config import ModelConfig
from export.graph import INNER_OUTPUT, InferenceGraph, random_inputs

PROBABILITIES = ("start_prob", "end_prob", "score", "presence")
Runner = Callable[[dict[str, torch.Tensor]], Mapping[str, Any]]


class ParityError(AssertionError):
    """The exported graph disagrees with PyTorch (the message holds the parity table)."""


@dataclass
class ParityRow:
    batch: int
    clips: int
    words: int
    max_abs_err: float
    spans_equal: bool
    choices_equal: bool | None  # None: the model has no per-row choice

    def passed(self, atol: float) -> bool:
        return self.max_abs_err <= atol and self.spans_equal and self.choices_equal is not False


def fresh_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


def parity_shapes(example: tuple[int, int, int], max_clips: int, max_words: int) -> list[tuple[int, int, int]]:
    """Batch sizes and lengths around the export example: shorter, the example itself, longer, the maxima."""
    _, clips, words = example
    shorter, longer = (1, max(2, clips // 3), max(1, words // 2)), (3, 2 * clips + 1, words + 3)
    shapes = [shorter, example, longer, (4, max_clips, max_words)]
    return list(dict.fromkeys(shapes))


def check_parity(
    graph: InferenceGraph,
    run: Runner,
    config: ModelConfig,
    shapes: Sequence[tuple[int, int, int]],
    seed: int,
    tie_atol: float | None = None,
) -> list[ParityRow]:
    """One :class:`ParityRow` per shape; ``run`` maps the input tensors (CPU) to the exported outputs."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for batch, clips, words in shapes:
        inputs = random_inputs(config, batch, clips, words, generator)
        with torch.no_grad():
            ref = dict(zip(graph.output_names, graph(*inputs.values()), strict=True))
        got = {name: torch.as_tensor(np.asarray(_cpu(value))) for name, value in run(inputs).items()}
        err = max(_max_abs_err(ref[name], got[name]) for name in PROBABILITIES)
        # the inner logits compared as the probabilities they stand for
        err = max(err, _max_abs_err(torch.sigmoid(ref[INNER_OUTPUT]), torch.sigmoid(got[INNER_OUTPUT].float())))
        choice = graph.choice_output
        choices = bool(torch.equal(ref[choice], got[choice].long())) if choice else None
        spans = _spans_agree(ref, got, tie_atol)
        rows.append(ParityRow(batch, clips, words, err, spans, choices))
    return rows


def format_table(rows: Sequence[ParityRow], atol: float, title: str) -> str:
    header = f"{'batch':>5} {'T':>5} {'N':>4} {'max abs err':>12} {'spans equal':>11} {'choice equal':>12}  result"
    lines = [title, header]
    for r in rows:
        choices = "-" if r.choices_equal is None else str(r.choices_equal)
        verdict = "ok" if r.passed(atol) else "FAIL"
        shape = f"{r.batch:>5} {r.clips:>5} {r.words:>4}"
        lines.append(f"{shape} {r.max_abs_err:>12.3e} {r.spans_equal!s:>11} {choices:>12}  {verdict}")
    return "\n".join(lines)


def assert_parity(rows: Sequence[ParityRow], atol: float, title: str) -> str:
    """The formatted table; raises :class:`ParityError` (with the table) when any row fails."""
    table = format_table(rows, atol, title)
    failed = [r for r in rows if not r.passed(atol)]
    if failed:
        raise ParityError(f"{table}\nPARITY FAILED on {len(failed)} of {len(rows)} shapes (atol {atol:g})")
    return table


def median_latency_ms(run: Runner, inputs: dict[str, torch.Tensor], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``run(inputs)`` in milliseconds (outputs are materialized by ``run``)."""
    for _ in range(warmup):
        run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _cpu(value: Any) -> Any:
    return value.detach().cpu() if isinstance(value, torch.Tensor) else value


def _max_abs_err(ref: torch.Tensor, got: torch.Tensor) -> float:
    if ref.shape != got.shape:
        return float("inf")
    err = (ref.double() - got.double()).abs()
    return float("nan") if err.isnan().any() else float(err.max()) if err.numel() else 0.0


def _spans_agree(ref: dict[str, torch.Tensor], got: dict[str, torch.Tensor], tie_atol: float | None) -> bool:
    s, e = got["start_idx"].long(), got["end_idx"].long()
    if s.shape != ref["start_idx"].shape or e.shape != ref["end_idx"].shape:
        return False
    same = (s == ref["start_idx"]) & (e == ref["end_idx"])
    if tie_atol is None or bool(same.all()):
        return bool(same.all())
    rows = torch.arange(len(s))
    valid_span = (s <= e) & (s >= 0) & (e < ref["start_prob"].shape[1])
    s, e = s.clamp(0, ref["start_prob"].shape[1] - 1), e.clamp(0, ref["start_prob"].shape[1] - 1)
    score_of_got = ref["start_prob"][rows, s] * ref["end_prob"][rows, e] * valid_span
    return bool((score_of_got >= ref["score"] - tie_atol).all())
