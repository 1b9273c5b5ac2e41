"""Predictions to metrics: accuracy, top-5, macro-F1, per-class report, confusion matrix;
the batched prediction loops and top-1 agreement that export, optimize and viz share."""

from kerascls.evaluate.metrics import (
    Report,
    evaluate_model,
    evaluate_predictions,
    predict_arrays,
    predict_split,
    top1_agreement,
    traced_model,
)

__all__ = [
    "Report",
    "evaluate_model",
    "evaluate_predictions",
    "predict_arrays",
    "predict_split",
    "top1_agreement",
    "traced_model",
]
