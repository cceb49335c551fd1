"""Pre- and post-processing shared by every inference runtime (PyTorch, ONNX Runtime, TensorRT).

One request -- a video's clip features, a query sentence, the video's duration -- becomes a
:class:`Request`: the query's word ids and one or more *segments* of clip features (:func:`prepare_request`).
Segments of many requests are padded into batches of model rows (:func:`batch_inputs`); a runtime turns
a batch into start / end scores; :func:`decode_request` turns a request's rows into its ``k`` best
``(start_s, end_s, score)`` spans, best first, plus the per-clip curves a plot shows.
:class:`BaseLocalizer` drives all of it -- ``predict``, ``predict_many``, ``localize`` -- and
``engine.Localizer`` and the exported runtimes (``export.OnnxLocalizer``, ``export.TensorRTLocalizer``)
only supply its ``forward``, so they agree on windows, resampling, batching, text processing and decoding.

Long videos (``config.infer``; T clips, M = ``data.max_clips``):

* T <= M: one segment, the video as it is.
* ``windows`` (``infer.windows="windows"`` when T > M, ``"auto"`` when T > 2 M): sliding windows of M
  clips, consecutive windows sharing ``infer.window_overlap`` of a window (the last window ends at the
  video's end).  Each window's best spans (its own softmax over its clips) are mapped to seconds of the
  whole video, and all windows' candidates are merged by score with temporal NMS (``infer.nms_iou``).
  A moment is found whole when it fits in one window: any moment up to ``overlap x M`` clips does.  A
  span touching a window edge inside the video may be such a moment cut off: the NMS visits these after
  the others and drops them when mostly inside a kept span (:func:`engine.decoding.temporal_nms`).
* otherwise (``"resample"``, or ``"auto"`` with M < T <= 2 M): the video is average-pooled to M clips
  (:func:`engine.data.resample_clips`); spans are then multiples of ``duration / M``.

Scores (docs/design.md §11.1): a span (s, e) is ranked by its **presence**, the mean of the model's inner
(inside-the-moment) logits over its clips, plus ``log(P_start(s) x P_end(e))``; the score it reports is the
sigmoid of that sum.  The boundary probabilities are a softmax within the segment that proposed the span, so
every segment has a confident best span; the inner logits come from a per-clip BCE, an absolute scale that
compares across segments (the windows of a long video), and say whether the span's clips are the queried
moment at all.  They enter as log-odds, not as probabilities: confident spans have probabilities of
0.99-0.99998, whose product with P_start x P_end would rank them by P_start x P_end alone.  A runtime without
the inner logits (an export made before they were one of its outputs) uses its window's presence logit, the
largest inner logit (:mod:`engine.heads`), the same for all the window's spans; one without either scores
``P_start x P_end``.

Window consensus (``infer.window_consensus``, on by default): under windows a clip's inner logit is its lowest
over all the windows that hold it, for ranking and for the curve.  A window's inner logits are relative to what
else the window holds (the query-to-video attention is a softmax over the window's clips), so a look-alike of the
queried moment (same motion, another object) in a window without the moment can look like the best match there;
the moment itself looks like it in every window that sees it, a look-alike rarely does.  More overlap
(``infer.window_overlap``) puts every clip in more windows: a stricter consensus, for proportionally more windows.

A video that fits one segment gets the segment's ``MIN_CANDIDATES`` (at least ``4 k``) best spans by
``P_start x P_end`` ranked by the score; a long video's windows each propose as many, merged by the score with
NMS.  Without windows the top-k spans are returned as they are (no NMS), exactly as the model ranks them.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch

from engine.config import Config, WindowPolicy
from engine.data.clip_rate import EXTRACTION_FILE, RATE_TOLERANCE, read_extraction
from engine.data.features import FeatureFileError, check_clip_features, read_feature_file, resample_clips
from engine.decoding import temporal_nms, topk_spans
from engine.models import MODEL_INPUTS, ModelSpec, model_spec
from engine.text import TextProcessor
from engine.vocab import UNK_ID

WINDOW_POLICIES: tuple[str, ...] = get_args(WindowPolicy)
AUTO_WINDOW_FACTOR = 2  # infer.windows="auto": windows when T > AUTO_WINDOW_FACTOR * max_clips
CANDIDATES_PER_SPAN, MIN_CANDIDATES = 4, 16  # spans each window proposes to the NMS: max(4 k, 16)
BASE_CURVES = ("start", "end", "inner")  # every model's curves; a model's own (its spec's) come on top
JSON_DIGITS = 4  # curve values in JSON
DEFAULT_K = 5  # spans a prediction returns unless asked for another number (predict -k)


class QueryWarning(UserWarning):
    """A query the model cannot use (no word with a vector): the prediction ignores the query."""


@dataclass(frozen=True)
class Query:
    """One request of :meth:`BaseLocalizer.predict_many`: clip features (a (T, video_dim) array or a ``.npy``
    path), the sentence, the video's duration in seconds (None = clips x ``data.clip_seconds``) and an optional
    ``name`` that prefixes its error messages (e.g. ``requests.jsonl:7``)."""

    features: np.ndarray | str | Path
    query: str
    duration: float | None = None
    name: str | None = None

    @classmethod
    def of(cls, item: Query | Mapping[str, Any] | Sequence[Any]) -> Query:
        """A :class:`Query` from itself, a mapping with keys ``features``, ``query`` [, ``duration``, ``name``]
        or a tuple ``(features, query[, duration])``."""
        if isinstance(item, Query):
            return item
        if isinstance(item, Mapping):
            return cls(item["features"], item["query"], item.get("duration"), item.get("name"))
        return cls(*item)


@dataclass
class Segment:
    """One model row: ``features`` (L <= max_clips, video_dim) starting at clip ``offset`` of the request's grid."""

    features: np.ndarray
    offset: int


