"""Query text (SPEC §3.1): tokenizer, NLTK part-of-speech tags, entity / motion word classes, vocabulary.

A query goes through :func:`tag_query`:

1. lower-cased, split into sentences at ``. ! ?`` + space, and each split by NLTK's ``TreebankWordTokenizer``
   (rule based: needs no downloaded data, unlike ``punkt``);
2. POS-tagged as a whole by NLTK's averaged perceptron tagger (``averaged_perceptron_tagger_eng``);
3. each word gets a class from its tag: **entity** (``ENTITY_TAGS``: nouns, adjectives, pronouns,
   particles), **motion** (``MOTION_TAGS``: verbs, modals, adverbs), **other** for every other tag
   (determiners, prepositions, conjunctions, numbers, punctuation, ...);
4. ``drop_unknown_pos=True`` (default, the authors' behaviour) deletes the "other" words, so only entity
   and motion words remain; ``drop_unknown_pos=False`` keeps them with class ``OTHER``. A query in which no
   word is an entity or a motion word would become empty: it is then kept whole, every word ``OTHER``
   (the same result as ``drop_unknown_pos=False``);
5. truncated to its first ``max_words`` words (after step 4, so the limit counts the words the model sees).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import nltk
from nltk.tokenize import TreebankWordTokenizer

from engine.vocab import Vocabulary

OTHER, ENTITY, MOTION = 0, 1, 2
ENTITY_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS", "JJ", "PRP", "PRP$", "RP"})
MOTION_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD", "RB", "RBR", "RBS", "WRB"})
TAGGER_RESOURCE = "averaged_perceptron_tagger_eng"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_download_attempted = False


def tokenize(sentence: str) -> list[str]:
    """Lower-cased Treebank tokens; text holding several sentences is split at ``. ! ?`` + space first.

    (The Treebank tokenizer expects one sentence: it splits the final period only, so TACoS queries such
    as "he takes out a board. he cuts it" would yield "board." without this split.)
    """
    parts = _SENTENCE_END.split(sentence.lower())
    return [token for part in parts for token in _tokenizer().tokenize(part)]


def word_class(tag: str) -> int:
    """``ENTITY`` / ``MOTION`` / ``OTHER`` for a Penn Treebank POS tag."""
    if tag in ENTITY_TAGS:
        return ENTITY
    return MOTION if tag in MOTION_TAGS else OTHER


def tag_query(sentence: str, max_words: int = 30, drop_unknown_pos: bool = True) -> tuple[list[str], list[int]]:
    """(tokens, word classes) of a query, following the steps in the module docstring."""
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    tokens = tokenize(sentence)
    if not tokens:
        raise ValueError(f"query {sentence!r} has no words")
    classes = [word_class(tag) for _, tag in pos_tagger().tag(tokens)]
    if drop_unknown_pos and any(c != OTHER for c in classes):
        kept = [i for i, c in enumerate(classes) if c != OTHER]
        tokens, classes = [tokens[i] for i in kept], [classes[i] for i in kept]
    return tokens[:max_words], classes[:max_words]


def tag_queries(
    sentences: Iterable[str], max_words: int = 30, drop_unknown_pos: bool = True
) -> dict[str, tuple[list[str], list[int]]]:
    """:func:`tag_query` of each distinct sentence (datasets repeat sentences a lot)."""
    return {s: tag_query(s, max_words, drop_unknown_pos) for s in dict.fromkeys(sentences)}


@functools.cache
def pos_tagger() -> nltk.tag.PerceptronTagger:
    """The process-wide NLTK perceptron tagger (loaded once, ~1 s)."""
    return load_tagger()


def load_tagger() -> nltk.tag.PerceptronTagger:
    """Load the tagger; if its data is missing try ``nltk.download`` once, else raise with the fix."""
    global _download_attempted
    if not _tagger_installed() and not _download_attempted:
        _download_attempted = True
        nltk.download(TAGGER_RESOURCE, quiet=True, raise_on_error=False)
    if not _tagger_installed():
        raise RuntimeError(
            f"NLTK POS-tagger data '{TAGGER_RESOURCE}' was not found in {list(nltk.data.path)} and could not be "
            f"downloaded. Install it with\n    python -m nltk.downloader {TAGGER_RESOURCE}\n"
            f"or set NLTK_DATA to a folder that holds taggers/{TAGGER_RESOURCE}/."
        )
    return nltk.tag.PerceptronTagger()


def _tagger_installed() -> bool:
    try:
        nltk.data.find(f"taggers/{TAGGER_RESOURCE}/")
    except LookupError:
        return False
    return True


@functools.cache
def _tokenizer() -> TreebankWordTokenizer:
    return TreebankWordTokenizer()


class TextProcessor:
    """Query string -> (tokens, word ids, word classes) for a model trained with ``vocab``."""

    def __init__(self, vocab: Vocabulary, max_words: int = 30, drop_unknown_pos: bool = True):
        self.vocab = vocab
        self.max_words = max_words
        self.drop_unknown_pos = drop_unknown_pos

    def process(self, sentence: str) -> tuple[list[str], list[int], list[int]]:
        tokens, classes = tag_query(sentence, self.max_words, self.drop_unknown_pos)
        return tokens, self.vocab.encode(tokens), classes
