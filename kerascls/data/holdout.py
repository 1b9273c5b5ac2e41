"""The holdout: the validation images carved out of the training data, stratified and seeded.

`check_validation_size` is the one check of a `validation_size` (a recipe's, before any
data loads; the loaders' through `holdout_count`), `holdout_count` says how many images
it means, and `stratified_split` picks them. Every loader that has to carve a validation
set out of the training data uses `stratified_split`, so the class proportions of both
parts match the whole and the same seed always gives the same split (a later command
re-opens a run's data and must get the very same validation images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerascls.errors import DataError

# The default hold-out (validation_size=None everywhere): 10% of the training images, at
# most 5,000 (enough to tell models apart by 0.5 points; more only slows every epoch) and
# at least one image per class.
DEFAULT_VALIDATION_FRACTION = 0.1
MAX_DEFAULT_VALIDATION = 5000


def check_validation_size(size: Any) -> None:
    """Raise DataError unless `size` is a `validation_size`: a fraction in [0, 1), a count
    >= 0 (a whole float counts as a count), or None for the default.

    Example:
        >>> check_validation_size(0.1), check_validation_size(500), check_validation_size(None)
        (None, None, None)
        >>> check_validation_size(1.5)
        Traceback (most recent call last):
        ...
        kerascls.errors.DataError: validation_size must be a fraction in [0, 1) ...; got 1.5
    """
    if size is None:
        return
    number = not isinstance(size, bool) and isinstance(size, (int, float, np.integer, np.floating))
    if not (number and size >= 0 and (float(size).is_integer() or size < 1)):
        raise DataError(
            f"validation_size must be a fraction in [0, 1) such as 0.1, a count, or None for "
            f"the default (10%, at most 5,000); got {size!r}"
        )


def holdout_count(n: int, size: float | int | None, num_classes: int = 1) -> int:
    """How many of `n` examples a `validation_size` of `size` means.

    Args:
        n: number of examples to split.
        size: a fraction in [0, 1), a whole count in [0, n), or None for the default: 10%,
            at most 5,000 and at least one per class (none when that would leave a class
            nothing to train on).
        num_classes: classes among the `n` examples (for the default's minimum).

    Returns:
        The number of examples to hold out.

    Raises:
        DataError: `size` is not a validation_size (`check_validation_size`), or a count
            that leaves no training data.

    Example:
        >>> holdout_count(50000, 0.1), holdout_count(50000, 5000), holdout_count(10, 0)
        (5000, 5000, 0)
        >>> holdout_count(50000, None), holdout_count(1000, None), holdout_count(30, None, 5)
        (5000, 100, 5)
    """
    check_validation_size(size)
    if size is None:
        count = round(DEFAULT_VALIDATION_FRACTION * n)
        count = min(max(count, num_classes), MAX_DEFAULT_VALIDATION)
        return count if n - count >= num_classes else 0
    if not float(size).is_integer():
        return round(float(size) * n)
    count = int(size)
    if count > 0 and count >= n:
        raise DataError(
            f"validation_size={size} leaves no training data out of {n} examples; "
            "use a smaller count or a fraction such as 0.1"
        )
    return count


def stratified_split(
    labels: np.ndarray, size: float | int | None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into (keep, holdout) with the class proportions of `labels`.

    The hold-out is shared out between classes in proportion to their counts (largest
    remainders get the leftovers) and every class keeps at least one example for training.
    Inside each class the chosen examples are a seeded random draw.

    Args:
        labels: int array (N,) of class indices.
        size: hold-out size, a fraction in [0, 1), a count, or None for the default
            (see `holdout_count`).
        seed: random seed; the same seed gives the same split.

    Returns:
        (keep, holdout): two sorted int64 index arrays that together cover range(N).

    Example:
        >>> labels = np.array([0] * 8 + [1] * 4)
        >>> keep, holdout = stratified_split(labels, 0.25, seed=0)
        >>> np.bincount(labels[holdout]).tolist(), len(keep)
        ([2, 1], 9)
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    total = holdout_count(n, size, len(np.unique(labels)))
    if total == 0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)

    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (total / n)
    per_class = np.floor(exact).astype(np.int64)
    # Largest remainder: the classes closest to their next whole example get the leftovers;
    # ties go to the lower class index (np.argsort is stable on the negated remainders).
    leftovers = total - int(per_class.sum())
    order = np.argsort(-(exact - per_class), kind="stable")
    per_class[order[:leftovers]] += 1
    per_class = np.minimum(per_class, counts - 1)  # keep one example of every class to train on

    rng = np.random.default_rng(seed)
    holdout = [
        rng.permutation(np.flatnonzero(labels == cls))[:take]
        for cls, take in zip(classes, per_class, strict=True)
    ]
    holdout = np.sort(np.concatenate(holdout)).astype(np.int64)
    keep = np.setdiff1d(np.arange(n, dtype=np.int64), holdout, assume_unique=True)
    return keep, holdout
