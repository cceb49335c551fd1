"""Config sections, YAML loading and dotted overrides."""

import pytest

from engine.config import Config


def test_overrides_are_typed():
    cfg = Config().apply_overrides(["model.dim=256", "optim.lr=1e-3", "dp.lol_kernels=[3,5]", "data.glove=x.txt"])
    assert (cfg.model.dim, cfg.optim.lr, cfg.dp.lol_kernels, cfg.data.glove) == (256, 1e-3, [3, 5], "x.txt")


def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(KeyError, match="valid keys: .*model.dim"):
        Config().apply_overrides(["model.dimm=3"])
    with pytest.raises(KeyError, match="sections"):
        Config().apply_overrides(["modle.dim=3"])
    with pytest.raises(TypeError, match="model.dim must be int"):
        Config().apply_overrides(["model.dim=abc"])


def test_yaml_round_trip(tmp_path):
    import yaml

    cfg = Config().apply_overrides(["model.name=dp", "train.epochs=3"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert Config.load(path) == cfg
    path.write_text("model: {nope: 1}\n")
    with pytest.raises(KeyError, match=str(path)):
        Config.load(path)


def test_renamed_keys_of_older_configs_set_their_successors():
    """Checkpoints written before DP's kernel list was split into LoL / SpL lists still load."""
    cfg = Config.from_dict({"model": {"name": "dp", "conv_kernels": [3, 5]}}, "old checkpoint")
    assert cfg.dp.lol_kernels == cfg.dp.spl_kernels == [3, 5]


def test_removed_keys_of_older_configs_are_ignored_but_refused_on_the_command_line(tmp_path):
    """Configs and checkpoints written while ``train.topk`` existed (nothing read it) still load."""
    path = tmp_path / "old.yaml"
    path.write_text("train: {topk: 5, epochs: 2}\n")
    cfg = Config.load(path)
    assert cfg.train.epochs == 2 and "topk" not in cfg.to_dict()["train"]
    with pytest.raises(KeyError, match="train.topk was removed.*--topk"):
        Config().apply_overrides(["train.topk=3"])
