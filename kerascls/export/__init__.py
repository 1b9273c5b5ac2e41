"""Export trained models (SavedModel, TFLite, ONNX, TensorRT, Jetson) and check each one.

Example (`trained_run` is a finished run folder, e.g. `kerascls.runs.load_run()`, the
newest under logs/; the tests hand the example a copy of their tiny trained run):
    >>> from kerascls.export import ExportOptions, export_model, plan_exports
    >>> from kerascls.runs import load_run
    >>> run = load_run(trained_run.path)
    >>> plan_exports(["tflite", "onnx"], ["float32", "int8"])
    [('tflite', 'float32'), ('tflite', 'int8'), ('onnx', 'float32'), ('onnx', 'int8')]
    >>> plan = plan_exports(["tflite"], ["float32"])
    >>> manifest = export_model(run, plan, options=ExportOptions())
    >>> [(e["format"], e["precision"], e["status"]) for e in manifest.entries]
    [('tflite', 'float32', 'passed')]
    >>> manifest.folder == run.path / "exports"
    True
"""

from __future__ import annotations

from kerascls.export.formats import FORMATS, ExportFormat
from kerascls.lazy import lazy_getattr

# public name -> module that defines it, imported on first use: the exporter pulls in numpy
# and the data layer, which `kerascls-export --help` (it reads only FORMATS) does not need.
_LAZY = {
    "ExportOptions": "kerascls.export.exporter",
    "Manifest": "kerascls.export.exporter",
    "export_model": "kerascls.export.exporter",
    "plan_exports": "kerascls.export.exporter",
}

__all__ = ["FORMATS", "ExportFormat", "ExportOptions", "Manifest", "export_model", "plan_exports"]


__getattr__ = lazy_getattr("kerascls.export", _LAZY, globals())
