"""build_model, set_kernels and count_parameters."""

import pytest
import torch

from engine import EAMAT, ContextQueryAttention, DynamicPathway, MultiScaleLSTM, build_model, set_kernels
from engine.config import Config
from engine.models import count_parameters
from tests.engine.grounding_batch import VOCAB, WORD_DIM, small_config, word_vectors


@pytest.mark.parametrize(("name", "cls"), [("eamat", EAMAT), ("dp", DynamicPathway)])
def test_build_model_from_config_or_model_config(name, cls):
    config = Config()
    config.model = small_config(name)
    assert isinstance(build_model(config, word_vectors()), cls)
    assert isinstance(build_model(config.model), cls)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"'lstm'.*\['dp', 'eamat'\]"):
        build_model(small_config("lstm"))


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
