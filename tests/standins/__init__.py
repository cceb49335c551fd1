"""Stand-ins for packages CI cannot run: TensorRT (``tensorrt``, ``tensorrt.plugin``) and ONNX Runtime's GPU build.

They implement the documented API surface this project calls -- real Python signatures with pybind11-like
argument checking (a wrong keyword, a missing argument or a wrong type raises ``TypeError``) -- and hand back
objects of the right kind, whose shapes follow from the inputs.  They compute nothing: an engine's or a
session's output buffers hold ones (floats) and zeros (integers), defined memory so that the caller's
post-processing runs, never a value a test may check.  ``tests/export/test_contracts.py`` installs them in
``sys.modules`` and drives every call site against them.
"""
