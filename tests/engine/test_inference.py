"""engine.inference: sliding windows for long videos, batched queries, curves, warnings and bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from engine import Localizer
from engine.data.features import FeatureFileError
from engine.inference import (
    QueryWarning,
    Request,
    RowOutput,
    Segment,
    batch_inputs,
    decode_request,
    uses_windows,
    window_offsets,
)
from engine.models import model_names
from tests.engine.edge_model import edge_localizer, event_video, iou
from tests.engine.two_events import write_two_events
from tests.export.tiny import MAX_CLIPS, VIDEO_DIM, write_checkpoint
from tests.markers import NLTK
from tests.train.tiny import train_tiny

QUERY = "a person opens the door"
LONG_FACTOR = 8  # the long video: 8 x max_clips clips
SECONDS_PER_CLIP = 1.5
EVENT_CLIPS = 3
FOUND_IOU, EXACT = 0.99, 1e-9  # windows find the event exactly
MISSED_IOU = 0.5  # R1@0.5: resampling 8:1 merges a 3-clip event into 8-clip bins, IoU <= 3/8
SCORE_ATOL = 1e-5  # predict_many vs predict (padding, batch composition)
SOFT_PEAK, SHARP_PEAK = 2.0, 6.0  # boundary logit peaks of a hand-made row of MAX_CLIPS: P_start x P_end 0.06 / 0.9


@pytest.mark.parametrize("num_clips, window, overlap", [(100, 24, 0.25), (49, 24, 0.0), (25, 24, 0.5), (300, 7, 0.9)])
def test_windows_cover_the_video_with_the_overlap(num_clips: int, window: int, overlap: float):
    offsets = window_offsets(num_clips, window, overlap)
    assert offsets[0] == 0 and offsets[-1] == num_clips - window and offsets == sorted(set(offsets))
    stride = max(1, round(window * (1 - overlap)))
    assert all(b - a == stride for a, b in zip(offsets[:-2], offsets[1:-1], strict=True))
    assert 0 < offsets[-1] - offsets[-2] <= stride
    covered = np.zeros(num_clips, dtype=int)
    for offset in offsets:
        covered[offset:offset + window] += 1
    assert covered.min() >= 1
    assert window_offsets(window - 3, window, overlap) == [0]


def test_window_policy():
    m = MAX_CLIPS
    assert not any(uses_windows(m, m, p) for p in ("auto", "windows", "resample"))  # short videos: unchanged
    assert uses_windows(m + 1, m, "windows") and not uses_windows(m + 1, m, "auto")
    assert uses_windows(2 * m + 1, m, "auto") and not uses_windows(2 * m, m, "auto")
    assert not uses_windows(100 * m, m, "resample")
    with pytest.raises(ValueError, match="infer.windows"):
        uses_windows(3 * m, m, "sometimes")


@NLTK
def test_long_video_target_in_the_last_window_is_found_by_windows_not_by_resampling():
    """The issue's test: an event near the end of an 8 x max_clips video, found at the right time by a model
    that finds it in a short video; resampling the long video to max_clips blurs it."""
    num_clips = LONG_FACTOR * MAX_CLIPS
    first = num_clips - MAX_CLIPS // 2 - EVENT_CLIPS // 2  # inside the last window only
    last = first + EVENT_CLIPS - 1
    truth = (first * SECONDS_PER_CLIP, (last + 1) * SECONDS_PER_CLIP)
    video, duration = event_video(num_clips, first, last), num_clips * SECONDS_PER_CLIP

    short = video[num_clips - MAX_CLIPS:]  # the last window as a video of its own
    offset_s = (num_clips - MAX_CLIPS) * SECONDS_PER_CLIP
    (start, end, _), *_ = edge_localizer().predict(short, QUERY, MAX_CLIPS * SECONDS_PER_CLIP)
    assert iou((start + offset_s, end + offset_s), truth) > FOUND_IOU

    localizer = edge_localizer("auto")
    found = localizer.localize(video, QUERY, duration)
    overlap = localizer.config.infer.window_overlap
    assert found.mode == "windows" and found.windows == len(window_offsets(num_clips, MAX_CLIPS, overlap))
    best = found.spans[0]
    assert abs(best[0] - truth[0]) < EXACT and abs(best[1] - truth[1]) < EXACT
    resampled = edge_localizer("resample").localize(video, QUERY, duration)
    assert resampled.mode == "resampled" and iou(resampled.spans[0][:2], truth) < MISSED_IOU
    print(f"\nlong video {num_clips} clips / {duration:g} s, truth {truth[0]:.2f}-{truth[1]:.2f} s: windows "
          f"{best[0]:.2f}-{best[1]:.2f} s (IoU {iou(best[:2], truth):.2f}); resampled "
          f"{resampled.spans[0][0]:.2f}-{resampled.spans[0][1]:.2f} s (IoU {iou(resampled.spans[0][:2], truth):.2f})")


@NLTK
def test_windowed_spans_are_merged_by_nms_and_stay_inside_the_video():
    num_clips = 5 * MAX_CLIPS
    video = event_video(num_clips, 10, 13)
    video[70:74, 0] += 1.0  # a second event, in other windows
    localizer = edge_localizer("windows")
    spans = localizer.predict(video, QUERY, 200.0, k=5)
    assert 1 <= len(spans) <= 5
    scores = [s for _, _, s in spans]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s < e <= 200.0 for s, e, _ in spans)
    ious = [iou(a[:2], b[:2]) for i, a in enumerate(spans) for b in spans[i + 1:]]
    assert max(ious, default=0.0) < localizer.config.infer.nms_iou
    step = 200.0 / num_clips
    assert {(round(s / step), round(e / step)) for s, e, _ in spans[:2]} == {(10, 14), (70, 74)}


def peaked_row(length: int, start: int, end: int, sharpness: float, presence: float | None) -> RowOutput:
    """A row whose boundary logits peak at clips ``start`` / ``end`` (``sharpness`` sets P_start x P_end)."""
    start_logits, end_logits = np.zeros(length, np.float32), np.zeros(length, np.float32)
    start_logits[start], end_logits[end] = sharpness, sharpness
    return RowOutput(torch.from_numpy(start_logits), torch.from_numpy(end_logits), presence=presence)


def test_windows_are_ranked_by_presence_odds_times_the_span_probability():
    """Two windows whose presence probabilities both round to ~1 (logits 9 and 6): the product
    presence x P_start x P_end would prefer the second window's sharper span; the odds (e^3 = 20 x) do not."""
    request = request_of([5], [1], [MAX_CLIPS, MAX_CLIPS])
    rows = [peaked_row(MAX_CLIPS, 2, 4, SOFT_PEAK, 9.0), peaked_row(MAX_CLIPS, 1, 3, SHARP_PEAK, 6.0)]
    joints = [float(torch.softmax(row.start, 0).max() * torch.softmax(row.end, 0).max()) for row in rows]
    assert rows[1].presence_prob * joints[1] > rows[0].presence_prob * joints[0]  # what the product would pick
    (start, end, score), = decode_request(request, rows).spans
    assert (start, end) == (2.0, 5.0)  # the first window's span, in seconds (1 s per clip)
    assert score == pytest.approx(1 / (1 + np.exp(-9.0 - np.log(joints[0]))), rel=1e-9)


