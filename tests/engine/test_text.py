"""Query text: tokenizer, the authors' POS rule (truncate, tag, class, delete), the bundled tagger, vocabulary."""

import hashlib
import lzma
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from engine import text
from engine.text import ENTITY, MOTION, OTHER, TextProcessor, tag_query, tokenize
from engine.vocab import PAD_ID, UNK_ID, Vocabulary
from tests.markers import NLTK

REAL_QUERIES = Path(__file__).parent / "real_queries"
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WORD_DIM = 4
MAX_WORDS = 30
# The tags the authors' EAMAT code deletes, written out on their own (not derived from engine.text's tables):
# determiners, conjunctions, numbers, existential there, predeterminers, possessive endings, interjections,
# foreign words, plural proper nouns and the punctuation tags.
DELETED_TAGS = {"DT", "CC", "CD", "EX", "PDT", "POS", "UH", "FW", "NNPS",
                "#", "$", "''", "``", "(", ")", ",", ".", ":"}
BUNDLED_SHA256 = {  # of the uncompressed files, as in engine/nltk_data/README.md
    "classes": "7a87ba804751f4719b2d8e0e7693955761c579526b20a1b68ffc365b412e7f10",
    "tagdict": "4c713731cb06727736962bc8cd94ad919217a040e76691059af99bc0c2c9c246",
    "weights": "789e8e35f6fac656d9b7eccea29ba4e8a137cbb5b525dd31f39e4291a9e80832",
}


def kept_words_by_the_authors_rule(sentence: str) -> list[str]:
    """Independent statement of the rule: truncate to 30 tokens, tag them as written, keep every word whose tag is
    not deleted, lower-cased."""
    tokens = tokenize(sentence, lower=False)[:MAX_WORDS]
    kept = [word for word, tag in text.pos_tagger().tag(tokens) if tag not in DELETED_TAGS]
    return [w.lower() for w in kept or tokens]


def real_queries(name: str) -> list[str]:
    return (REAL_QUERIES / f"{name}.txt").read_text(encoding="utf-8").splitlines()


@NLTK
def test_tokenize_lowercases_and_splits_punctuation_and_sentences():
    assert tokenize("A Person opens the door.") == ["a", "person", "opens", "the", "door", "."]
    assert tokenize("He cuts the board. He washes it") == ["he", "cuts", "the", "board", ".", "he", "washes", "it"]


def test_word_class_of_tags():
    assert [text.word_class(t) for t in ("NN", "PRP$", "RP", "JJ")] == [ENTITY] * 4
    assert [text.word_class(t) for t in ("VBZ", "MD", "RB", "WRB")] == [MOTION] * 4
    assert [text.word_class(t) for t in ("IN", "TO", "WDT", "JJS", "SYM")] == [OTHER] * 5
    assert [text.word_class(t) for t in ("DT", "CC", "CD", ".", "NNPS", "POS")] == [None] * 6


@pytest.mark.parametrize(
    "sentence, entity_words, motion_words, other_words",
    [
        ("a person opens the door.", {"person", "door"}, {"opens"}, set()),
        ("person opens the door.", {"person", "door"}, {"opens"}, set()),
        ("a person is putting a book on a shelf.", {"person", "book", "shelf"}, {"is", "putting"}, {"on"}),
        ("person holding a cup.", {"person", "cup"}, {"holding"}, set()),
        ("a person is sitting on the sofa holding a phone.", {"person", "sofa", "phone"}, {"is", "sitting", "holding"},
         {"on"}),
    ],
)
@NLTK
def test_real_charades_queries_get_entity_motion_and_other_words(sentence, entity_words, motion_words, other_words):
    tokens, classes = tag_query(sentence)
    by_class = {c: {t for t, k in zip(tokens, classes, strict=True) if k == c} for c in (ENTITY, MOTION, OTHER)}
    assert by_class == {ENTITY: entity_words, MOTION: motion_words, OTHER: other_words}
    assert "the" not in tokens and "a" not in tokens and "." not in tokens  # DT and punctuation are deleted


@NLTK
@pytest.mark.parametrize("name", ["charades_sta_test", "tacos_test"])
def test_kept_words_on_real_queries_match_an_independent_statement_of_the_rule(name):
    queries = real_queries(name)
    kept_tags = Counter()
    for sentence in queries:
        tokens, classes = tag_query(sentence)
        assert tokens == kept_words_by_the_authors_rule(sentence), sentence
        kept_tags.update(c for c in classes)
    assert kept_tags[OTHER] > 0.02 * sum(kept_tags.values())  # prepositions etc. reach the model


@NLTK
def test_full_real_annotation_files_follow_the_rule_when_present():
    files = [SHARED_DATA / "charades-sta" / f"charades_sta_{s}.txt" for s in ("train", "test")]
    if not all(f.is_file() for f in files):
        pytest.skip(f"the full annotation files are not at {SHARED_DATA}")
    sentences = {line.split("##", 1)[1].strip() for f in files for line in f.read_text().splitlines() if "##" in line}
    changed = [s for s in sorted(sentences) if tag_query(s)[0] != kept_words_by_the_authors_rule(s)]
    assert not changed, changed[:5]


