"""The full-INT8 TFLite file an optimization makes, converted and checked.

QAT converts its fake-quant model, pruning its pruned model (post-training); both check
the file against that Keras model on the validation images with `convert_and_check`.
When the result is saved, run_output.py writes the file (`Int8Export`) into the new
run's exports/ with its sidecar and a manifest entry holding these checks.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
    >>> images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    >>> tflite, checks = convert_and_check(model, images, model.predict(images, verbose=0),
    ...                                    images, np.arange(8) % 2)
    >>> tflite[4:8], sorted(checks)
    (b'TFL3', ['int8_accuracy', 'max_prob_diff', 'top1_agreement'])
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.evaluate import top1_agreement


def tflite_probabilities(data: bytes, images: np.ndarray) -> np.ndarray:
    """Run a .tflite file's bytes on float 0-255 images with kerascls's TFLite runner."""
    from kerascls.export.runners import load_runner

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(data)
        return load_runner(path).predict(images)


def agreement(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and max absolute probability difference of two prediction sets."""
    return {
        "top1_agreement": top1_agreement(reference, candidate),
        "max_prob_diff": float(np.abs(reference - candidate).max()),
    }


def convert_and_check(
    model: Any,
    calibration: np.ndarray,
    reference: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
) -> tuple[bytes, dict[str, float]]:
    """`model` as a full-INT8 TFLite file (int8 input and output), checked on `images`.

    Args:
        model: a Keras 3 or tf_keras model taking float 0-255 images.
        calibration: float 0-255 images for the converter's activation ranges.
        reference: the probabilities the file is compared with (`model`'s on `images`).
        images: float 0-255 validation images.
        labels: their true classes.

    Returns:
        The file's bytes and `{"int8_accuracy", "top1_agreement", "max_prob_diff"}`.
    """
    from kerascls.export.tflite import convert_tflite

    tflite = convert_tflite(model, "int8", calibration=calibration, io_dtype="int8")
    probabilities = tflite_probabilities(tflite, images)
    checks = {"int8_accuracy": top1_agreement(probabilities, labels)}
    return tflite, {**checks, **agreement(reference, probabilities)}
