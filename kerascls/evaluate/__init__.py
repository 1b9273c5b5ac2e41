"""Predictions to metrics: accuracy, top-5, macro-F1, per-class report, confusion matrix;
the batched prediction loops and top-1 agreement that export, optimize and viz share; the
one top-k ranking (ranking.py) that serving, kerascls-predict and viz share."""

from __future__ import annotations

from kerascls.lazy import lazy_getattr

# public name -> module that defines it, imported on first use: metrics.py pulls in
# scikit-learn, which the top-k ranking (the server's, the runners') does not need.
_LAZY = {
    "Report": "kerascls.evaluate.metrics",
    "evaluate_model": "kerascls.evaluate.metrics",
    "evaluate_predictions": "kerascls.evaluate.metrics",
    "predict_arrays": "kerascls.evaluate.metrics",
    "predict_split": "kerascls.evaluate.metrics",
    "top1_agreement": "kerascls.evaluate.metrics",
    "top_k_indices": "kerascls.evaluate.ranking",
    "traced_model": "kerascls.evaluate.metrics",
}

__all__ = [*_LAZY]

__getattr__ = lazy_getattr("kerascls.evaluate", _LAZY, globals())
