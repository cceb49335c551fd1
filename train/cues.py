"""Cue report: does a trained model use the query's motion word and its entity word?

For every test query of the embedded synthetic set (whose sentences name one entity and one motion from
:mod:`engine.data.synthetic`'s word lists) two variants are made: the motion word replaced by the same form of
another motion ("opens" -> "closes", "holding" -> "washing"), and the entity word by another entity.  The model
predicts both on the same video; the report is the share of test queries whose top-1 span changes.  A model that
ignores a cue changes (almost) none of its predictions when that word changes; one that grounds it changes most.
For Dynamic Pathway the report also carries how often each pathway is chosen on the test split.

Real datasets have no such word lists: the report is then skipped, saying so.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from engine.data.dataset import GroundingDataset, Sample
from engine.data.synthetic import ENTITIES, MOTIONS
from engine.text import TextProcessor

CUES = ("motion", "entity")
_WORD = re.compile(r"[a-z]+")
# every form of every motion -> (motion index, form index)
_MOTION_FORMS = {form: (m, f) for m, forms in enumerate(MOTIONS.values()) for f, form in enumerate(forms)}
_ENTITY_INDEX = {entity: e for e, entity in enumerate(ENTITIES)}


def swap_cue(sentence: str, cue: str, rng: np.random.Generator) -> str | None:
    """``sentence`` with its motion (or entity) word replaced by another motion's same form (another entity);
    None when the sentence has no such word."""
    forms = list(MOTIONS.values())

    def replace(match: re.Match) -> str:
        word = match.group(0)
        if cue == "motion" and word in _MOTION_FORMS:
            motion, form = _MOTION_FORMS[word]
            return forms[(motion + int(rng.integers(1, len(forms)))) % len(forms)][form]
        if cue == "entity" and word in _ENTITY_INDEX:
            return ENTITIES[(_ENTITY_INDEX[word] + int(rng.integers(1, len(ENTITIES)))) % len(ENTITIES)]
        return word

    swapped = _WORD.sub(replace, sentence.lower())
    return None if swapped == sentence.lower() else swapped


def swapped_dataset(dataset: GroundingDataset, cue: str, text: TextProcessor, seed: int) -> GroundingDataset:
    """The test samples with the ``cue`` word of each query swapped (samples without one are kept unchanged)."""
    rng = np.random.default_rng([seed, CUES.index(cue)])
    samples = []
    for sample in dataset.samples:
        sentence = swap_cue(sample.sentence, cue, rng) or sample.sentence
        tokens, ids, classes = text.process(sentence)
        samples.append(dataclasses.replace(sample, sentence=sentence, tokens=tuple(tokens), word_ids=tuple(ids),
                                           word_class=tuple(classes)))
    return GroundingDataset(samples, dataset.features, dataset.report)


def has_cue_words(samples: list[Sample]) -> bool:
    """Whether the queries come from the synthetic word lists (every query names a motion and an entity)."""
    return all(any(w in _MOTION_FORMS for w in s.tokens) and any(w in _ENTITY_INDEX for w in s.tokens)
               for s in samples)


def changed_share(original: np.ndarray, swapped: np.ndarray) -> float:
    """Share of rows whose predicted (start, end) differ, in percent."""
    return float(100.0 * np.mean(np.any(np.abs(original - swapped) > 1e-9, axis=1)))
