"""Query text: tokens, NLTK part-of-speech tags and EAMAT's entity / motion / other word classes.

A query goes through :func:`tag_query`, the rule of the authors' EAMAT code:

1. split into sentences at ``. ! ?`` + space, and each split by NLTK's ``TreebankWordTokenizer`` (rule based:
   needs no downloaded data, unlike ``punkt``);
2. truncated to its first ``max_words`` tokens;
3. POS-tagged as a whole by NLTK's averaged perceptron tagger (``averaged_perceptron_tagger_eng``), in the
   query's own case (as the authors' code; capitals inform the tagger), then lower-cased for the vocabulary;
4. each word gets a class from its tag: **entity** (:data:`ENTITY_TAGS`: nouns, adjectives, pronouns,
   particles), **motion** (:data:`MOTION_TAGS`: verbs, modals, adverbs) or **other** (:data:`OTHER_TAGS`:
   prepositions, ``to``, wh-words, comparatives, superlatives, list markers, symbols) -- "other" words reach
   both the entity and the motion query;
5. with ``drop_unknown_pos=True`` (default, as the authors' code) the words whose tag has no class are deleted
   (determiners, conjunctions, numbers, existential *there*, predeterminers, possessive endings, interjections,
   foreign words, plural proper nouns, punctuation); ``drop_unknown_pos=False`` keeps them as "other".
   A query that would lose every word is kept whole, every word "other" (the authors' code would pass an
   empty query on).  For the cue ablations (``data.mask_words``), ``masked`` = ``MOTION`` or ``ENTITY`` also
   deletes every word of that class.

Dynamic Pathway has no POS split: it reads the whole query whatever ``data.drop_unknown_pos`` says
(:func:`deletes_unknown_pos`; its presets also set it false) and ignores the classes.

The tagger: NLTK's own data when ``nltk.data.find`` locates it (``NLTK_DATA``, ``~/nltk_data``, ...); otherwise
the copy shipped inside this package (``engine/nltk_data/``, xz-compressed, provenance in its README), so a
machine with no network and no NLTK data tags queries all the same.  NLTK itself is imported on first use:
``import engine`` works without it, and text processing without it raises one error naming the install command.
"""

from __future__ import annotations

import functools
import json
import lzma
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.vocab import Vocabulary

OTHER, ENTITY, MOTION = 0, 1, 2
ENTITY_TAGS = frozenset({"NN", "NNS", "NNP", "JJ", "PRP", "PRP$", "RP"})
MOTION_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD", "RB", "RBR", "RBS", "WRB"})
OTHER_TAGS = frozenset({"IN", "TO", "WDT", "WP", "WP$", "JJR", "JJS", "LS", "SYM"})
TAGGER_RESOURCE = "averaged_perceptron_tagger_eng"
BUNDLED_TAGGER = Path(__file__).resolve().parent / "nltk_data" / "taggers" / TAGGER_RESOURCE
NLTK_INSTALL = "pip install 'nltk>=3.9'"
COMMON_WORD_FRACTION = 0.2  # content_words: a stem in more of the sentences names no moment
CONTENT_TAGS = ("NN", "VB", "JJ")  # content_words: nouns, verbs, adjectives (Penn tag prefixes)
AUXILIARIES = frozenset({"be", "is", "are", "am", "was", "were", "been", "being", "has", "have", "had", "having",
                         "do", "does", "did"})

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _nltk() -> Any:
    """The ``nltk`` module, or an ImportError naming the package and its install command."""
    try:
        import nltk
    except ImportError as err:
        raise ImportError(f"query text processing needs NLTK (tokenizer and POS tagger): {NLTK_INSTALL}") from err
    return nltk


def tokenize(sentence: str, lower: bool = True) -> list[str]:
    """Treebank tokens (lower-cased unless ``lower=False``); text holding several sentences is split at
    ``. ! ?`` + space first.

    (The Treebank tokenizer expects one sentence: it splits the final period only, so TACoS queries such
    as "he takes out a board. he cuts it" would yield "board." without this split.)
    """
    parts = _SENTENCE_END.split(sentence)
    tokens = [token for part in parts for token in _tokenizer().tokenize(part)]
    return [t.lower() for t in tokens] if lower else tokens


def word_class(tag: str) -> int | None:
    """``ENTITY`` / ``MOTION`` / ``OTHER`` for a Penn Treebank POS tag, None for a tag the rule deletes."""
    if tag in ENTITY_TAGS:
        return ENTITY
    if tag in MOTION_TAGS:
        return MOTION
    return OTHER if tag in OTHER_TAGS else None


def deletes_unknown_pos(drop_unknown_pos: bool, model: str) -> bool:
    """Whether step 5 deletes words: the ``data.drop_unknown_pos`` option for a model whose spec applies the POS
    rule (EAMAT), never for one that reads the whole query (:class:`engine.models.ModelSpec`)."""
    from engine.models import model_spec  # the models import this module

    return drop_unknown_pos and model_spec(model).deletes_unknown_pos


def tag_query(
    sentence: str, max_words: int = 30, drop_unknown_pos: bool = True, masked: int | None = None
) -> tuple[list[str], list[int]]:
    """(tokens, word classes) of a query, following the steps in the module docstring."""
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    tokens = tokenize(sentence, lower=False)[:max_words]
    if not tokens:
        raise ValueError(f"query {sentence!r} has no words")
    return classify_words(pos_tagger().tag(tokens), drop_unknown_pos, masked)


