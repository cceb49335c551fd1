"""bench.long_videos: its command line on a tiny trained run (the long videos themselves:
tests/engine/data/test_long_videos.py)."""

import json

import pytest

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


def test_overlap_and_consensus_override_the_checkpoints(tiny_run, capsys):
    assert main(["--ckpt", str(tiny_run), "--queries", "2", "--factors", str(FACTOR), "--fillers", "empty",
                 "--overlap", "0.75", "--no-consensus"]) == 0
    assert "windows overlap by 0.75, window consensus off" in capsys.readouterr().out


def test_an_overlap_out_of_range_is_a_usage_error(tiny_run):
    with pytest.raises(SystemExit) as exit:
        main(["--ckpt", str(tiny_run), "--overlap", "1.0"])
    assert exit.value.code == 2
