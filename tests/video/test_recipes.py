"""video.recipes: each recipe's windows, clip count and seconds per clip, checked by arithmetic."""

import math

import pytest

from video.recipes import RECIPES, get_recipe

CHARADES_FRAMES_PER_SECOND, CHARADES_WINDOW, CHARADES_ROWS = 24, 24, 2  # VSLNet extract_charades.py, I3D's pool
TACOS_FPS, TACOS_WINDOW, TACOS_STRIDE = 29.4, 64, 64 // 5  # TALL's 64-frame clips at overlap 0.8, 2D-TAN's count
LENGTHS = range(0, 400)


def test_charades_i3d_gives_two_rows_per_second_of_video() -> None:
    recipe = get_recipe("charades-i3d")
    assert recipe.clip_seconds == pytest.approx(CHARADES_WINDOW / CHARADES_FRAMES_PER_SECOND / CHARADES_ROWS) == 0.5
    for t in LENGTHS:
        bounds = recipe.window_bounds(t)
        if t < CHARADES_WINDOW + 1:  # VSLNet never uses the last frame: one window needs 25 frames
            assert bounds == [] and recipe.clips(t) == 0
            continue
        assert recipe.clips(t) == CHARADES_ROWS * math.ceil(t / CHARADES_WINDOW)
        assert all(end - start == CHARADES_WINDOW and 0 <= start and end <= t - 1 for start, end in bounds)
        assert bounds[0] == (0, CHARADES_WINDOW) and bounds[-1][1] == min(t - 1, bounds[-1][0] + CHARADES_WINDOW)
    assert get_recipe("charades-i3d").window_bounds(48) == [(0, 24), (23, 47)]
    assert get_recipe("charades-i3d").window_bounds(25) == [(0, 24), (0, 24)]  # the source's loop repeats it


def test_tacos_c3d_windows_fit_in_the_video() -> None:
    recipe = get_recipe("tacos-c3d")
    assert recipe.clip_seconds == pytest.approx(TACOS_STRIDE / TACOS_FPS)
    for t in LENGTHS:
        expected = (t - TACOS_WINDOW) // TACOS_STRIDE + 1 if t >= TACOS_WINDOW else 0
        assert recipe.clips(t) == expected
        assert all(end - start == TACOS_WINDOW and end <= t for start, end in recipe.window_bounds(t))


def test_recipes_are_named_and_an_unknown_one_lists_them() -> None:
    assert set(RECIPES) == {"charades-i3d", "tacos-c3d"}
    assert all(name == recipe.name and recipe.source and recipe.weights for name, recipe in RECIPES.items())
    with pytest.raises(ValueError, match="charades-i3d, tacos-c3d"):
        get_recipe("kinetics")
