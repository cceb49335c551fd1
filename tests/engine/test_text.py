"""Query text: tokenizer, POS word classes, drop / fallback / truncation, vocabulary, missing tagger data."""

import nltk
import pytest
import torch

from engine import text
from engine.text import ENTITY, MOTION, OTHER, TextProcessor, tag_query, tokenize
from engine.vocab import PAD_ID, UNK_ID, Vocabulary

CHARADES_TRAIN = "/work/shared/data/charades-sta/charades_sta_train.txt"
WORD_DIM = 4


def _real_charades_sentence(sentence: str) -> str:
    """The sentence as it appears in the real Charades-STA train file (the test fails if it is not there)."""
    with open(CHARADES_TRAIN, encoding="utf-8") as lines:
        found = [line.split("##", 1)[1].strip() for line in lines if line.split("##", 1)[1].strip() == sentence]
    assert found, f"{sentence!r} not in {CHARADES_TRAIN}"
    return found[0]


def test_tokenize_lowercases_and_splits_punctuation_and_sentences():
    assert tokenize("A Person opens the door.") == ["a", "person", "opens", "the", "door", "."]
    assert tokenize("He cuts the board. He washes it") == ["he", "cuts", "the", "board", ".", "he", "washes", "it"]


def test_word_class_of_tags():
    assert [text.word_class(t) for t in ("NN", "PRP$", "RP", "JJ")] == [ENTITY] * 4
    assert [text.word_class(t) for t in ("VBZ", "MD", "RB", "WRB")] == [MOTION] * 4
    assert [text.word_class(t) for t in ("DT", "IN", "CC", "CD", ".", "TO")] == [OTHER] * 6


@pytest.mark.parametrize(
    "sentence, entity_words, motion_words",
    [
        ("a person opens the door.", {"person", "door"}, {"opens"}),
        ("person opens the door.", {"person", "door"}, {"opens"}),
        ("a person is putting a book on a shelf.", {"person", "book", "shelf"}, {"is", "putting"}),
        ("person holding a cup.", {"person", "cup"}, {"holding"}),
        ("a person is sitting on the sofa holding a phone.", {"person", "sofa", "phone"}, {"is", "sitting", "holding"}),
    ],
)
def test_real_charades_queries_get_entity_and_motion_words(sentence, entity_words, motion_words):
    tokens, classes = tag_query(_real_charades_sentence(sentence))
    assert {t for t, c in zip(tokens, classes, strict=True) if c == ENTITY} == entity_words
    assert {t for t, c in zip(tokens, classes, strict=True) if c == MOTION} == motion_words
    assert OTHER not in classes  # drop_unknown_pos (default) removed determiners, prepositions, punctuation


def test_keeping_unknown_pos_words_marks_them_other():
    tokens, classes = tag_query("the person is holding a cup.", drop_unknown_pos=False)
    assert tokens == ["the", "person", "is", "holding", "a", "cup", "."]
    assert classes == [OTHER, ENTITY, MOTION, MOTION, OTHER, ENTITY, OTHER]


def test_query_without_entity_or_motion_words_is_kept_whole_as_other():
    assert tag_query("the . a") == (["the", ".", "a"], [OTHER, OTHER, OTHER])


def test_truncation_counts_the_kept_words():
    sentence = " ".join(["person opens the door and"] * 10)
    tokens, classes = tag_query(sentence, max_words=7)
    assert tokens == ["person", "opens", "door"] * 2 + ["person"]
    assert len(classes) == 7
    with pytest.raises(ValueError, match="no words"):
        tag_query("   ")


def test_vocabulary_and_text_processor():
    vectors = torch.arange(2 * WORD_DIM, dtype=torch.float32).reshape(2, WORD_DIM) + 1
    vocab = Vocabulary.from_words(["door", "person"], vectors.numpy())
    assert vocab.itos[:2] == ["<pad>", "<unk>"] and len(vocab) == 4 and vocab.word_dim == WORD_DIM
    assert torch.equal(vocab.vectors[2:], vectors) and not vocab.vectors[:2].any()
    tokens, ids, classes = TextProcessor(vocab).process("A person opens the door")
    assert tokens == ["person", "opens", "door"]
    assert ids == [vocab.stoi["person"], UNK_ID, vocab.stoi["door"]]
    assert classes == [ENTITY, MOTION, ENTITY]
    assert PAD_ID == vocab.stoi["<pad>"]
    with pytest.raises(ValueError, match="zero"):
        Vocabulary(["<pad>", "<unk>"], torch.ones(2, WORD_DIM))
    with pytest.raises(ValueError, match="itos must start"):
        Vocabulary(["<unk>", "<pad>"], torch.zeros(2, WORD_DIM))


def test_missing_tagger_tries_one_download_then_names_the_command(tmp_path, monkeypatch):
    downloads = []
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(nltk, "download", lambda *args, **kwargs: downloads.append(args) or False)
    monkeypatch.setattr(text, "_download_attempted", False)
    for _ in range(2):
        with pytest.raises(RuntimeError) as err:
            text.load_tagger()
        assert "python -m nltk.downloader averaged_perceptron_tagger_eng" in str(err.value)
        assert "NLTK_DATA" in str(err.value)
    assert downloads == [("averaged_perceptron_tagger_eng",)]
