"""Export trained models (SavedModel, TFLite, ONNX, TensorRT, Jetson) and check each one.

Example (a tiny run, trained for one epoch on random images, exported at float32):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.export import ExportOptions, export_model, plan_exports
    >>> from kerascls.train import Recipe, fit
    >>> x = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(32) % 2, class_names=["cat", "dog"])
    >>> run = fit(Recipe(model="cnn", model_kwargs={"filters": (8,)}, epochs=1,
    ...                  augment="none", logdir=tempfile.mkdtemp()), data=data, verbose=0)
    >>> plan_exports(["tflite", "onnx"], ["float32", "int8"])
    [('tflite', 'float32'), ('tflite', 'int8'), ('onnx', 'float32'), ('onnx', 'int8')]
    >>> plan = plan_exports(["tflite"], ["float32"])
    >>> manifest = export_model(run, plan, data=data, options=ExportOptions())
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
