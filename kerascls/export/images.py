"""The images an export is calibrated and checked on, drawn from the run's own data.

Calibration (INT8 activation ranges) uses a stratified sample of the training split, so
every class's activations are seen; verification uses the held-out validation split (the
test split when there is no validation split), which the model never trained on.

Example:
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.export.images import calibration_images, heldout_images
    >>> data = from_arrays(np.zeros((60, 8, 8, 3), np.uint8), np.arange(60) % 3)
    >>> calibration_images(data, 12).shape
    (12, 8, 8, 3)
    >>> images, labels = heldout_images(data)
    >>> images.dtype, len(images) == len(labels)
    (dtype('float32'), True)
"""

from __future__ import annotations

import numpy as np

from kerascls.errors import DataError

DEFAULT_CALIBRATION_IMAGES = 300


def split_arrays(split, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decode a `Split` into float32 images (N, H, W, 3) on 0-255 and int64 labels.

    With `limit`, a stratified, seeded sample of that many examples (all when fewer).
    """
    from kerascls.data import make_pipeline, stratified_split

    if limit is not None and limit < len(split):
        _, chosen = stratified_split(split.labels, int(limit), seed=seed)
        split = split.subset(np.sort(chosen))
    images, labels = [], []
    for batch_images, batch_labels in make_pipeline(split, 256, training=False, cache=False):
        images.append(np.asarray(batch_images, dtype=np.float32))
        labels.append(np.asarray(batch_labels, dtype=np.int64))
    if not images:
        raise DataError("the split holds no decodable images")
    return np.concatenate(images), np.concatenate(labels)


def calibration_images(data, count: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0) -> np.ndarray:
    """A stratified sample of `count` training images for INT8 calibration."""
    if count < 1:
        raise DataError(f"calibration needs at least one image; got {count}")
    images, _ = split_arrays(data.train, limit=count, seed=seed)
    return images


def heldout_images(data, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validation images (test images when there is no validation split) and labels."""
    split = data.validation if data.validation is not None else data.test
    if split is None or len(split) == 0:
        raise DataError(
            "the run's data has no validation or test split to check exports on; "
            "train with a validation split (the default holds one out)"
        )
    return split_arrays(split, limit=limit)