def test_a_span_is_ranked_by_the_mean_inner_logit_over_its_clips_plus_its_log_probability():
    """With the inner curve a span's presence is its own: the window with the sharper span but a look-alike's
    inner logits (-3 inside, window max 9 elsewhere) loses to a softer span whose clips are the moment (+5)."""
    request = request_of([5], [1], [MAX_CLIPS, MAX_CLIPS])
    rows = [peaked_row(MAX_CLIPS, 1, 3, SHARP_PEAK, 9.0), peaked_row(MAX_CLIPS, 2, 4, SOFT_PEAK, 5.0)]
    for row, inside, elsewhere in ((rows[0], -3.0, 9.0), (rows[1], 5.0, -6.0)):
        inner = torch.full((MAX_CLIPS,), elsewhere)
        inner[1:5] = inside
        row.curves["inner"] = inner
    (start, end, score), = decode_request(request, rows).spans
    assert (start, end) == (MAX_CLIPS + 2.0, MAX_CLIPS + 5.0)  # the second window's span
    joint = float(torch.softmax(rows[1].start, 0)[2] * torch.softmax(rows[1].end, 0)[4])
    assert score == pytest.approx(1 / (1 + np.exp(-5.0 - np.log(joint))), rel=1e-9)


@pytest.mark.parametrize("consensus", [True, False])
def test_window_consensus_ranks_by_each_clips_lowest_inner_logit_over_its_windows(consensus: bool):
    """Two windows sharing half their clips: the first sees a look-alike on shared clips (inner logit +8, a sharp
    span), the second holds them too and scores them -4, and its own moment, beyond the first window, +5 (a soft
    span).  The consensus keeps -4 for the look-alike: the moment wins; each window on its own: the look-alike."""
    half = MAX_CLIPS // 2
    grid = MAX_CLIPS + half  # 1 s per clip
    lookalike, moment = (half + 1, half + 3), (MAX_CLIPS + 2, MAX_CLIPS + 4)  # clips on the grid
    request = dataclasses.replace(request_of([5], [1], [MAX_CLIPS, MAX_CLIPS]), clips=grid, duration=float(grid),
                                  video_clips=grid, window_consensus=consensus)
    request.segments[1].offset = half
    first = peaked_row(MAX_CLIPS, *lookalike, SHARP_PEAK, None)
    second = peaked_row(MAX_CLIPS, moment[0] - half, moment[1] - half, SOFT_PEAK, None)
    for row, offset, values in ((first, 0, ((lookalike, 8.0),)), (second, half, ((lookalike, -4.0), (moment, 5.0)))):
        row.curves["inner"] = torch.full((MAX_CLIPS,), -6.0)
        for (a, b), value in values:
            row.curves["inner"][a - offset:b - offset + 1] = value
    prediction = decode_request(request, [first, second])
    (start, end, _), = prediction.spans
    found = moment if consensus else lookalike
    assert (start, end) == (found[0], found[1] + 1.0)
    seen = torch.sigmoid(torch.tensor([8.0, -4.0]))  # the curve: the consensus, else the windows' mean
    curve = prediction.curves["inner"][lookalike[0]:lookalike[1] + 1]
    assert curve == pytest.approx(float(seen[1] if consensus else seen.mean()))


