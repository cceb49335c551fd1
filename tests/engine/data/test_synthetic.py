"""Synthetic dataset: determinism, the planted entity / motion cues, its English, build_datasets, disk round trip."""

import dataclasses
import time

import numpy as np
import pytest

from engine.config import DataConfig
from engine.data import build_datasets, collate, summarize
from engine.data.synthetic import (
    ENTITIES,
    ENTITY_AMP,
    MAX_CLIPS,
    MIN_CLIPS,
    MOTION_AMP,
    MOTION_SPEEDS,
    MOTIONS,
    TEMPLATES,
    generate,
    write_to_disk,
)
from engine.decoding import seconds_to_index
from engine.glove import build_vocabulary
from engine.text import ENTITY, MOTION, tag_query

SIZES = {"train": 24, "val": 6, "test": 8}
SEED = 7
BUILD_BUDGET_S = 10.0  # default sizes (2000 / 300 / 500): generation + tagging + vocabulary
SMALL = DataConfig(synthetic_train=12, synthetic_val=4, synthetic_test=5, synthetic_seed=3)


def _target(sentence: str) -> tuple[int, int]:
    """(entity index, motion index) named by a synthetic query."""
    words = sentence.rstrip(".").split()
    entity = next(i for i, e in enumerate(ENTITIES) if e in words)
    motion = next(i for i, forms in enumerate(MOTIONS.values()) if set(forms) & set(words))
    return entity, motion


def test_same_seed_same_data_and_splits_are_independent():
    a, b = generate(SIZES, SEED), generate(SIZES, SEED)
    assert a.moments == b.moments and a.features.keys() == b.features.keys()
    assert all(np.array_equal(a.features[v], b.features[v]) for v in a.features)
    other_seed = generate(SIZES, SEED + 1)
    assert not np.array_equal(other_seed.features["synth-test-00000"], a.features["synth-test-00000"])
    more_train = generate({**SIZES, "train": 3}, SEED)
    assert more_train.moments["test"] == a.moments["test"]


def test_planted_cues_match_the_query_and_labels():
    data = generate(SIZES, SEED, noise_std=0.0, scene_std=0.0)
    codes, plane = data.world.entity_codes, data.world.plane
    for moment in (m for ms in data.moments.values() for m in ms):
        video = data.features[moment.video_id].astype(np.float64)
        assert video.shape[1] == 64 and MIN_CLIPS <= len(video) <= MAX_CLIPS
        entity, motion = _target(moment.sentence)
        s, e = seconds_to_index(moment.start, moment.end, len(video), moment.duration)
        present = np.isclose(video @ codes[entity], ENTITY_AMP, atol=1e-5)  # (L,) target object visible
        point = video @ plane.T  # (L, 2) coordinates in the motion plane
        angle = np.arctan2(point[:, 1], point[:, 0])
        target_turn = np.isclose(np.angle(np.exp(1j * np.diff(angle))), MOTION_SPEEDS[motion], atol=1e-4)
        # clip pair (t, t+1) shows the target event: object visible in both, turning at the target's speed
        target_pair = present[:-1] & present[1:] & target_turn
        assert present[s : e + 1].all() and target_pair[s:e].all()
        np.testing.assert_allclose(np.linalg.norm(point[s : e + 1], axis=1), MOTION_AMP, rtol=1e-5)
        assert not target_pair[max(s - 1, 0) : s].any() and not target_pair[e : e + 1].any()  # span is maximal
        # distractors elsewhere: the target object with another motion, the target motion with another object
        outside = np.ones(len(video) - 1, bool)
        outside[max(s - 1, 0) : e + 1] = False  # pairs touching the labelled span
        assert (present[:-1] & present[1:] & ~target_turn & outside).sum() >= 2
        assert (~present[:-1] & ~present[1:] & target_turn & outside).sum() >= 2


def test_query_words_are_tagged_and_have_glove_vectors():
    words = set()
    for entity in ENTITIES:
        for forms in MOTIONS.values():
            for template in TEMPLATES:
                sentence = template.format(
                    subject="the person",
                    present=forms[0],
                    ing=forms[1],
                    past=forms[2],
                    det="a",
                    entity=entity,
                    tail=".",
                )
                tokens, classes = tag_query(sentence)
                by_word = dict(zip(tokens, classes, strict=True))
                assert by_word[entity] == ENTITY and by_word["person"] == ENTITY, sentence
                assert MOTION in {by_word.get(form) for form in forms}, sentence
                words.update(tokens)
    assert build_vocabulary(words).oov == ()


def test_build_datasets_default_config_is_fast():
    start = time.perf_counter()
    splits, vocab = build_datasets(DataConfig())
    elapsed = time.perf_counter() - start
    assert elapsed < BUILD_BUDGET_S, f"synthetic build took {elapsed:.1f} s"
    config = DataConfig()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [
        config.synthetic_train,
        config.synthetic_val,
        config.synthetic_test,
    ]
    assert splits["train"].video_dim == 64 and vocab.word_dim == 50 and vocab.oov == ()
    assert "0 queries without entity/motion words" in summarize(splits, vocab)


def test_write_to_disk_round_trip_through_the_charades_loader(tmp_path):
    disk_config = write_to_disk(tmp_path, SMALL)
    assert disk_config.dataset == "charades"
    from_disk, disk_vocab = build_datasets(disk_config)
    in_memory, vocab = build_datasets(SMALL)
    assert disk_vocab.itos == vocab.itos
    for split in ("train", "val", "test"):
        assert from_disk[split].samples == in_memory[split].samples
        disk_batch = collate([from_disk[split][i] for i in range(len(from_disk[split]))])
        memory_batch = collate([in_memory[split][i] for i in range(len(in_memory[split]))])
        for key, value in memory_batch.items():
            assert (disk_batch[key] == value) if isinstance(value, list) else disk_batch[key].equal(value), key


def test_unknown_dataset_and_missing_folders_are_named():
    with pytest.raises(ValueError, match="data.dataset must be one of"):
        build_datasets(dataclasses.replace(SMALL, dataset="kinetics"))
    with pytest.raises(ValueError, match="data.annotations"):
        build_datasets(dataclasses.replace(SMALL, dataset="tacos"))