@dataclass
class Request:
    """A prepared query over one video: its text as model inputs and the segments the model sees."""

    query: str
    tokens: list[str]
    word_ids: list[int]
    word_class: list[int]
    segments: list[Segment]
    clips: int  # clips of the grid the spans live on: T, or max_clips after resampling
    duration: float  # seconds covered by those clips
    video_clips: int  # T, the clips of the video as given
    k: int  # spans to return
    mode: str  # "whole" (T <= max_clips), "windows" or "resampled"
    nms_iou: float
    warnings: list[str] = field(default_factory=list)
    where: str = "clip features"  # names the features in messages (e.g. their file)
    window_consensus: bool = True  # windows: rank by each clip's lowest inner logit over its windows


@dataclass
class Prediction:
    """What a localizer found for one request.

    ``spans``: up to ``k`` ``(start_s, end_s, score)``, best first.  ``curves``: per clip of the grid
    (``clips`` clips over ``duration`` s; ``video_clips`` is the video's own T), ``start`` / ``end``
    (boundary probabilities) and, where the runtime provides them, ``inner`` (inside-moment probability)
    and the model's own curves (its spec's, e.g. EAMAT's ``pe``); under windows a clip's value is the mean over
    the windows that hold it.  ``presence``: per segment (window), the probability it holds the moment, where the
    runtime provides it.  ``choice``: (name, value) of the model's per-row choice where it has one (Dynamic
    Pathway's ``("pathway", "exploration")``), taken from the first segment; else None.
    """

    spans: list[tuple[float, float, float]]
    clips: int
    duration: float
    video_clips: int
    mode: str
    windows: int
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    choice: tuple[str, str] | None = None
    warnings: list[str] = field(default_factory=list)
    presence: list[float] = field(default_factory=list)

    @property
    def clip_centers(self) -> np.ndarray:
        """(clips,) the time in seconds at the middle of each clip of the grid."""
        return (np.arange(self.clips) + 0.5) * self.duration / self.clips

    def to_json(self, curves: bool = True) -> dict[str, Any]:
        """Spans, the model's choice (e.g. DP's ``"pathway"``) and, with ``curves``, the model's own per-clip
        curves (e.g. EAMAT's ``"pe"``), as plain JSON types."""
        out: dict[str, Any] = {
            "duration": self.duration, "mode": self.mode, "windows": self.windows,
            "spans": [{"start": s, "end": e, "score": p} for s, e, p in self.spans],
        }
        if self.choice is not None:
            out[self.choice[0]] = self.choice[1]
        own = [name for name in self.curves if name not in BASE_CURVES] if curves else []
        if own:
            out["clips"] = self.clips
        for name in own:
            out[name] = [round(float(v), JSON_DIGITS) for v in self.curves[name]]
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


