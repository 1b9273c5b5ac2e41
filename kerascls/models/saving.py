"""Loading saved kerascls models with Keras safe mode on.

A .keras file names kerascls's registered layers (FusedBatchNormalization) and schedules
by their registered names; they must be imported before Keras deserializes the file.
This is the one place that knows which modules those are.

Example:
    >>> from kerascls.models import create_model, load_model
    >>> model = create_model("resnet20", 10)
    >>> model.save("/tmp/resnet20-doc.keras")
    >>> load_model("/tmp/resnet20-doc.keras").count_params() == model.count_params()
    True
"""

from __future__ import annotations

import os
from typing import Any


def register_custom_objects() -> None:
    """Import every module that registers Keras objects that kerascls models may hold."""
    import kerascls.models.layers.fused_batchnorm
    import kerascls.train.schedules  # noqa: F401


def load_model(path: str | os.PathLike, compile: bool = True) -> Any:
    """Load a .keras model file with safe mode on (no arbitrary code runs)."""
    import keras

    from kerascls.errors import ModelError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist")
    register_custom_objects()
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, OSError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load {path} as a Keras model: {first_line}") from None
