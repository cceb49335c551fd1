"""The ONNX localizer shares engine.inference: the same sliding windows, NMS and batching as engine.Localizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export import OnnxLocalizer, export_onnx
from tests.engine.edge_model import EdgeModel, edge_localizer, event_video
from tests.export.conftest import EXAMPLE
from tests.export.tiny import ITOS, MAX_CLIPS, tiny_config
from tests.markers import NLTK

QUERY = "a person opens the door"
SECONDS_PER_CLIP = 2.0
SCORE_ATOL = 1e-5
pytestmark = [NLTK, pytest.mark.filterwarnings("ignore:Constant folding:UserWarning")]  # the edge model slices


@pytest.fixture(scope="module")
def edge_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(EdgeModel(), tiny_config("eamat"), ITOS, tmp_path_factory.mktemp("edge") / "edge.onnx",
                       example=EXAMPLE)


def test_onnx_localizer_finds_the_late_event_of_a_long_video_with_windows(edge_onnx: Path):
    num_clips = 8 * MAX_CLIPS
    first, last = num_clips - 9, num_clips - 7
    video = event_video(num_clips, first, last)
    onnx = OnnxLocalizer(edge_onnx)
    assert onnx.config.infer.windows == "auto"
    prediction = onnx.localize(video, QUERY, num_clips * SECONDS_PER_CLIP)
    assert prediction.mode == "windows"
    start, end, _ = prediction.spans[0]
    assert (start, end) == pytest.approx((first * SECONDS_PER_CLIP, (last + 1) * SECONDS_PER_CLIP))
    want = edge_localizer().predict(video, QUERY, num_clips * SECONDS_PER_CLIP)
    assert [p[:2] for p in prediction.spans] == [w[:2] for w in want]
    np.testing.assert_allclose([p[2] for p in prediction.spans], [w[2] for w in want], atol=SCORE_ATOL)


def test_onnx_predict_many_equals_predict(edge_onnx: Path):
    onnx = OnnxLocalizer(edge_onnx)
    lengths = (10, 3 * MAX_CLIPS, MAX_CLIPS + 4, 6 * MAX_CLIPS)
    requests = [(event_video(n, n // 2, n // 2 + 2, seed=n), QUERY, None) for n in lengths]
    many = onnx.predict_many(requests, k=3, batch_size=4)
    for got, request in zip(many, requests, strict=True):
        want = onnx.predict(*request, k=3)
        assert [g[:2] for g in got] == [w[:2] for w in want]
        np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=SCORE_ATOL)