def test_one_window_ranks_its_spans_by_their_probability_whatever_the_presence():
    spans = {presence: [(s, e) for s, e, _ in decode_request(
        dataclasses.replace(request_of([5], [1], [MAX_CLIPS]), k=5),
        [peaked_row(MAX_CLIPS, 2, 6, SOFT_PEAK, presence)]).spans] for presence in (None, -4.0, 0.0, 30.0, 60.0)}
    assert len(set(map(tuple, spans.values()))) == 1 and len(spans[None]) == 5


def request_of(word_ids: list[int], word_class: list[int], clips: list[int]) -> Request:
    """A prepared request asking ``word_ids`` over segments of ``clips`` clips (segment i's features are all i)."""
    segments = [Segment(np.full((n, VIDEO_DIM), i, dtype=np.float32), i * MAX_CLIPS) for i, n in enumerate(clips)]
    tokens = [f"w{i}" for i in word_ids]
    return Request(" ".join(tokens), tokens, word_ids, word_class, segments, sum(clips), float(sum(clips)), sum(clips),
                   k=1, mode="windows" if len(clips) > 1 else "whole", nms_iou=0.5)


def test_a_batch_carries_each_query_once_and_each_rows_query_row():
    windows = request_of([5, 6, 7], [1, 2, 0], [MAX_CLIPS, MAX_CLIPS, MAX_CLIPS - 4])  # a long video's windows
    short = request_of([8], [1], [4])
    same_query = request_of([5, 6, 7], [1, 2, 0], [9])  # another video asked the same query
    other_classes = request_of([5, 6, 7], [0, 0, 0], [9])  # the same words, other POS classes: another query
    rows = [(windows, windows.segments[2]), (short, short.segments[0]), (windows, windows.segments[0]),
            (same_query, same_query.segments[0]), (other_classes, other_classes.segments[0]),
            (windows, windows.segments[1])]
    inputs = batch_inputs(rows)
    assert inputs["query_row"].tolist() == [0, 1, 0, 0, 2, 0]
    assert inputs["words"].tolist() == [[5, 6, 7], [8, 0, 0], [5, 6, 7]]
    assert inputs["word_class"].tolist() == [[1, 2, 0], [1, 0, 0], [0, 0, 0]]
    assert inputs["word_mask"].sum(1).tolist() == [3, 1, 3]
    assert inputs["video"].shape == (len(rows), MAX_CLIPS, VIDEO_DIM)
    assert inputs["video_mask"].sum(1).tolist() == [MAX_CLIPS - 4, 4, MAX_CLIPS, 9, 9, MAX_CLIPS]
    assert inputs["video"][:, 0, 0].tolist() == [2, 0, 0, 0, 0, 1]  # each row its own segment