def classify_words(
    tagged: Iterable[tuple[str, str]], drop_unknown_pos: bool = True, masked: int | None = None
) -> tuple[list[str], list[int]]:
    """Steps 4-5 of the module docstring: (token, Penn tag) pairs -> (lower-cased tokens, word classes)."""
    tagged = list(tagged)
    tokens = [token.lower() for token, _ in tagged]
    classes = [word_class(tag) for _, tag in tagged]
    kept = [i for i, c in enumerate(classes)
            if (c is not None or not drop_unknown_pos) and (masked is None or c != masked)]
    if not kept:  # nothing has a class: keep the query whole rather than empty
        kept = list(range(len(tokens)))
    return [tokens[i] for i in kept], [OTHER if classes[i] is None else classes[i] for i in kept]


def tag_queries(
    sentences: Iterable[str], max_words: int = 30, drop_unknown_pos: bool = True, masked: int | None = None
) -> dict[str, tuple[list[str], list[int]]]:
    """:func:`tag_query` of each distinct sentence (datasets repeat sentences a lot)."""
    return {s: tag_query(s, max_words, drop_unknown_pos, masked) for s in dict.fromkeys(sentences)}


def masked_class(mask_words: str) -> int | None:
    """``data.mask_words`` ("none" | "motion" | "entity") -> the word class it deletes."""
    return {"none": None, "motion": MOTION, "entity": ENTITY}[mask_words]


@functools.cache
def pos_tagger() -> Any:
    """The process-wide NLTK perceptron tagger (loaded once, ~1 s): NLTK's installed data, else the bundled copy."""
    return load_tagger()


def load_tagger(nltk_data_wins: bool = True) -> Any:
    """A ``nltk.tag.PerceptronTagger``: from NLTK's data path when it has the model (and ``nltk_data_wins``),
    else from the copy shipped in this package."""
    nltk = _nltk()
    from nltk.tag.perceptron import PerceptronTagger

    if nltk_data_wins:
        try:
            nltk.data.find(f"taggers/{TAGGER_RESOURCE}/")
        except LookupError:
            pass
        else:
            return PerceptronTagger()
    weights, tagdict, classes = (_read_bundled(kind) for kind in ("weights", "tagdict", "classes"))
    tagger = PerceptronTagger(load=False)
    tagger.model.weights, tagger.tagdict = weights, tagdict
    tagger.classes = tagger.model.classes = set(classes)
    return tagger


def _read_bundled(kind: str) -> Any:
    path = BUNDLED_TAGGER / f"{TAGGER_RESOURCE}.{kind}.json.xz"
    try:
        with lzma.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, lzma.LZMAError, ValueError) as err:
        raise RuntimeError(
            f"the POS-tagger data shipped with this package is unreadable ({path}: {err}); reinstall the package, "
            f"or install NLTK's copy: python -m nltk.downloader {TAGGER_RESOURCE}"
        ) from err


def content_words(sentences: Iterable[str], common_fraction: float = COMMON_WORD_FRACTION
                  ) -> dict[str, frozenset[str]]:
    """Each distinct sentence's content words: the Porter stems of its nouns, verbs and adjectives (the POS
    tagger's ``NN*`` / ``VB*`` / ``JJ*``; auxiliaries such as "is" / "has" are no action), less the stems found in
    more than ``common_fraction`` of the sentences ("person", "room": words that name no moment).  Porter's rules
    need no NLTK data; irregular forms stay apart ("took" is not "take")."""
    stemmer = _nltk().stem.porter.PorterStemmer()
    stems = {}
    for sentence in dict.fromkeys(sentences):
        tagged = pos_tagger().tag(tokenize(sentence, lower=False))
        stems[sentence] = frozenset(stemmer.stem(word.lower()) for word, tag in tagged
                                    if tag[:2] in CONTENT_TAGS and word.isalpha() and word.lower() not in AUXILIARIES)
    counts = Counter(stem for words in stems.values() for stem in words)
    common = {stem for stem, n in counts.items() if n > common_fraction * max(len(stems), 1)}
    return {s: words - common for s, words in stems.items()}


@functools.cache
def _tokenizer() -> Any:
    return _nltk().tokenize.TreebankWordTokenizer()


class TextProcessor:
    """Query string -> (tokens, word ids, word classes) for a model trained with ``vocab``."""

    def __init__(
        self, vocab: Vocabulary, max_words: int = 30, drop_unknown_pos: bool = True, masked: int | None = None
    ):
        self.vocab = vocab
        self.max_words = max_words
        self.drop_unknown_pos = drop_unknown_pos
        self.masked = masked

    @classmethod
    def for_config(cls, vocab: Vocabulary, config: Config) -> TextProcessor:
        """The text processing a model of ``config`` was trained with."""
        drop = deletes_unknown_pos(config.data.drop_unknown_pos, config.model.name)
        return cls(vocab, config.data.max_words, drop, masked_class(config.data.mask_words))

    def process(self, sentence: str) -> tuple[list[str], list[int], list[int]]:
        tokens, classes = tag_query(sentence, self.max_words, self.drop_unknown_pos, self.masked)
        return tokens, self.vocab.encode(tokens), classes
