"""Test session set-up: Triton's CPU interpreter and the shared NLTK data, before any kernel import."""

import os
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")
_SHARED_NLTK = Path(__file__).resolve().parents[1].parent / "shared" / "nltk_data"
if "NLTK_DATA" not in os.environ and _SHARED_NLTK.is_dir():
    os.environ["NLTK_DATA"] = str(_SHARED_NLTK)
