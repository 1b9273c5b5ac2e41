"""Stratified k-fold splits of a dataset, reproducible from a run's description.

The training and validation images are pooled and cut into k stratified folds
(scikit-learn's StratifiedKFold, shuffled with the seed); fold i validates on the i-th
part and trains on the rest. A test split, when there is one, stays the test split of
every fold. The fold is recorded in `ImageDataset.source["fold"]`, so
`dataset_from_source` (what viz and export use to re-open a run's data) rebuilds exactly
the fold a run was trained on.

Example:
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> data = from_arrays(np.zeros((50, 8, 8, 3), np.uint8), np.arange(50) % 2)
    >>> fold = kfold_dataset(data, folds=5, index=0, seed=0)
    >>> len(fold.train), len(fold.validation), fold.source["fold"]
    (40, 10, {'folds': 5, 'index': 0, 'seed': 0})
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerascls.data.dataset import ImageDataset, Split
from kerascls.errors import DataError


def pooled(data: ImageDataset) -> Split:
    """The training and validation images as one split (train first)."""
    if data.validation is None or len(data.validation) == 0:
        return data.train
    a, b = data.train, data.validation

    def join(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        return None if x is None or y is None else np.concatenate([x, y])

    return dataclasses.replace(
        a,
        labels=np.concatenate([a.labels, b.labels]),
        paths=join(a.paths, b.paths),
        images=join(a.images, b.images),
        needs_pil=join(a.needs_pil, b.needs_pil),
    )


def kfold_dataset(data: ImageDataset, folds: int, index: int, seed: int = 0) -> ImageDataset:
    """Fold `index` (0-based) of `folds`: validate on that part of the pool, train on the rest.

    Raises:
        DataError: fewer than 2 folds, an index out of range, or a class with fewer
            images than folds.
    """
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise DataError(f"k-fold cross-validation needs at least 2 folds, got {folds}")
    if not 0 <= index < folds:
        raise DataError(f"fold index {index} is outside 0..{folds - 1}")
    pool = pooled(data)
    counts = pool.class_counts()
    if counts.min() < folds:
        smallest = int(np.argmin(counts))
        raise DataError(
            f"class {data.class_names[smallest]!r} has {counts[smallest]} images, fewer than "
            f"{folds} folds; use --folds {max(int(counts.min()), 2)} or add images"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train_idx, val_idx = list(splitter.split(np.zeros(len(pool)), pool.labels))[index]
    source = {**data.source, "fold": {"folds": folds, "index": index, "seed": seed}}
    return dataclasses.replace(
        data,
        train=pool.subset(train_idx),
        validation=pool.subset(val_idx),
        source=source,
    )
