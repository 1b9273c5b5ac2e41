"""Top-k ranking of predicted probabilities: the one tie order kerascls uses everywhere.

The server's answers, kerascls-predict's rows and the viz commands' top classes all rank
classes with `top_k_indices`, so one image gets the same classes in the same order from
each of them. Ties are stable: equal probabilities keep class-index order (the lower
index first), whatever the sort algorithm or the platform.

Example:
    >>> import numpy as np
    >>> top_k_indices(np.array([0.2, 0.4, 0.4]), 2)
    array([1, 2])
    >>> top_k_indices(np.array([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]]), 2).tolist()
    [[1, 2], [0, 2]]
"""

from __future__ import annotations

from typing import Any

import numpy as np


def top_k_indices(probabilities: Any, k: int) -> np.ndarray:
    """The indices of the `k` most probable classes along the last axis, best first.

    Args:
        probabilities: one vector (classes,) or a batch (N, classes).
        k: how many classes (>= 0); more than there are gives them all.

    Returns:
        int (k,) for a vector, (N, k) for a batch. Equal probabilities keep class-index
        order; NaN ranks last.
    """
    scores = np.asarray(probabilities)
    # a stable sort of the negated scores: best first, ties in index order
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]
