"""Predictions to metrics: accuracy, top-5, macro-F1, per-class report, confusion matrix."""

from kerascls.evaluate.metrics import (
    Report,
    evaluate_model,
    evaluate_predictions,
    predict_split,
    traced_model,
)

__all__ = ["Report", "evaluate_model", "evaluate_predictions", "predict_split", "traced_model"]