# ---------------------------------------------------------------------------------------------- windows
def uses_windows(num_clips: int, max_clips: int, policy: str) -> bool:
    """Whether a video of ``num_clips`` clips is cut into windows under ``infer.windows = policy``."""
    if policy not in WINDOW_POLICIES:
        raise ValueError(f"infer.windows must be one of {list(WINDOW_POLICIES)}, got {policy!r}")
    if num_clips <= max_clips or policy == "resample":
        return False
    return policy == "windows" or num_clips > AUTO_WINDOW_FACTOR * max_clips


def window_offsets(num_clips: int, window: int, overlap: float) -> list[int]:
    """First clips of the windows of ``window`` clips over ``num_clips`` clips: a stride of
    ``round(window * (1 - overlap))`` (at least 1) from clip 0, and a last window that ends at the end."""
    if window < 1 or not 0.0 <= overlap < 1.0:
        raise ValueError(f"window must be >= 1 and overlap in [0, 1), got {window} and {overlap}")
    if num_clips <= window:
        return [0]
    stride = max(1, round(window * (1.0 - overlap)))
    return [*range(0, num_clips - window, stride), num_clips - window]


# ---------------------------------------------------------------------------------------------- requests
def seconds_per_clip(config: Config) -> float:
    """Seconds of video per clip of the features the checkpoint was trained on (``data.clip_seconds``, which
    every checkpoint carries); 1.0 where it is unknown (0)."""
    return config.data.clip_seconds or 1.0


def feature_source(folder: Path) -> dict[str, Any]:
    """``{"recipe", "clip_seconds"}`` of a features folder's ``extraction.json`` (empty without one); read once
    per folder and file version, however many requests point into the folder."""
    path = folder / EXTRACTION_FILE
    return _feature_source(str(folder), path.stat().st_mtime_ns) if path.is_file() else {}


@functools.lru_cache(maxsize=16)
def _feature_source(folder: str, version: int) -> dict[str, Any]:
    meta = read_extraction(Path(folder)) or {}
    return {key: meta[key] for key in ("recipe", "clip_seconds") if key in meta}


def check_feature_source(config: Config, where: str, width: int | None = None, recipe: str = "",
                         clip_seconds: float = 0.0) -> None:
    """Refuse features the checkpoint was not trained on: another width, or -- where both sides know it --
    another recipe or clip rate (:class:`engine.data.FeatureFileError` naming ``where`` and both values)."""
    data, expected = config.data, config.model.video_dim
    if width is not None and width != expected:
        made = f" ({data.feature_recipe} features)" if data.feature_recipe else ""
        raise FeatureFileError(f"{where}: {width}-d clip features, but the checkpoint's model takes {expected}-d"
                               f"{made}; features of another extractor?")
    if recipe and data.feature_recipe and recipe != data.feature_recipe:
        raise FeatureFileError(f"{where}: features of recipe {recipe!r}, but the checkpoint was trained on "
                               f"{data.feature_recipe!r} features")
    known = clip_seconds and data.clip_seconds
    if known and abs(clip_seconds - data.clip_seconds) > RATE_TOLERANCE * data.clip_seconds:
        raise FeatureFileError(f"{where}: {clip_seconds:g} s per clip, but the checkpoint was trained on "
                               f"{data.clip_seconds:g} s per clip")


