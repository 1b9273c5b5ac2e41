"""Serve exported classifiers over HTTP: kerascls-serve (FastAPI + uvicorn).

Every format a runner reads can be served (.tflite, .onnx, SavedModel, .keras). Requests
that arrive together share one model call (micro-batching, batcher.py); a candidate model
can take a share of the traffic, sticky per client, and a shadow model can see a copy of
it (variants.py); Prometheus metrics describe all of it (metrics.py). Uploads are decoded
with the training pipeline's decoder (inputs.py), so the server sees training's pixels.

Modules: app.py (`create_app`: wires the pieces, admission middleware), routes.py,
errors.py (JSON error handlers), state.py (settings and shared state), batcher.py,
variants.py, models.py (which file, what it is), inputs.py (uploads and limits), metrics.py.

Example:
    >>> from kerascls.serve import ServedModel, ServeSettings, create_app  # doctest: +SKIP
    >>> app = create_app(ServedModel("logs/.../exports/model_int8.tflite"))  # doctest: +SKIP
"""

from kerascls.serve.app import create_app
from kerascls.serve.inputs import ApiError, Limits
from kerascls.serve.models import best_export, describe_model
from kerascls.serve.state import ServeSettings
from kerascls.serve.variants import ServedModel

__all__ = [
    "ApiError",
    "Limits",
    "ServeSettings",
    "ServedModel",
    "best_export",
    "create_app",
    "describe_model",
]
