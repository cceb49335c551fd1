"""bench.long_videos: its command line on a tiny trained run (the long videos themselves:
tests/engine/data/test_long_videos.py)."""

import json

from bench.long_videos import FILLERS, main

QUERIES = 6
FACTOR = 8  # the tiny run's max_clips is 16; synthetic videos have up to 64 clips
WAYS_PER_FILLER = 2  # windows, resampled; plus the videos as they are once


def test_cli_prints_and_writes_every_way(tiny_run, tmp_path, capsys):
    out = tmp_path / "long.json"
    assert main(["--ckpt", str(tiny_run), "--queries", str(QUERIES), "--factors", str(FACTOR),
                 "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) == 1 + WAYS_PER_FILLER * len(FILLERS)
    assert all(0.0 <= v <= 100.0 for r in results.values() for v in r.values())
    assert "events filler, windows" in capsys.readouterr().out