def prepare_request(
    features: np.ndarray,
    query: str,
    text: TextProcessor,
    config: Config,
    duration: float | None = None,
    k: int = DEFAULT_K,
    where: str = "clip features",
) -> Request:
    """Check one query and cut its video into segments (module docstring).

    ``features`` (T, video_dim): the video's clip features; ``duration`` (seconds) None means T x
    :func:`seconds_per_clip`.  Raises ValueError (a :class:`engine.data.FeatureFileError` for bad features,
    named by ``where``; another width than ``model.video_dim`` included) on bad input.
    """
    config.infer.validate()
    feats = check_clip_features(features, where, config.model.video_dim)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    video_clips = num_clips = feats.shape[0]
    max_clips = config.data.max_clips
    duration = num_clips * seconds_per_clip(config) if duration is None else float(duration)
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be positive seconds, got {duration}")
    if config.data.clip_stride > 1:  # the grid the model trained on: pooled to max_clips, every k-th clip kept
        feats = resample_clips(feats, max_clips)[::config.data.clip_stride]
        num_clips = feats.shape[0]
    if uses_windows(num_clips, max_clips, config.infer.windows):
        offsets = window_offsets(num_clips, max_clips, config.infer.window_overlap)
        segments = [Segment(feats[o:o + max_clips], o) for o in offsets]
        mode = "windows"
    else:
        mode = "whole" if num_clips <= max_clips else "resampled"
        feats = resample_clips(feats, max_clips)
        segments = [Segment(feats, 0)]
        num_clips = feats.shape[0]
        k = min(k, num_clips * (num_clips + 1) // 2)  # the spans that exist
    tokens, ids, classes = text.process(query)
    notes = []
    if all(i == UNK_ID for i in ids):
        notes.append(f"query {query!r}: none of its words ({' '.join(tokens)}) has a vector in the model's "
                     "vocabulary, so the prediction ignores the query")
    return Request(query, tokens, ids, classes, segments, num_clips, duration, video_clips, k, mode,
                   config.infer.nms_iou, notes, where, config.infer.window_consensus)


def batch_inputs(
    rows: Sequence[tuple[Request, Segment]], device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """The :data:`MODEL_INPUTS` of a batch of (request, segment) rows, zero-padded with prefix masks: a video row
    per segment, each distinct query (word ids and classes) once, in the order the rows first ask it, and
    ``query_row``, each row's query -- the model encodes a query once for all the windows that ask it."""
    queries: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}  # (word ids, word classes) -> its index
    query_row = np.array([queries.setdefault((tuple(request.word_ids), tuple(request.word_class)), len(queries))
                          for request, _ in rows], dtype=np.int64)
    clips = max(segment.features.shape[0] for _, segment in rows)
    words = max(len(word_ids) for word_ids, _ in queries)
    dv = rows[0][1].features.shape[1]
    video = np.zeros((len(rows), clips, dv), dtype=np.float32)
    video_mask = np.zeros((len(rows), clips), dtype=bool)
    ids = np.zeros((len(queries), words), dtype=np.int64)
    classes = np.zeros((len(queries), words), dtype=np.int64)
    word_mask = np.zeros((len(queries), words), dtype=bool)
    for i, (_, segment) in enumerate(rows):
        length = segment.features.shape[0]
        video[i, :length], video_mask[i, :length] = segment.features, True
    for q, (word_ids, word_class) in enumerate(queries):
        n = len(word_ids)
        ids[q, :n], classes[q, :n], word_mask[q, :n] = word_ids, word_class, True
    arrays = (video, video_mask, ids, word_mask, classes, query_row)
    return {name: torch.from_numpy(a).to(device) for name, a in zip(MODEL_INPUTS, arrays, strict=True)}


@dataclass
class RowOutput:
    """A runtime's scores for one row, cut to the row's clips: start / end scores (their softmax is the
    boundary distribution), per-clip logits by curve name (``inner`` and the model's own, where the runtime gives
    them), the model's choice as (name, value) and the row's presence logit."""

    start: torch.Tensor
    end: torch.Tensor
    curves: dict[str, torch.Tensor] = field(default_factory=dict)
    choice: tuple[str, str] | None = None
    presence: float | None = None

    @property
    def presence_prob(self) -> float:
        """``sigmoid(presence)``: the probability this row holds the queried moment (1 without a presence output)."""
        return 1.0 if self.presence is None else 1.0 / (1.0 + math.exp(-self.presence))

    def rank_spans(self, start: torch.Tensor, end: torch.Tensor, joint: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ranking key, score) of this row's spans ``start..end`` (clip indices) from their ``P_start x P_end``
        (module docstring), float64: the mean inner logit over the span (else the row's presence logit) plus
        ``log(joint)``, and its sigmoid; with neither, ``log(joint)`` and ``joint``.  Spans are ranked by the
        key, which keeps its order where the sigmoid rounds to 1."""
        key = joint.double().log()
        inner = self.curves.get("inner")
        if inner is not None:
            total = torch.cat([inner.new_zeros(1), inner]).double().cumsum(0)
            key = key + (total[end + 1] - total[start]) / (end - start + 1)
        elif self.presence is not None:
            key = key + self.presence
        else:
            return key, joint.double()
        return key, torch.sigmoid(key)


def split_rows(outputs: Mapping[str, Any], lengths: Sequence[int], spec: ModelSpec) -> list[RowOutput]:
    """Per-row :class:`RowOutput` of a batch's outputs: ``start_logits``, ``end_logits`` and, where present,
    ``inner_logits``, ``presence_logits`` and the outputs ``spec`` declares (its curves and its choice)."""
    curve_outputs = {"inner": "inner_logits", **{curve.name: curve.output for curve in spec.curves}}
    wanted = ("start_logits", "end_logits", "presence_logits", *curve_outputs.values(),
              *((spec.choice.output,) if spec.choice else ()))
    tensors = {k: torch.as_tensor(outputs[k]).detach().cpu() for k in wanted if outputs.get(k) is not None}
    rows = []
    for i, n in enumerate(lengths):
        curves = {name: tensors[key][i, :n].float() for name, key in curve_outputs.items() if key in tensors}
        choice = None
        if spec.choice and spec.choice.output in tensors:
            choice = (spec.choice.name, spec.choice.values[int(tensors[spec.choice.output][i])])
        presence = float(tensors["presence_logits"][i]) if "presence_logits" in tensors else None
        rows.append(RowOutput(tensors["start_logits"][i, :n].float(), tensors["end_logits"][i, :n].float(), curves,
                              choice, presence))
    return rows


def window_consensus(request: Request, rows: Sequence[RowOutput], curve: str = "inner") -> list[RowOutput]:
    """``rows`` with their ``curve`` replaced, on every clip, by its lowest logit over all the windows that hold
    the clip (module docstring); ``rows`` as they are for a single segment or without the curve."""
    if len(rows) < 2 or any(curve not in row.curves for row in rows):
        return list(rows)
    lowest = torch.full((request.clips,), math.inf)
    for segment, row in zip(request.segments, rows, strict=True):
        span = slice(segment.offset, segment.offset + row.curves[curve].shape[0])
        lowest[span] = torch.minimum(lowest[span], row.curves[curve])
    return [replace(row, curves={**row.curves, curve: lowest[segment.offset:segment.offset + row.start.shape[0]]})
            for segment, row in zip(request.segments, rows, strict=True)]


def decode_request(request: Request, rows: Sequence[RowOutput]) -> Prediction:
    """The request's spans (module docstring) and curves from the outputs of its segments, in order."""
    if request.window_consensus:
        rows = window_consensus(request, rows)
    spc = request.duration / request.clips
    candidates, keys, scores, cut = [], [], [], []
    for segment, row in zip(request.segments, rows, strict=True):
        length = row.start.shape[0]
        n = min(length * (length + 1) // 2, max(MIN_CANDIDATES, CANDIDATES_PER_SPAN * request.k))
        s, e, joint = topk_spans(row.start[None], row.end[None], torch.ones(1, length, dtype=torch.bool), n)
        key, score = row.rank_spans(s[0], e[0], joint[0])
        candidates.append(torch.stack([(s[0] + segment.offset).double(), (e[0] + segment.offset + 1).double()], 1))
        keys.append(key)
        scores.append(score)
        # a span on a window edge inside the video may be a moment cut off by the window
        cut.append(((s[0] == 0) & (segment.offset > 0)) | ((e[0] == length - 1) &
                                                            (segment.offset + length < request.clips)))
    bounds, keys_all, scores_all = torch.cat(candidates) * spc, torch.cat(keys), torch.cat(scores)
    if request.mode != "windows":  # one segment: its best spans by score, as they are
        kept = torch.sort(keys_all, descending=True, stable=True).indices[:request.k]
    else:
        kept = temporal_nms(bounds, keys_all, request.nms_iou, request.k, demoted=torch.cat(cut))
    spans = [(float(bounds[i, 0]), float(bounds[i, 1]), float(scores_all[i])) for i in kept.tolist()]
    spans = [(float(a), min(float(b), request.duration), float(c)) for a, b, c in spans]
    presence = [row.presence_prob for row in rows] if rows[0].presence is not None else []
    return Prediction(spans, request.clips, request.duration, request.video_clips, request.mode,
                      len(request.segments), _curves(request, rows), rows[0].choice, list(request.warnings), presence)


def _curves(request: Request, rows: Sequence[RowOutput]) -> dict[str, np.ndarray]:
    """Per-clip probabilities on the request's grid, averaged over the windows that hold a clip."""
    per_row = []
    for row in rows:
        curves = {"start": row.start.softmax(-1), "end": row.end.softmax(-1)}
        curves.update({name: torch.sigmoid(v) for name, v in row.curves.items()})
        per_row.append({name: v.double().numpy() for name, v in curves.items()})
    count = np.zeros(request.clips)
    sums = {name: np.zeros(request.clips) for name in per_row[0]}
    for segment, curves in zip(request.segments, per_row, strict=True):
        span = slice(segment.offset, segment.offset + len(curves["start"]))
        count[span] += 1
        for name, values in curves.items():
            sums[name][span] += values
    return {name: total / np.maximum(count, 1) for name, total in sums.items()}


# ---------------------------------------------------------------------------------------------- localizers
class BaseLocalizer:
    """``predict`` / ``predict_many`` / ``localize`` over a runtime's :meth:`forward`.

    Subclasses set ``config`` (:class:`~engine.config.Config`), ``text`` (:class:`~engine.text.TextProcessor`),
    ``device`` (where inputs go) and ``max_batch`` (the most rows one forward accepts; None = any), and
    implement ``forward(inputs) -> {"start_logits", "end_logits"[, "inner_logits", "presence_logits", the
    model's own outputs (its spec)]}`` over a padded batch of :data:`MODEL_INPUTS` (any scores whose softmax is
    the boundary distribution).
    """

    config: Config
    text: TextProcessor
    device: torch.device = torch.device("cpu")
    max_batch: int | None = None

    def forward(self, inputs: dict[str, torch.Tensor]) -> Mapping[str, Any]:
        raise NotImplementedError

    @property
    def spec(self) -> ModelSpec:
        """The registered model the config names: what its outputs mean."""
        return model_spec(self.config.model.name)

    def predict(
        self, features: np.ndarray, query: str, duration: float | None = None, k: int = DEFAULT_K
    ) -> list[tuple[float, float, float]]:
        """The ``k`` best spans ``(start_s, end_s, score)`` for ``query``, best first.

        ``features`` (T, video_dim) are the video's clip features; a video longer than ``data.max_clips``
        is cut into sliding windows or resampled (``config.infer``, module docstring).  ``duration``
        (seconds) maps clips to seconds; None means T x the checkpoint's ``data.clip_seconds`` (one second
        per clip where it is unknown).  ``score`` is ``sigmoid(mean inner logit over the span + log(P_start(s) x
        P_end(e)))`` (module docstring).  Fewer than ``k`` come back when fewer spans
        exist (``L (L + 1) / 2`` for L clips) or, under windows, survive the NMS.  Warns (:class:`QueryWarning`)
        when no word of the query has a vector.
        """
        return self.localize(features, query, duration, k).spans

    def localize(
        self, features: np.ndarray | str | Path, query: str, duration: float | None = None, k: int = DEFAULT_K
    ) -> Prediction:
        """:meth:`predict` with everything a plot or a JSON report needs (:class:`Prediction`); ``features`` may
        also be the path of a ``.npy`` file."""
        return next(self.localize_many([Query(features, query, duration)], k))

    def predict_many(
        self, queries: Iterable[Query | Mapping[str, Any] | Sequence[Any]], k: int = DEFAULT_K,
        batch_size: int | None = None, progress: bool = False,
    ) -> list[list[tuple[float, float, float]]]:
        """:meth:`predict` for each query (a :class:`Query`, a mapping or a tuple), batched; same order."""
        return [p.spans for p in self.localize_many(queries, k, batch_size, progress)]

    def localize_many(
        self, queries: Iterable[Query | Mapping[str, Any] | Sequence[Any]], k: int = DEFAULT_K,
        batch_size: int | None = None, progress: bool = False, total: int | None = None,
    ) -> Iterator[Prediction]:
        """:class:`Prediction` of each query, in order, lazily: queries are read (``.npy`` paths loaded) and
        run in groups of about ``batch_size`` model rows (default ``infer.batch_size``; a long video's
        windows count one row each), the rows of a group sorted by length so little is padded.
        ``progress`` shows a progress bar of ``total`` queries (default ``len(queries)`` where it exists).
        """
        rows_per_batch = batch_size or self.config.infer.batch_size
        if isinstance(rows_per_batch, bool) or not isinstance(rows_per_batch, int) or rows_per_batch < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {rows_per_batch!r}")
        if self.max_batch:
            rows_per_batch = min(rows_per_batch, self.max_batch)
        if total is None and hasattr(queries, "__len__"):
            total = len(queries)  # type: ignore[arg-type]
        from tqdm import tqdm

        bar = tqdm(total=total, unit="query", disable=not progress, dynamic_ncols=True, leave=False)
        try:
            group: list[Request] = []
            rows = 0
            for item in queries:
                request = self._prepare(Query.of(item), k)
                group.append(request)
                rows += len(request.segments)
                if rows >= rows_per_batch:
                    yield from self._run_group(group, rows_per_batch)
                    bar.update(len(group))
                    group, rows = [], 0
            if group:
                yield from self._run_group(group, rows_per_batch)
                bar.update(len(group))
        finally:
            bar.close()

    def _prepare(self, query: Query, k: int) -> Request:
        try:
            features, where = query.features, "clip features"
            if isinstance(features, (str, Path)):
                meta = feature_source(Path(features).parent)
                where = f"clip features {features}"
                check_feature_source(self.config, where, recipe=meta.get("recipe", ""),
                                     clip_seconds=meta.get("clip_seconds", 0.0))
                features = read_feature_file(features)
            return prepare_request(features, query.query, self.text, self.config, query.duration, k, where)
        except (ValueError, FileNotFoundError) as err:
            if query.name is None:
                raise
            raise type(err)(f"{query.name}: {err}") from err

    @torch.no_grad()
    def _run_group(self, group: list[Request], rows_per_batch: int) -> Iterator[Prediction]:
        rows = [(request, segment) for request in group for segment in request.segments]
        order = sorted(range(len(rows)), key=lambda i: -rows[i][1].features.shape[0])  # stable: longest first
        outputs: list[RowOutput | None] = [None] * len(rows)
        for first in range(0, len(order), rows_per_batch):
            chunk = order[first:first + rows_per_batch]
            batch = [rows[i] for i in chunk]
            out = self.forward(batch_inputs(batch, self.device))
            for i, row in zip(chunk, split_rows(out, [s.features.shape[0] for _, s in batch], self.spec),
                              strict=True):
                outputs[i] = row
        position = 0
        for request in group:
            mine = outputs[position:position + len(request.segments)]
            position += len(request.segments)
            if not all(torch.isfinite(row.start).all() and torch.isfinite(row.end).all() for row in mine):
                peak = max(float(np.abs(s.features).max()) for s in request.segments)
                raise ValueError(f"{request.where}: the model's scores are NaN / Inf for these features (largest "
                                 f"|value| {peak:.3g}); they are out of the range the model was trained on")
            for note in request.warnings:
                warnings.warn(note, QueryWarning, stacklevel=4)
            yield decode_request(request, mine)
