"""``build_datasets``: a :class:`~engine.config.DataConfig` -> the train / val / test datasets and their vocabulary."""

from __future__ import annotations

from pathlib import Path

from engine.config import DataConfig
from engine.data.annotations import SPLITS, SplitReport, load_charades, load_custom, load_tacos
from engine.data.clip_rate import fill_clip_rate
from engine.data.dataset import GroundingDataset, make_samples
from engine.data.detr_annotations import load_detr
from engine.data.feature_store import open_feature_store
from engine.data.features import ArrayFeatures, ClipFeatures, StoredFeatures
from engine.data.synthetic import generate_from_config
from engine.glove import build_vocabulary
from engine.text import deletes_unknown_pos, masked_class, tag_queries
from engine.vocab import Vocabulary

# data.dataset -> parser(annotations, val_fraction)
LOADERS = {"charades": load_charades, "tacos": load_tacos, "custom": load_custom, "detr": load_detr}


def build_datasets(
    config: DataConfig, cache: str | Path | None = None, model: str = "eamat"
) -> tuple[dict[str, GroundingDataset], Vocabulary]:
    """Datasets for "train", "val", "test" and the vocabulary of all their query words (GloVe ``config.glove``).

    ``cache``: folder of the GloVe subset cache (default :func:`engine.glove.cache_dir`); ``model``: the model
    whose text rule applies (:func:`engine.text.deletes_unknown_pos`).  Feature files fill ``config.clip_seconds``
    / ``feature_recipe`` when unset (:func:`engine.data.clip_rate.fill_clip_rate`; ``config`` is changed in place).
    A query with several ground-truth windows (the DETR family) trains as one sample per window and is
    evaluated once, against all of them (docs/data-guide.md).
    """
    moments, reports, features = _load(config)
    sentences = (m.sentence for split in SPLITS for m in moments[split])
    drop = deletes_unknown_pos(config.drop_unknown_pos, model)
    tagged = tag_queries(sentences, config.max_words, drop, masked_class(config.mask_words))
    vocab = build_vocabulary((t for tokens, _ in tagged.values() for t in tokens), config.glove, cache)
    splits = {
        split: GroundingDataset(make_samples(moments[split], tagged, vocab, per_window=split == "train"), features,
                                reports[split])
        for split in SPLITS
    }
    return splits, vocab


def summarize(splits: dict[str, GroundingDataset], vocab: Vocabulary) -> str:
    """Readable lines for the training CLI: pairs and drops per split, vocabulary coverage."""
    lines = [f"{split:>5}: {dataset.summary()}" for split, dataset in splits.items()]
    lines.append(
        f"vocabulary: {len(vocab) - 2} words with {vocab.word_dim}-d vectors + <pad>, <unk>; "
        f"{len(vocab.oov)} query words without a vector map to <unk>"
    )
    return "\n".join(lines)


def _load(config: DataConfig) -> tuple[dict, dict[str, SplitReport], ClipFeatures]:
    if config.dataset == "synthetic":
        data = generate_from_config(config)
        reports = {split: SplitReport(loaded=len(data.moments[split])) for split in SPLITS}
        return data.moments, reports, ArrayFeatures(data.features, config.max_clips)
    for key in ("annotations", "features"):
        if not getattr(config, key):
            raise ValueError(f"data.{key} must name a folder for data.dataset={config.dataset!r}")
    moments, reports = LOADERS[config.dataset](config.annotations, config.val_fraction)
    every = [m for split in SPLITS for m in moments[split]]
    store = open_feature_store(config.features, config.feature_key)
    features = StoredFeatures(store, {m.video_id for m in every}, config.max_clips, config.clip_stride)
    fill_clip_rate(config, store, every)
    return moments, reports, features
