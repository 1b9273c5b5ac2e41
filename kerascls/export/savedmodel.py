"""TensorFlow SavedModel export: the input of TF Serving, TF-TRT and most converters.

Written with Keras's own `model.export(format="tf_saved_model")`: one `serve` endpoint (also
the "serving_default" signature) taking float32 0-255 NHWC images with a dynamic batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerascls.export.quiet import quiet
from kerascls.runs.atomic import atomic_path


def export_savedmodel(model: Any, path: str | Path) -> Path:
    """Write `model` as a SavedModel folder at `path`, replacing an older one atomically
    (a failed or killed export never leaves a half-written folder where the old one was).
    """
    with atomic_path(path) as tmp, quiet():  # Keras prints every captured variable
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    return Path(path)
