"""bench.suites.video (``python -m bench --plan video``): decode and extract cases per recipe, seconds of video
per second as the throughput."""

import pytest
import torch

from bench import plans
from bench.cases import Settings, run_case
from bench.records import ThroughputRecord
from bench.suites import video as video_suite
from bench.timing import TimingPlan
from tests.video.media import av  # noqa: F401 -- skips without PyAV

ONE_CALL = TimingPlan(warmup=0, repeats=1, min_sample_s=0.0, max_calls=1)
QUICK = Settings(torch.device("cpu"), (torch.float32,), ONE_CALL, quick=True, part="video")


def test_video_plan_measures_decoding_and_extraction_in_seconds_of_video() -> None:
    assert plans.get_plan("video").part_names() == ("video",)
    decode, extract = video_suite.cases(QUICK, recipes=("charades-i3d",))
    assert (decode.name, extract.name) == ("decode charades-i3d", "extract charades-i3d")
    shapes = video_suite.QUICK
    assert decode.items == shapes.seconds
    frames = decode.variants[0].fn(decode.make_input(0))[0][0]
    assert frames.item() == round(shapes.seconds * 24)  # the recipe's 24 fps
    assert extract.items == pytest.approx(shapes.cpu_batch * 24 / 24)  # a window advances 24 frames at 24 fps
    assert [v.name for v in extract.variants] == ["eager"]  # bf16 and compiled: CUDA only
    records = run_case(decode, QUICK, {})
    rates = [r.items_per_s for r in records if isinstance(r, ThroughputRecord)]
    assert len(rates) == 1 and rates[0] > 0