@NLTK
def test_truncation_happens_before_tagging_and_deletion():
    sentence = " ".join(["person opens the door and"] * 10)  # 50 tokens
    tokens, classes = tag_query(sentence, max_words=7)
    assert tokens == ["person", "opens", "door", "person", "opens"]  # of the first 7: person opens the door and ...
    assert (tokens, classes) == tag_query("person opens the door and person opens")  # tagged after truncation
    with pytest.raises(ValueError, match="no words"):
        tag_query("   ")


@NLTK
def test_keeping_unknown_pos_words_marks_them_other():
    tokens, classes = tag_query("the person is holding a cup.", drop_unknown_pos=False)
    assert tokens == ["the", "person", "is", "holding", "a", "cup", "."]
    assert classes == [OTHER, ENTITY, MOTION, MOTION, OTHER, ENTITY, OTHER]


@NLTK
def test_query_without_a_classed_word_is_kept_whole_as_other():
    assert tag_query("the . a") == (["the", ".", "a"], [OTHER, OTHER, OTHER])


@NLTK
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


def test_bundled_tagger_data_is_the_recorded_nltk_release():
    for kind, digest in BUNDLED_SHA256.items():
        path = text.BUNDLED_TAGGER / f"{text.TAGGER_RESOURCE}.{kind}.json.xz"
        assert hashlib.sha256(lzma.decompress(path.read_bytes())).hexdigest() == digest, path


@NLTK
def test_bundled_tagger_is_used_without_nltk_data_and_tags_as_nltk_loads_it(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])  # NLTK's search path has no tagger data
    bundled = text.load_tagger()
    # the same files unpacked where NLTK looks, loaded by NLTK's own reader
    folder = tmp_path / "nltk" / "taggers" / text.TAGGER_RESOURCE
    folder.mkdir(parents=True)
    for path in text.BUNDLED_TAGGER.glob("*.json.xz"):
        (folder / path.name.removesuffix(".xz")).write_bytes(lzma.decompress(path.read_bytes()))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk")])
    from nltk.tag.perceptron import PerceptronTagger

    by_nltk = PerceptronTagger()
    for sentence in real_queries("charades_sta_test")[:50]:
        tokens = tokenize(sentence)
        assert bundled.tag(tokens) == by_nltk.tag(tokens), sentence


@NLTK
def test_installed_nltk_data_wins_over_the_bundled_copy(tmp_path, monkeypatch):
    """A (deliberately wrong) tagger model on NLTK's path is the one loaded."""
    import nltk

    folder = tmp_path / "taggers" / text.TAGGER_RESOURCE
    folder.mkdir(parents=True)
    for kind, content in (("weights", "{}"), ("tagdict", '{"door": "VB"}'), ("classes", '["VB"]')):
        (folder / f"{text.TAGGER_RESOURCE}.{kind}.json").write_text(content)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    assert text.load_tagger().tag(["door"]) == [("door", "VB")]
    assert text.load_tagger(nltk_data_wins=False).tag(["door"]) == [("door", "NN")]


def test_without_nltk_text_processing_names_the_package_and_the_install_command():
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'nltk': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import engine.text\n"
        "try:\n"
        "    engine.text.tag_query('a person opens the door')\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs NLTK" in out and "pip install 'nltk>=3.9'" in out


@NLTK
def test_dynamic_pathway_reads_the_whole_query():
    """No POS deletion for DP, whatever data.drop_unknown_pos says; EAMAT follows the option."""
    from engine.config import Config

    vocab = Vocabulary.from_words(["door", "person"], torch.ones(2, WORD_DIM).numpy())
    sentence = "the person opens the door."
    for model, drop, expected in (("dp", True, ["the", "person", "opens", "the", "door", "."]),
                                  ("eamat", True, ["person", "opens", "door"]),
                                  ("eamat", False, ["the", "person", "opens", "the", "door", "."])):
        config = Config().apply_overrides([f"model.name={model}", f"data.drop_unknown_pos={drop}"])
        assert TextProcessor.for_config(vocab, config).process(sentence)[0] == expected, (model, drop)


@NLTK
def test_cue_ablation_deletes_every_word_of_the_masked_class():
    from engine.config import Config

    vocab = Vocabulary.from_words(["door", "person"], torch.ones(2, WORD_DIM).numpy())
    sentence = "a person is opening the door."
    expected = {"none": ["person", "is", "opening", "door"], "motion": ["person", "door"], "entity": ["is", "opening"]}
    for mask, tokens in expected.items():
        config = Config().apply_overrides([f"data.mask_words={mask}"])
        assert TextProcessor.for_config(vocab, config).process(sentence)[0] == tokens, mask


@NLTK
def test_content_words_are_stems_of_the_words_few_sentences_share():
    sentences = ["A person opens the door.", "a person is opening a box", "the person closes the door",
                 "person took the cup", "a person takes a bag", "someone washes the window"]
    words = text.content_words(sentences, common_fraction=0.4)
    assert words["A person opens the door."] == {"open", "door"}  # "person" is in > 40 %, "the" no noun / verb
    assert words["a person is opening a box"] == {"open", "box"}  # "is": an auxiliary
    assert words["person took the cup"] == {"took", "cup"}  # Porter: no irregular forms
    assert text.content_words(sentences, common_fraction=1.0)["person took the cup"] == {"person", "took", "cup"}
