"""Export trained models (SavedModel, TFLite, ONNX, TensorRT, Jetson) and check each one.

Example:
    >>> from kerascls.export import ExportOptions, export_model, plan_exports
    >>> from kerascls.runs import load_run
    >>> plan = plan_exports(["tflite", "onnx"], ["float32", "int8"])
    >>> manifest = export_model(load_run(), plan, options=ExportOptions())  # doctest: +SKIP
"""

from kerascls.export.exporter import ExportOptions, Manifest, export_model, plan_exports
from kerascls.export.formats import FORMATS, ExportFormat

__all__ = ["FORMATS", "ExportFormat", "ExportOptions", "Manifest", "export_model", "plan_exports"]