@pytest.fixture(scope="module", params=model_names())
def tiny_localizer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Localizer:
    """A freshly initialised tiny model (real layers, so padding and batching are exercised)."""
    path = write_checkpoint(tmp_path_factory.mktemp(request.param) / "best.pt", request.param)
    return Localizer.from_checkpoint(path, device="cpu")


@NLTK
def test_predict_many_equals_predict_per_query(tiny_localizer: Localizer):
    rng = np.random.default_rng(3)
    lengths = (5, 3 * MAX_CLIPS, 9, MAX_CLIPS + 7)  # short, windows, short, resampled
    queries = ("a person opens the door", "the person walks to the window and sits", "door",
               "someone closes the window")
    requests = [(rng.normal(size=(n, VIDEO_DIM)).astype(np.float32), q, 2.0 * n) for n, q in zip(lengths, queries,
                                                                                               strict=True)]
    one_by_one = [tiny_localizer.predict(*r, k=4) for r in requests]
    for batch_size in (2, 64):  # several batches of mixed rows; all rows in one batch
        many = tiny_localizer.predict_many(requests, k=4, batch_size=batch_size)
        assert len(many) == len(requests)
        for got, want in zip(many, one_by_one, strict=True):
            assert [g[:2] for g in got] == [w[:2] for w in want]
            np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=SCORE_ATOL)


@NLTK
def test_the_windows_of_a_long_video_share_one_encoding_of_the_query(tiny_localizer: Localizer):
    video = np.random.default_rng(5).normal(size=(LONG_FACTOR * MAX_CLIPS, VIDEO_DIM)).astype(np.float32)
    model = tiny_localizer.model
    with mock.patch.object(model, "encode_query", wraps=model.encode_query) as encode:
        prediction = tiny_localizer.localize(video, QUERY, LONG_FACTOR * MAX_CLIPS * SECONDS_PER_CLIP)
    assert prediction.mode == "windows" and 1 < prediction.windows <= tiny_localizer.config.infer.batch_size
    assert [call.args[0].shape[0] for call in encode.call_args_list] == [1]  # one batch, one query


@NLTK
def test_prediction_carries_the_curves_and_the_choice_the_model_declares(tiny_localizer: Localizer):
    video = np.random.default_rng(4).normal(size=(3 * MAX_CLIPS, VIDEO_DIM)).astype(np.float32)
    prediction = tiny_localizer.localize(video, QUERY, 60.0)
    assert prediction.clips == prediction.video_clips == 3 * MAX_CLIPS
    spec = tiny_localizer.spec
    for name in ("start", "end", "inner", *(curve.name for curve in spec.curves)):
        curve = prediction.curves[name]
        assert curve.shape == (3 * MAX_CLIPS,) and ((curve >= 0) & (curve <= 1)).all()
    summary = prediction.to_json()
    assert [key for key in summary if key in prediction.curves] == [curve.name for curve in spec.curves]
    if spec.choice is None:
        assert prediction.choice is None
    else:
        assert prediction.choice[0] == spec.choice.name and summary[spec.choice.name] in spec.choice.values
    assert not set(prediction.to_json(curves=False)) & set(prediction.curves)


