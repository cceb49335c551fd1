"""The model registry, build_model, set_kernels and count_parameters; the queries each encoded once."""

import dataclasses
from unittest import mock

import pytest
import torch

from engine import ContextQueryAttention, MultiScaleLSTM, build_model, set_kernels
from engine.config import Config
from engine.models import MODEL_INPUTS, MODELS, count_parameters, model_names, model_spec
from tests.engine.grounding_batch import VOCAB, WORD_DIM, model_inputs, random_batch, small_config, word_vectors

QUERY_INPUTS = ("words", "word_mask", "word_class")
NUM_QUERIES = 2  # the first two queries of the random batch ...
QUERY_ROW = torch.tensor([1, 0, 1, 1])  # ... asked by its four rows (a video's windows), out of order
QUERY_ROW_ATOL = 1e-5  # a query encoded in a batch of 2 or of 4 rows: the same up to float rounding
# every registered model, and the variants whose query path differs (no entity branch, one pathway, soft mixing)
QUERY_ROW_MODELS = [(name, {}) for name in model_names()] + [
    ("eamat", {"entity_branch": False, "align_weight": 1.0}), ("dp", {"pathways": "exploration"}),
    ("dp", {"path_selection": "soft"}),
]


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


def variant_id(value: str | dict) -> str:
    return value if isinstance(value, str) else ",".join(f"{k}={v}" for k, v in value.items()) or "preset"


@pytest.mark.parametrize("name, overrides", QUERY_ROW_MODELS, ids=variant_id)
def test_each_query_is_encoded_once_and_its_rows_get_what_their_own_copies_would(name, overrides):
    """The network contract (engine.models.spec): Q queries asked by B rows through ``query_row`` are encoded
    once each, and every output equals that of the rows each given its own copy of its query."""
    torch.manual_seed(0)
    model = build_model(small_config(name, **overrides), word_vectors()).eval()
    batch = random_batch()
    queries = [batch[key][:NUM_QUERIES] for key in QUERY_INPUTS]
    with torch.no_grad(), mock.patch.object(model, "encode_query", wraps=model.encode_query) as encode:
        shared = model(batch["video"], batch["video_mask"], *queries, query_row=QUERY_ROW)
        assert [call.args[0].shape[0] for call in encode.call_args_list] == [NUM_QUERIES]
        copies = model(batch["video"], batch["video_mask"], *(query[QUERY_ROW] for query in queries))
    assert shared.keys() == copies.keys()
    for key, want in copies.items():
        torch.testing.assert_close(shared[key], want, atol=QUERY_ROW_ATOL, rtol=0, msg=key)


def test_a_training_batch_asks_each_row_its_own_query():
    """Collate makes no ``query_row``: ``model_inputs`` gives None for it (row i reads query i), as it gives a
    batch's own when it has one, and still refuses a batch without a required input."""
    batch = random_batch()
    assert MODEL_INPUTS[-1] == "query_row" and len(model_inputs(batch)) == len(MODEL_INPUTS)
    assert model_inputs(batch)[-1] is None
    assert model_inputs({**batch, "query_row": QUERY_ROW})[-1] is QUERY_ROW
    with pytest.raises(KeyError, match="words"):
        model_inputs({k: v for k, v in batch.items() if k != "words"})
