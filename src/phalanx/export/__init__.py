"""Export adapters to ONNX (fp32 or int8) and run them fast on CPU behind a ``Pipeline``.

Example:
    >>> from phalanx.export import Pipeline, export_onnx
    >>> export_onnx("runs/demo/adapter", "runs/demo/onnx", quantize="int8")  # doctest: +SKIP
    >>> pipe = Pipeline.create("sentiment-analysis", model_path="runs/demo/onnx")  # doctest: +SKIP
    >>> pipe(["a charming journey", "bleak and desperate"])  # doctest: +SKIP
    [{'label': 'positive', ...}, {'label': 'negative', ...}]
"""

from .format import EXPORT_VERSION, is_export, read_export_meta
from .onnx import export_onnx
from .quantize import quantize_export
from .runtime import Pipeline

__all__ = [
    "EXPORT_VERSION",
    "Pipeline",
    "export_onnx",
    "is_export",
    "quantize_export",
    "read_export_meta",
]
