"""Splits as numpy arrays: the held-out images models are checked on, calibration images.

Exporting, benchmarking, optimizing and plotting all need some of a run's images as plain
arrays: the held-out split to measure on, a sample of the training split to calibrate INT8
ranges on. They all decode them here, through the evaluation pipeline (the very decoding
training evaluated with), and sample them the same way: a seeded `stratified_split`, so a
sample keeps every class and the same seed gives the same images.

Example:
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> data = from_arrays(np.zeros((60, 8, 8, 3), np.uint8), np.arange(60) % 3)
    >>> calibration_images(data, 12).shape
    (12, 8, 8, 3)
    >>> images, labels = split_arrays(holdout_split(data))
    >>> images.dtype, len(images) == len(labels)
    (dtype('float32'), True)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kerascls.data.dataset import ImageDataset, Split
from kerascls.data.holdout import stratified_split
from kerascls.data.pipeline import make_pipeline
from kerascls.errors import DataError


def holdout_split(data: ImageDataset, *, test_fallback: bool = False) -> Split:
    """The split of `data` a model never trained on: validation, else (optionally) test.

    Args:
        data: the dataset (e.g. `run.dataset()`).
        test_fallback: take the test split when there is no validation split (exports are
            checked on whatever held-out images there are); False: validation only (the
            figures of a run, e.g. predictions.npz, are the validation split's).

    Raises:
        DataError: no such split, or an empty one.

    Example:
        >>> import numpy as np
        >>> from kerascls.data import from_arrays
        >>> data = from_arrays(np.zeros((40, 8, 8, 3), np.uint8), np.arange(40) % 2)
        >>> len(holdout_split(data)), len(data.validation)
        (4, 4)
    """
    split = data.validation
    if (split is None or len(split) == 0) and test_fallback:
        split = data.test
    if split is None or len(split) == 0:
        held_out = "validation or test split" if test_fallback else "validation split"
        raise DataError(
            f"the data has no {held_out} to measure on; train with a validation split "
            "(the default holds one out of the training images)"
        )
    return split


def split_arrays(
    split: Split,
    limit: int | None = None,
    seed: int = 0,
    dtype: npt.DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a `Split` into images (N, H, W, 3) on 0-255 and int64 labels, in split order.

    Args:
        split: e.g. `holdout_split(data)` or `data.train`.
        limit: at most this many examples: a seeded `stratified_split` sample, so every
            class is represented (a split is ordered by class: its head would be one class);
            None or a limit >= len(split): all of them.
        seed: the sample's seed; the same seed gives the same examples.
        dtype: np.float32 (what models take) or np.uint8 (the decoded pixels themselves,
            half the memory of float32 for runtimes that take either).

    Returns:
        (images, labels). Files that fail to decode are left out with their labels.

    Raises:
        DataError: no image of the split could be decoded.

    Example:
        >>> import numpy as np
        >>> split = Split(labels=np.arange(30) % 3, num_classes=3, image_size=(4, 4),
        ...               images=np.full((30, 4, 4, 3), 7, np.uint8))
        >>> images, labels = split_arrays(split, limit=6, dtype=np.uint8)
        >>> images.shape, images.dtype, np.bincount(labels).tolist()
        ((6, 4, 4, 3), dtype('uint8'), [2, 2, 2])
    """
    dtype = np.dtype(dtype)
    if limit is not None and limit < len(split):
        _, chosen = stratified_split(split.labels, int(limit), seed=seed)
        split = split.subset(np.sort(chosen))
    if split.in_memory:
        # The pipeline would only cast these uint8 arrays to float32: skip the tf.data pass.
        images = [np.asarray(split.images)]
        labels = [np.asarray(split.labels)]
    else:
        images, labels = [], []
        for batch_images, batch_labels in make_pipeline(split, 256, training=False, cache=False):
            images.append(batch_images.numpy())
            labels.append(batch_labels.numpy())
    if not images or sum(len(batch) for batch in images) == 0:
        raise DataError("no image of the split could be decoded")
    decoded = np.concatenate(images)
    if dtype == np.uint8 and decoded.dtype != np.uint8:
        # The pipeline's float32 pixels are whole numbers (decoded uint8): round, do not floor.
        decoded = np.rint(decoded)
    return decoded.astype(dtype, copy=False), np.concatenate(labels).astype(np.int64)


def calibration_images(data: ImageDataset, count: int, seed: int = 0) -> np.ndarray:
    """A stratified sample of `count` training images (float32, 0-255) for INT8 calibration.

    Stratified, so every class's activations set the ranges, in proportion to how often
    the class occurs; the same seed gives the same images.

    Raises:
        DataError: count < 1, or no training image could be decoded.

    Example:
        >>> from kerascls.data import from_arrays
        >>> data = from_arrays(np.zeros((60, 8, 8, 3), np.uint8), np.arange(60) % 3)
        >>> calibration_images(data, 12).shape
        (12, 8, 8, 3)
    """
    if count < 1:
        raise DataError(f"calibration needs at least one image; got {count}")
    images, _ = split_arrays(data.train, limit=count, seed=seed)
    return images
