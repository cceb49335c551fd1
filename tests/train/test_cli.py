"""The CLI's configuration handling: presets, overrides, unknown keys, --help-config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.config import Config, section_names, valid_keys
from train.cli import PRESETS_DIR, load_config, main, preset_names

USAGE_ERROR = 2
PAPER_PRESETS = ("eamat-charades", "eamat-tacos", "dp-charades", "dp-tacos")


def test_every_preset_loads_with_the_paper_hyper_parameters():
    assert set(PAPER_PRESETS) | {"synthetic"} <= set(preset_names())
    for name in PAPER_PRESETS:
        cfg = load_config(name)
        assert (cfg.model.dim, cfg.model.num_heads, cfg.own.num_scales, cfg.model.dropout) == (512, 8, 3, 0.5)
        assert (cfg.data.batch_size, cfg.train.epochs, cfg.optim.lr) == (16, 50, 5e-4)
        assert (cfg.optim.weight_decay, cfg.optim.grad_clip) == (0.01, 1.0)
        tacos = name.endswith("tacos")
        # EAMAT's TACoS code pools to 1500 clips and keeps every 3rd; DP (no code) pools to 256
        assert (cfg.data.max_clips, cfg.data.clip_stride) == ((1500, 3) if name == "eamat-tacos" else
                                                              (256, 1) if tacos else (128, 1))
        assert cfg.data.clip_seconds == (0.408 if tacos else 0.5)
        assert cfg.data.feature_recipe == ("tacos-c3d" if tacos else "charades-i3d")
        assert cfg.model.video_dim == (4096 if tacos else 1024)
        assert cfg.model.name == name.split("-")[0]
    assert load_config("eamat-tacos").eamat.entity_blocks == 1
    assert load_config("eamat-charades").eamat.entity_blocks == 3


def test_unknown_override_key_is_rejected_with_the_valid_keys(capsys):
    assert main(["--set", "model.no_such_field=3"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert "model.no_such_field" in err and "Traceback" not in err
    for key in valid_keys("model"):
        assert key in err


def test_unknown_key_in_a_config_file_is_rejected(tmp_path: Path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  lr: 1.0e-3\n  momentum: 0.9\n")
    assert main(["--config", str(path), "--help-config"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert "optim.momentum" in err and all(key in err for key in valid_keys("optim"))


def test_unknown_config_name_lists_the_presets(capsys):
    assert main(["--config", "no-such-preset"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert all(name in err for name in preset_names())


def test_help_config_lists_every_field_with_its_value(capsys):
    assert main(["--config", "eamat-tacos", "--set", "optim.lr=2e-4", "--help-config"]) == 0
    text = capsys.readouterr().out
    for section in section_names():
        for f in dataclasses.fields(getattr(Config(), section)):
            assert f"\n  {f.name}: " in text, f"{section}.{f.name} missing"
    assert "  lr: 0.0002  #" in text and "[default: 0.0005]" in text
    assert "  entity_blocks: 1  # standard Transformer blocks" in text


def test_presets_are_in_the_package_folder():
    assert PRESETS_DIR.is_dir() and (PRESETS_DIR / "synthetic.yaml").is_file()


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--config", "--set", "--out", "--kernels", "--resume", "--eval-only", "--help-config", "predict"):
        assert option in text


def test_dp_presets_read_the_whole_query_and_eamat_presets_delete_unclassed_words():
    for name in preset_names():
        cfg = load_config(name)
        assert cfg.data.drop_unknown_pos == (cfg.model.name == "eamat"), name


@pytest.mark.parametrize("preset", ["eamat-charades", "dp-tacos"])
def test_real_data_presets_with_the_builtin_vectors_name_the_papers_vectors(preset, tmp_path: Path, capsys):
    assert main(["--config", preset, "--help-config"]) == 0
    assert "# note: data.glove=builtin" in capsys.readouterr().out
    missing = str(tmp_path / "missing")
    code = main(["--config", preset, "--set", f"data.annotations={missing}", "--set", f"data.features={missing}",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == USAGE_ERROR  # the folders do not exist; the warning comes first
    assert "warning: data.glove=builtin" in err and "--set data.glove=/path/to/glove.840B.300d.txt" in err
    assert main(["--config", "synthetic", "--help-config"]) == 0
    assert "# note:" not in capsys.readouterr().out


@pytest.mark.parametrize("override, field", [("train.epochs=-1", "train.epochs"), ("data.val_fraction=1.5",
                                                                                  "data.val_fraction"),
                                              ("data.clip_stride=0", "data.clip_stride")])
def test_out_of_range_values_are_config_errors_before_any_setup(override, field, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert main(["--set", override, "--out", str(run), "--no-progress"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert f"error: {field} must be" in err and "Traceback" not in err and not run.exists()
    assert main(["check-data", "--set", override]) == USAGE_ERROR
