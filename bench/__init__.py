"""Benchmark suites: numerical parity (asserted) and throughput (reported) against the PyTorch reference.

``python -m bench`` runs the kernel, model and deployment suites this machine supports (see
:mod:`bench.cli`); ``pytest bench/ --benchmark-json=FILE`` runs the same measurements at small shapes
through pytest-benchmark.
"""
