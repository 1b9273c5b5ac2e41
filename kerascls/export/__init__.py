"""Export trained models (SavedModel, TFLite, ONNX, TensorRT, Jetson) and check each one.

Example:
    >>> from kerascls.export import ExportOptions, export_model, plan_exports
    >>> from kerascls.runs import load_run
    >>> plan = plan_exports(["tflite", "onnx"], ["float32", "int8"])
    >>> manifest = export_model(load_run(), plan, options=ExportOptions())  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from kerascls.export.formats import FORMATS, ExportFormat

# public name -> module that defines it, imported on first use: the exporter pulls in numpy
# and the data layer, which `kerascls-export --help` (it reads only FORMATS) does not need.
_LAZY = {
    "ExportOptions": "kerascls.export.exporter",
    "Manifest": "kerascls.export.exporter",
    "export_model": "kerascls.export.exporter",
    "plan_exports": "kerascls.export.exporter",
}

__all__ = ["FORMATS", "ExportFormat", "ExportOptions", "Manifest", "export_model", "plan_exports"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kerascls.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
