"""The plumbing of one short GPU run, independent of what the run measures.

* :mod:`gpu_run.machine` -- the facts recorded with every result (device, versions, commit) and the memory
  bandwidth (nominal and a measured copy);
* :mod:`gpu_run.journal` -- ``results.jsonl``: every record appended durably the moment it exists;
* :mod:`gpu_run.records` -- the records these tools write there (checks, isolated items);
* :mod:`gpu_run.isolation` -- an item (a case, a test) that faults or hangs ends only itself: per-item time limit,
  fault probe, ``python -m gpu_run.isolation -- COMMAND`` reruns a command until it went through;
* :mod:`gpu_run.pytest_isolation` -- the same for pytest (``-p gpu_run.pytest_isolation``);
* :mod:`gpu_run.check` -- ``python -m gpu_run.check``: the machine, and every Triton kernel built and run once.

The benchmark (:mod:`bench`, ``bench/gpu.sh``) builds on these; nothing here imports it.
"""
