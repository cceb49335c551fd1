"""engine.plots: the prediction picture (zoomed for a short moment in a long video), written atomically."""

from __future__ import annotations

from pathlib import Path

from engine.plots import plot_prediction, zoom_range
from tests.engine.edge_model import edge_localizer, event_video
from tests.engine.pictures import assert_png
from tests.export.tiny import MAX_CLIPS
from tests.markers import NLTK

pytestmark = NLTK

QUERY = "a person opens the door"


def test_long_video_picture_zooms_on_the_best_span(tmp_path: Path):
    num_clips = 8 * MAX_CLIPS
    prediction = edge_localizer().localize(event_video(num_clips, 100, 102), QUERY, 2.0 * num_clips)
    zoom = zoom_range(prediction)
    start, end, _ = prediction.spans[0]
    assert zoom is not None and zoom[0] < start < end < zoom[1] and zoom[1] - zoom[0] < prediction.duration / 4
    path = plot_prediction(prediction, tmp_path / "long.png", QUERY, truth=(200.0, 206.0))
    assert_png(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.png"]


def test_short_video_picture_has_no_zoom(tmp_path: Path):
    prediction = edge_localizer().localize(event_video(MAX_CLIPS, 5, 15), QUERY, 30.0)
    assert zoom_range(prediction) is None
    assert_png(plot_prediction(prediction, tmp_path / "short.png", QUERY))
