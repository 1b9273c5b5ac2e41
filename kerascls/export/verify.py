"""Check an exported file against the Keras model it came from, on held-out images.

Float exports must give the Keras probabilities back (maximum absolute difference under a
tolerance); quantized ones cannot, so they are judged by how often their top-1 class agrees
with Keras's and by how much accuracy they lose on the validation split.

Example:
    >>> import numpy as np
    >>> from kerascls.export.verify import compare
    >>> keras_probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> checks = compare(keras_probs + 1e-6, keras_probs, np.array([0, 1]), quantized=False)
    >>> checks["passed"], checks["top1_agreement"], checks["accuracy"]
    (True, 1.0, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerascls.evaluate import top1_agreement
from kerascls.export.formats import FLOAT_TOLERANCE

DEFAULT_MAX_DROP = 1.0  # accuracy points a quantized export may lose


def compare(
    probabilities: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray,
    *,
    quantized: bool,
    precision: str = "float32",
    max_drop: float = DEFAULT_MAX_DROP,
) -> dict[str, Any]:
    """The checks of one export: differences, agreement, accuracy, and whether it passed.

    Args:
        probabilities: the export's outputs (N, C).
        reference: the Keras model's outputs on the same images (N, C).
        labels: the true classes (N,).
        quantized: judge by accuracy drop (<= max_drop points) instead of by difference.
        precision: picks the float tolerance (1e-3 for float32, 1e-2 for fp16).
        max_drop: accuracy points a quantized export may lose against Keras.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if probabilities.shape != reference.shape:
        return {
            "passed": False,
            "reason": f"output shape {probabilities.shape} differs from Keras's {reference.shape}",
        }
    predicted, expected = probabilities.argmax(1), reference.argmax(1)
    accuracy = float((predicted == labels).mean())
    keras_accuracy = float((expected == labels).mean())
    checks: dict[str, Any] = {
        "images": len(labels),
        "max_abs_diff": float(np.abs(probabilities - reference).max()),
        "mean_abs_diff": float(np.abs(probabilities - reference).mean()),
        "top1_agreement": top1_agreement(predicted, expected),
        "accuracy": accuracy,
        "keras_accuracy": keras_accuracy,
        "accuracy_drop": round(100.0 * (keras_accuracy - accuracy), 4),  # points
    }
    if quantized:
        checks["max_drop"] = max_drop
        checks["passed"] = checks["accuracy_drop"] <= max_drop
        if not checks["passed"]:
            checks["reason"] = (
                f"accuracy drop {checks['accuracy_drop']:.2f} points exceeds --max-drop "
                f"{max_drop}; calibrate on more images or use quantization-aware training"
            )
    else:
        tolerance = FLOAT_TOLERANCE.get(precision, FLOAT_TOLERANCE["float32"])
        checks["tolerance"] = tolerance
        checks["passed"] = checks["max_abs_diff"] <= tolerance
        if not checks["passed"]:
            checks["reason"] = (
                f"max abs difference {checks['max_abs_diff']:.2e} from Keras exceeds {tolerance}"
            )
    return checks
