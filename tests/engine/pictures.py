"""Checks of the pictures the engine writes (prediction plots, training curves)."""

from __future__ import annotations

from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PLOT_PIXELS = (400, 200)


def assert_png(path: Path) -> None:
    """``path`` is a whole, decodable PNG of a useful size."""
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] >= MIN_PLOT_PIXELS[0] and image.size[1] >= MIN_PLOT_PIXELS[1]
