"""The trivial baselines against hand-computed spans."""

import numpy as np

from train.baselines import baseline_metrics, most_frequent_span, random_spans

SEED = 7
NUM_VIDEOS = 1000


def test_random_spans_are_seeded_sorted_and_inside_the_video():
    durations = np.random.default_rng(0).uniform(10, 60, NUM_VIDEOS)
    spans = random_spans(durations, SEED)
    assert np.array_equal(spans, random_spans(durations, SEED))
    assert not np.array_equal(spans, random_spans(durations, SEED + 1))
    assert np.all((spans[:, 0] <= spans[:, 1]) & (spans[:, 0] >= 0) & (spans[:, 1] <= durations))
    # uniform endpoints: the mean normalized start of sorted U(0,1) pairs is 1/3, the end 2/3
    np.testing.assert_allclose((spans / durations[:, None]).mean(0), [1 / 3, 2 / 3], atol=0.03)


def test_most_frequent_span_is_the_modal_bin_centre():
    durations = np.array([10.0, 20.0, 40.0, 10.0, 30.0])
    # normalized: (0.21, 0.52) x3 -> bin (2, 5); the two others elsewhere
    gt = np.array([[2.1, 5.2], [4.2, 10.4], [8.4, 20.8], [0.0, 10.0], [3.0, 6.0]])
    np.testing.assert_allclose(most_frequent_span(gt, durations), [0.25, 0.55])


def test_baseline_metrics_of_the_modal_span_on_its_own_data():
    durations = np.full(4, 10.0)
    gt = np.array([[2.04, 5.04]] * 3 + [[7.0, 9.0]])
    result = baseline_metrics(gt, durations, gt, durations, SEED)
    # prediction: bin centres (0.25, 0.55) -> (2.5, 5.5) s; IoU with (2.04, 5.04) = 2.54 / 3.46; with (7, 9) = 0
    iou = 2.54 / 3.46
    assert result["most_frequent"]["R1@0.5"] == 75.0 and result["most_frequent"]["R1@0.7"] == 75.0
    np.testing.assert_allclose(result["most_frequent"]["mIoU"], 100 * 3 * iou / 4)
    assert set(result["random"]) == {"R1@0.3", "R1@0.5", "R1@0.7", "mIoU"}
