"""``python -m compile_report``: every Triton kernel of the project compiled offline, with its resources.

No GPU is needed: Triton compiles for a target it does not see.  Per kernel, dtype and architecture the report
(``report.md`` and ``report.json``) gives the launch setting, registers and stack frame (spills) per thread from the
binary Triton built, shared memory per block against the architecture's limit, and the compile time.

* :mod:`compile_report.launches` -- what is compiled: the launchers' own launches, captured at the benchmark shapes;
* :mod:`compile_report.compiled` -- compiling a launch through Triton's JIT path and reading the binary's resources;
* :mod:`compile_report.report` -- the report files;
* :mod:`compile_report.__main__` -- the command line (``--arch``, ``--warm``, ``--sources``, ``--jobs``, ...).
"""
