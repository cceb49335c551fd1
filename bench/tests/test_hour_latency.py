"""bench.hour_latency: the recorded query tagging is the tagger's, the preset mode runs where NLTK is not (the GPU
machine), and a trained run is timed through the one inference path."""

import json

import pytest

from bench.hour_latency import QUERY, RecordedText, main
from engine.text import TextProcessor
from engine.vocab import Vocabulary
from tests.hidden_packages import run_without
from train.cli import load_config

CLIP_SECONDS = 60.0  # 60 clips: a few windows of the tiny run (16 clips) and one of the presets (64)
PRESETS = ("synthetic", "dp-synthetic")  # EAMAT drops the determiners, DP reads them


@pytest.mark.parametrize("preset", PRESETS)
def test_recorded_tagging_is_what_the_text_processing_gives(preset) -> None:
    config = load_config(preset)
    vocab = Vocabulary.from_words(["person", "opens", "door", "the"], [[1.0], [2.0], [3.0], [4.0]])
    recorded, tagged = RecordedText.for_config(vocab, config), TextProcessor.for_config(vocab, config)
    assert recorded.process(QUERY) == tagged.process(QUERY)


def test_recorded_text_refuses_another_query() -> None:
    vocab = Vocabulary.from_words(["door"], [[1.0]])
    with pytest.raises(ValueError, match="knows only the query"):
        RecordedText(vocab).process("a person closes the door")


def test_presets_run_without_nltk(tmp_path) -> None:
    out = tmp_path / "hour.json"
    proc = run_without(f"""
from bench.hour_latency import main
assert main(["--preset", "synthetic", "--preset", "dp-synthetic", "--clip-seconds", "{CLIP_SECONDS}",
             "--repeats", "1", "--threads", "1", "--json", {str(out)!r}]) == 0
assert_nothing_hidden_leaked()
""")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["clips"] == round(3600 / CLIP_SECONDS)
    assert [m["model"] for m in results["models"].values()] == ["eamat", "dp"]
    for model in results["models"].values():
        timing = model["runtimes"]["PyTorch"]
        assert timing["seconds"] > 0 and timing["windows"] >= 1
        assert 0 < model["query_encoding_share"] < 1


def test_a_trained_run_is_timed_in_windows(tiny_run, tmp_path, capsys) -> None:
    out = tmp_path / "hour.json"
    assert main(["--ckpt", str(tiny_run), "--clip-seconds", str(CLIP_SECONDS), "--repeats", "1", "--threads", "1",
                 "--json", str(out)]) == 0
    (model,) = json.loads(out.read_text())["models"].values()
    assert model["runtimes"]["PyTorch"]["windows"] > 1  # 60 clips in windows of 16
    assert "query encoding" in capsys.readouterr().out


def test_preset_and_checkpoint_exclude_each_other(tiny_run) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--preset", "synthetic", "--ckpt", str(tiny_run)])
    assert exit.value.code == 2
