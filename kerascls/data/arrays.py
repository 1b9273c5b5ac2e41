"""Numpy arrays -> `ImageDataset`: images already in memory, e.g. from keras.datasets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kerascls.data.dataset import ImageDataset, Split
from kerascls.data.fingerprint import arrays_fingerprint, combine
from kerascls.data.holdout import holdout_count, stratified_split
from kerascls.errors import DataError


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str] | None = None,
    validation_size: float | int | None = None,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    seed: int = 0,
) -> ImageDataset:
    """Wrap in-memory images and integer labels as an `ImageDataset`.

    Args:
        x: uint8 images, (N, H, W, 3) RGB, (N, H, W) or (N, H, W, 1) grey (repeated to RGB),
            or (N, H, W, 4) RGBA (alpha dropped).
        y: integer labels 0..C-1, shape (N,) or (N, 1).
        class_names: names of the C classes; default "0", "1", ... up to the largest label.
        validation_size: fraction or count of (x, y) held out for validation, stratified by
            class; None: 10%, at most 5,000, at least one per class; 0 for none.
        x_test: optional test images, same layout and size as `x`.
        y_test: their labels.
        seed: seed of the validation hold-out.

    Returns:
        An `ImageDataset` whose splits hold uint8 arrays. Its `source` records the kind
        "arrays", which cannot be re-opened without the arrays.

    Raises:
        DataError: shapes, dtypes or labels that do not fit together.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).integers(0, 256, (100, 8, 8, 3), dtype=np.uint8)
        >>> ds = from_arrays(x, np.arange(100) % 4, validation_size=0.2)
        >>> len(ds.train), len(ds.validation), ds.class_names
        (80, 20, ('0', '1', '2', '3'))
    """
    source = {"kind": "arrays", "validation_size": validation_size, "seed": seed}
    return arrays_dataset(x, y, class_names, validation_size, x_test, y_test, seed, source)


def arrays_dataset(
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str] | None,
    validation_size: float | int | None,
    x_test: np.ndarray | None,
    y_test: np.ndarray | None,
    seed: int,
    source: dict[str, Any],
) -> ImageDataset:
    """`from_arrays` with the `source` description given by the caller (e.g. CIFAR-10's)."""
    x, y = _check_images(x, "x"), _check_labels(y, "y")
    if len(x) != len(y):
        raise DataError(f"x has {len(x)} images but y has {len(y)} labels")
    if (x_test is None) != (y_test is None):
        raise DataError("pass both x_test and y_test, or neither")
    largest = int(y.max()) if len(y) else -1
    if x_test is not None:
        x_test, y_test = _check_images(x_test, "x_test"), _check_labels(y_test, "y_test")
        if len(x_test) != len(y_test):
            raise DataError(f"x_test has {len(x_test)} images but y_test {len(y_test)} labels")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"x_test images are {x_test.shape[1:3]}, x images {x.shape[1:3]}")
        largest = max(largest, int(y_test.max()) if len(y_test) else -1)
    if class_names is None:
        class_names = [str(i) for i in range(largest + 1)]
    class_names = tuple(str(name) for name in class_names)
    if largest >= len(class_names):
        raise DataError(
            f"label {largest} is out of range for {len(class_names)} class names; labels must "
            "be 0..C-1"
        )

    size = (int(x.shape[1]), int(x.shape[2]))
    num_classes = len(class_names)
    train = Split(labels=y, num_classes=num_classes, image_size=size, images=x)
    validation = None
    if holdout_count(len(train), validation_size, num_classes) > 0:
        keep, holdout = stratified_split(y, validation_size, seed)
        train, validation = train.subset(keep), train.subset(holdout)
    test = None
    if x_test is not None:
        test = Split(labels=y_test, num_classes=num_classes, image_size=size, images=x_test)
    dataset = ImageDataset(class_names, size, train, validation, test, dict(source))
    fingerprints = {
        name: arrays_fingerprint(split.images, split.labels) if split is not None else None
        for name, split in (("train", train), ("validation", validation), ("test", test))
    }
    dataset.source.update(
        image_size=list(size),
        counts=dataset.counts(),
        fingerprint=combine(fingerprints, dataset.class_names),
    )
    return dataset


def _check_images(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{name} has shape {x.shape}; expected (N, H, W, 3) RGB or (N, H, W) grey images"
        )
    if x.dtype != np.uint8:
        if np.issubdtype(x.dtype, np.integer) and (
            x.size == 0 or (x.min() >= 0 and x.max() <= 255)
        ):
            x = x.astype(np.uint8)
        else:
            raise DataError(
                f"{name} is {x.dtype}; expected uint8 pixels 0-255 (for floats in 0-1 use "
                "(x * 255).round().astype('uint8'))"
            )
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 4:
        x = x[..., :3]
    return np.ascontiguousarray(x)


def _check_labels(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not (y.size == 0 or np.issubdtype(y.dtype, np.integer)):
        raise DataError(
            f"{name} has shape {y.shape} and dtype {y.dtype}; expected integer class indices "
            "(N,) (for one-hot labels pass y.argmax(axis=1))"
        )
    if y.size and y.min() < 0:
        raise DataError(f"{name} has negative labels; labels must be 0..C-1")
    return y.astype(np.int64)
