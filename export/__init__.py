"""ONNX export, ONNX Runtime runner, TensorRT engine build and runner (``python -m export``).

* :func:`export_onnx` -- a model's inference graph (model + boundary probabilities + best span) as ONNX,
  dynamic in batch, queries, clips and words; "portable" (standard ops) or "fused" (custom nodes for TensorRT).
* :class:`OnnxLocalizer` / :class:`TensorRTLocalizer` -- ``predict(features, query, duration=None, k=5)``
  as ``engine.Localizer``, on ONNX Runtime / a TensorRT engine.  TensorRT is imported only when used.
"""

from export.onnx_export import export_onnx
from export.runtime import OnnxLocalizer
from export.tensorrt import TensorRTLocalizer

__all__ = ["OnnxLocalizer", "TensorRTLocalizer", "export_onnx"]
