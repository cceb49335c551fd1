"""R@1 at IoU thresholds and mIoU on hand-computed cases."""

import numpy as np
import pytest

from engine import evaluate


def test_hand_computed_cases():
    # IoUs: 1.0, 0.5 (exactly at the threshold counts), 0.3 exactly, 0.0 (disjoint)
    pred = [[0, 10], [0, 5], [0, 3], [20, 30]]
    gt = [[0, 10], [0, 10], [0, 10], [0, 10]]
    out = evaluate(pred, gt, [40, 40, 40, 40])
    assert out["R1@0.3"] == pytest.approx(75.0)
    assert out["R1@0.5"] == pytest.approx(50.0)
    assert out["R1@0.7"] == pytest.approx(25.0)
    assert out["mIoU"] == pytest.approx(100 * (1.0 + 0.5 + 0.3 + 0.0) / 4)


def test_ground_truth_clipped_to_duration():
    # gt end 12 s beyond a 10 s video -> clipped to [5, 10]; pred [5, 10] is then a perfect match
    assert evaluate([[5, 10]], [[5, 12]], [10])["mIoU"] == pytest.approx(100.0)


def test_bad_input():
    with pytest.raises(ValueError, match="equal, non-zero counts"):
        evaluate([[0, 1]], [[0, 1], [0, 2]], [5, 5])
    with pytest.raises(ValueError, match="durations must be positive"):
        evaluate([[0, 1]], [[0, 1]], [0])


def test_a_multi_window_query_is_a_hit_on_any_window():
    pred = np.array([[10.0, 20.0], [10.0, 20.0], [0.0, 5.0]])
    gt = np.array([[0.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    windows = [((0.0, 5.0), (11.0, 19.0)), (), ()]  # sample 0: its second window matches; 1, 2: one window
    with_windows = evaluate(pred, gt, np.full(3, 40.0), windows)
    first_only = evaluate(pred, gt, np.full(3, 40.0))
    assert with_windows["R1@0.7"] == pytest.approx(200 / 3) and first_only["R1@0.7"] == pytest.approx(100 / 3)
    assert with_windows["mIoU"] == pytest.approx(100 * (0.8 + 0.0 + 1.0) / 3)
