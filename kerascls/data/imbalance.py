"""Class imbalance: loss weights per class, and the acceptance rates of oversampling.

Two remedies, pick one: `balanced_class_weights` for `model.fit(class_weight=...)` (every
example is seen once per epoch, rare classes weigh more), or `make_pipeline(...,
oversample=True)` (rare classes are seen more often, every example weighs the same).
"""

from __future__ import annotations

import numpy as np

from kerascls.errors import DataError


def _counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"labels must be in [0, {num_classes}); got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        raise DataError(
            f"class(es) {missing.tolist()} have no examples, so no balanced weight exists; "
            "add examples of them or remove them from the dataset"
        )
    return counts


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Per-class loss weights n / (k * count), scikit-learn's 'balanced' heuristic.

    Args:
        labels: integer class indices of the training examples.
        num_classes: k, the number of classes.

    Returns:
        `{class index: weight}` for `model.fit(class_weight=...)`; balanced data gives 1.0s.

    Raises:
        DataError: a label out of range, or a class with no examples.

    Example:
        >>> balanced_class_weights(np.array([0, 0, 0, 1]), 2)
        {0: 0.6666666666666666, 1: 2.0}
    """
    counts = _counts(labels, num_classes)
    weights = counts.sum() / (num_classes * counts.astype(np.float64))
    return {i: float(w) for i, w in enumerate(weights)}


def oversampling_acceptance(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Probability of keeping an example of each class so that classes come out balanced.

    Keeping an example of class c with probability min_count / count[c] makes every class
    contribute min_count examples per pass over the data, in expectation.

    Example:
        >>> oversampling_acceptance(np.array([0, 0, 0, 0, 1]), 2).tolist()
        [0.25, 1.0]
    """
    counts = _counts(labels, num_classes)
    return counts.min() / counts.astype(np.float64)
