"""Test session set-up: Triton's CPU interpreter and the shared NLTK data, before any kernel import."""

import os
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")
# tiny test shapes gain nothing from intra-op threads, and the subprocess tests (DDP, bench) would
# oversubscribe a small CI machine: one thread per process unless the caller says otherwise
os.environ.setdefault("OMP_NUM_THREADS", "1")
_SHARED_NLTK = Path(__file__).resolve().parents[1].parent / "shared" / "nltk_data"
if "NLTK_DATA" not in os.environ and _SHARED_NLTK.is_dir():
    os.environ["NLTK_DATA"] = str(_SHARED_NLTK)
