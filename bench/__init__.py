"""Benchmark suites: numerical parity (asserted) and throughput (reported) against the PyTorch reference.

``python -m bench`` runs a named plan of cases (:mod:`bench.plans`: ``full``, ``quick``, ``gpu-quick``), appending
every record to ``results.jsonl`` as it is taken (:mod:`bench.journal`) and rebuilding the report from it
(:mod:`bench.report`); ``pytest bench/test_bench.py --benchmark-json=FILE`` runs the same cases through
pytest-benchmark.  ``bench/gpu.sh`` is the one short GPU call (build check, GPU tests, the gpu-quick plan), built on
the :mod:`gpu_run` tools; ``python -m compile_report`` compiles every Triton kernel offline and reports registers,
spills and shared memory.  bench's own tests: ``bench/tests/``.
"""