@NLTK
def test_query_without_known_words_warns_that_it_is_ignored():
    localizer = edge_localizer()
    video = event_video(MAX_CLIPS, 3, 6)
    with pytest.warns(QueryWarning, match="ignores the query"):
        prediction = localizer.localize(video, "xyzzy plugh", 10.0)
    assert prediction.warnings and "xyzzy" in prediction.warnings[0]
    assert not localizer.localize(video, QUERY, 10.0).warnings


@pytest.mark.parametrize("bad, message", [
    (lambda v: np.where(np.arange(len(v))[:, None] == 7, np.nan, v), r"row 7 \(clip 7\) holds NaN"),
    (lambda v: np.where(np.arange(len(v))[:, None] == 2, np.inf, v), r"row 2 \(clip 2\) holds Inf"),
    (lambda v: v.astype(object), "object array"),
    (lambda v: v[:, :5], rf"shape \(20, 5\); expected \(T >= 1, {VIDEO_DIM}\)"),
    (lambda v: np.stack([v, v], axis=1), "expected"),  # (T, 2, dv); singleton axes alone would be squeezed
])
def test_bad_features_are_refused_with_the_problem(bad, message: str):
    video = event_video(20, 3, 6).astype(np.float64)
    with pytest.raises(FeatureFileError, match=message):
        edge_localizer().predict(bad(video), QUERY)


@NLTK
def test_feature_files_are_read_without_unpickling(tmp_path: Path):
    localizer = edge_localizer()
    good = tmp_path / "good.npy"
    np.save(good, event_video(20, 3, 6))
    assert localizer.predict(good, QUERY) == localizer.predict(np.load(good), QUERY)
    pickled = tmp_path / "pickled.npy"
    pickled.write_bytes(b"\x80\x04\x95 not numpy")
    with pytest.raises(FeatureFileError, match=rf"{pickled}: not a .npy array file"):
        localizer.predict(pickled, QUERY)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([np.ones(3), "x"], dtype=object), allow_pickle=True)
    with pytest.raises(FeatureFileError, match="array of Python objects"):
        localizer.predict(objects, QUERY)



PRESENCE_AUC = 0.95  # share of (window with its target, window without) pairs that presence ranks right
PRESENCE_EPOCHS = 4


@pytest.fixture(scope="module")
def presence_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The tiny run's model (tests/train/tiny.py) trained with absent windows on the two-event dataset."""
    root = tmp_path_factory.mktemp("presence")
    annotations, features, moments = write_two_events(root / "data")
    sets = ["data.dataset=custom", f"data.annotations={annotations}", f"data.features={features}",
            "train.absent_fraction=0.5", f"train.epochs={PRESENCE_EPOCHS}"]
    return train_tiny(root / "run", *[arg for item in sets for arg in ("--set", item)]), features, moments


def test_presence_ranks_windows_without_the_target_below_windows_with_it(presence_run):
    """Each test moment's video as it is (the target inside) against the same video with the target's clips cut
    out (the other event stays): every pair of a window with its target and a window without."""
    run, features, moments = presence_run
    loc = Localizer.from_checkpoint(run, device="cpu")
    with_target, without = [], []
    for video_id, query, first, last in moments["test"]:
        video = np.load(features / f"{video_id}.npy")
        cut = np.concatenate([video[:first], video[last + 1:]])
        with_target.append((video, query, float(len(video))))
        without.append((cut, query, float(len(cut))))
    found = list(loc.localize_many(with_target + without, k=1))
    assert all(p.mode == "whole" and len(p.presence) == 1 for p in found)
    presence = np.array([p.presence[0] for p in found])
    inside, outside = presence[:len(with_target)], presence[len(with_target):]
    auc = float((inside[:, None] > outside[None, :]).mean())
    assert auc >= PRESENCE_AUC, f"presence ranks {auc:.2f} of the pairs right"
    # the span score carries it: the best span of a window with its target outscores one without
    scores = np.array([p.spans[0][2] for p in found])
    assert float((scores[:len(with_target), None] > scores[None, len(with_target):]).mean()) >= PRESENCE_AUC
