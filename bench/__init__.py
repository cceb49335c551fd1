"""Benchmark suites: numerical parity (asserted) and throughput (reported) against the PyTorch reference.

``python -m bench`` runs a named plan of cases (:mod:`bench.plans`: ``full``, ``quick``, ``gpu-quick``), appending
every record to ``results.jsonl`` as it is taken (:mod:`bench.journal`) and rebuilding the report from it
(:mod:`bench.report`); ``pytest bench/ --benchmark-json=FILE`` runs the same cases through pytest-benchmark.
``bench/gpu.sh`` is the one short GPU call (build check, GPU tests, the gpu-quick plan); ``python -m bench.compile``
compiles every Triton kernel offline for sm_90 and reports registers, spills and shared memory.
"""
