"""The model registry, build_model, set_kernels and count_parameters."""

import dataclasses

import pytest
import torch

from engine import ContextQueryAttention, MultiScaleLSTM, build_model, set_kernels
from engine.config import Config
from engine.models import MODELS, count_parameters, model_names, model_spec
from tests.engine.grounding_batch import VOCAB, WORD_DIM, model_inputs, random_batch, small_config, word_vectors


@pytest.mark.parametrize("name", model_names())
def test_every_registered_model_builds_from_its_config_and_keeps_the_network_contract(name):
    spec = model_spec(name)
    config = small_config(name)
    assert config.own is config.models[name] and type(config.own) is spec.section and spec.section.SECTION == name
    model = build_model(config, word_vectors()).eval()
    assert model.config is config.model  # the spec is found back from a network
    batch = random_batch()
    out = model(*model_inputs(batch))
    for key in ("start_logits", "end_logits", "inner_logits"):
        assert out[key].shape == batch["video_mask"].shape
    assert out["presence_logits"].shape == (batch["video_mask"].shape[0],)
    for curve in spec.curves:
        assert out[curve.output].shape == batch["video_mask"].shape
    if spec.choice:
        assert out[spec.choice.output].dtype == torch.int64
        assert 0 <= int(out[spec.choice.output].min()) <= int(out[spec.choice.output].max()) < len(spec.choice.values)
    loss, parts = model.train().loss(model(*model_inputs(batch)), batch)
    assert torch.isfinite(loss) and parts["total"] == pytest.approx(loss.item())
    query = model.encode_query(batch["words"], batch["word_mask"], batch["word_class"])
    assert query is not None


def test_unknown_model_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"'lstm'.*" + ".*".join(sorted(MODELS))):
        small_config("lstm")
    with pytest.raises(KeyError, match="registered models"):
        model_spec("lstm")
    with pytest.raises(TypeError, match="Config"):
        build_model(small_config("eamat").model)


def test_a_model_field_given_in_the_flat_model_section_of_older_configs_reaches_its_own_section():
    old = {"model": {"name": "dp", "num_scales": 2, "entity_blocks": 1, "pathways": "exploration",
                     "conv_kernels": [3, 5]}}
    cfg = Config.from_dict(old)
    assert (cfg.dp.num_scales, cfg.eamat.num_scales, cfg.eamat.entity_blocks) == (2, 2, 1)
    assert cfg.dp.pathways == "exploration" and cfg.dp.lol_kernels == cfg.dp.spl_kernels == [3, 5]
    saved = cfg.to_dict()
    assert set(saved) >= {"model", *MODELS} and "num_scales" not in saved["model"]
    assert Config.from_dict(saved).to_dict() == saved
    with pytest.raises(KeyError, match="dp.pathways"):
        Config().set("eamat.pathways", "both")


def test_set_kernels_reaches_every_op_module():
    model = build_model(small_config("dp"))
    op_modules = [m for m in model.modules() if isinstance(m, (MultiScaleLSTM, ContextQueryAttention))]
    assert len(op_modules) == 4 + 2  # one MS-LSTM per GoL / TeN, one CQA per pathway
    set_kernels(model, "triton")
    assert all(m.kernels == "triton" for m in op_modules)
    with pytest.raises(ValueError, match="backend"):
        set_kernels(model, "cuda")


def test_count_parameters_separates_the_frozen_table():
    model = build_model(small_config("eamat"))
    counts = count_parameters(model)
    assert counts["frozen"] == VOCAB * WORD_DIM
    assert counts["trainable"] == sum(p.numel() for p in model.parameters())
    assert counts["total"] == counts["trainable"] + counts["frozen"]
    model.query_proj.requires_grad_(False)
    frozen_proj = sum(p.numel() for p in model.query_proj.parameters())
    assert count_parameters(model)["frozen"] == VOCAB * WORD_DIM + frozen_proj
    assert torch.is_tensor(model.embedding.vectors)


def test_every_model_section_field_has_help():
    for spec in MODELS.values():
        assert all(f.metadata.get("help") for f in dataclasses.fields(spec.section)), spec.name
