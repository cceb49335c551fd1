"""``pytest bench/test_bench.py`` and bench's tests (``bench/tests/``): on a machine without CUDA, the Triton kernels
run through the interpreter (set here, before any kernel is defined)."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
