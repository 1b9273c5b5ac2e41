"""The dataset description every data source returns: class names, image size, splits.

An `ImageDataset` holds class names, the image size and up to three `Split`s (train,
validation, test). A split keeps either image file paths (decoded lazily by the tf.data
pipeline) or a uint8 array already in memory, plus integer labels 0..C-1. Nothing is
decoded here: building a dataset is cheap, turning it into batches is `make_pipeline`'s job.

`ImageDataset.source` is a small JSON-able dict that says where the data came from and how
it was split (kind, absolute root, image size, validation size, seed). A training run writes
it to run.json; `dataset_from_source` (sources.py) turns it back into the same dataset, so a later
command (evaluate, export, Grad-CAM) sees exactly the images and splits the run used.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset: images (paths or a uint8 array) and their integer labels.

    Exactly one of `paths` and `images` is set. A split knows its number of classes and the
    image size it is decoded to, so `make_pipeline(split, ...)` needs nothing else.

    Args:
        labels: int64 array (N,) of class indices in [0, num_classes).
        num_classes: number of classes of the whole dataset (a split may lack some).
        image_size: (height, width) every image is decoded or resized to.
        paths: str array (N,) of image files, or None for an in-memory split.
        images: uint8 array (N, height, width, 3), or None for a file split.
        needs_pil: bool array (N,) for file splits: True where TensorFlow's decoders cannot
            read the file correctly (e.g. 1-bit or palette BMP) and Pillow decodes it.
        soft_targets: float32 array (N, num_classes), or None: the target each image is
            trained towards instead of its one-hot label (distillation,
            kerascls/train/teacher_targets.py); `labels` stay the true classes.

    Example:
        >>> import numpy as np
        >>> split = Split(labels=np.array([0, 1, 1]), num_classes=2, image_size=(4, 4),
        ...               images=np.zeros((3, 4, 4, 3), np.uint8))
        >>> len(split), split.class_counts().tolist()
        (3, [1, 2])
    """

    labels: np.ndarray
    num_classes: int
    image_size: tuple[int, int]
    paths: np.ndarray | None = None
    images: np.ndarray | None = None
    needs_pil: np.ndarray | None = None
    soft_targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.paths is None) == (self.images is None):
            raise ValueError("a Split holds exactly one of `paths` and `images`")
        n = len(self.paths if self.paths is not None else self.images)
        if len(self.labels) != n:
            raise ValueError(f"{n} images but {len(self.labels)} labels")
        if self.soft_targets is not None and self.soft_targets.shape != (n, self.num_classes):
            raise ValueError(
                f"soft_targets of shape {self.soft_targets.shape}, expected {(n, self.num_classes)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_memory(self) -> bool:
        """True when the images are a uint8 array rather than files."""
        return self.images is not None

    def class_counts(self) -> np.ndarray:
        """Number of examples of each class, an int array of length `num_classes`."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, indices: np.ndarray) -> Split:
        """A new split with the examples at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[indices]

        return dataclasses.replace(
            self,
            labels=self.labels[indices],
            paths=pick(self.paths),
            images=pick(self.images),
            needs_pil=pick(self.needs_pil),
            soft_targets=pick(self.soft_targets),
        )


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Class names, image size and the train / validation / test splits of a dataset.

    Returned by `load_cifar10`, `load_image_folder` and `from_arrays`; turned into batches by
    `make_pipeline`. `source` is JSON-able and re-opens the same dataset through
    `dataset_from_source`.

    Args:
        class_names: class names; label i is `class_names[i]`.
        image_size: (height, width) of every decoded image.
        train: the training split.
        validation: the validation split, or None.
        test: the test split, or None.
        source: where the data came from, e.g. `{"kind": "image_folder", "root": ...}`.

    Example:
        >>> import numpy as np
        >>> from kerascls.data import from_arrays
        >>> ds = from_arrays(np.zeros((20, 8, 8, 3), np.uint8), np.arange(20) % 2)
        >>> ds.num_classes, ds.input_shape, ds.counts()["train"]
        (2, (8, 8, 3), [9, 9])
    """

    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    train: Split
    validation: Split | None
    test: Split | None
    source: dict[str, Any]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3): the shape a model built for this dataset takes."""
        return (*self.image_size, 3)

    def splits(self) -> dict[str, Split]:
        """The splits that exist, by name, in the order train, validation, test."""
        found = {name: getattr(self, name) for name in SPLIT_NAMES}
        return {name: split for name, split in found.items() if split is not None}

    def counts(self) -> dict[str, list[int]]:
        """Examples per class in each existing split, e.g. `{"train": [4500, ...], ...}`."""
        return {name: split.class_counts().tolist() for name, split in self.splits().items()}

    def resized(self, image_size: tuple[int, int], reason: str) -> ImageDataset:
        """The same images, decoded to `image_size` instead (`reason` says why, for the
        run's first lines and run.json's source, which re-opens the data at that size).

        Example:
            >>> import numpy as np
            >>> from kerascls.data import from_arrays
            >>> ds = from_arrays(np.zeros((20, 8, 8, 3), np.uint8), np.arange(20) % 2)
            >>> ds.resized((4, 4), "smaller").validation.image_size
            (4, 4)
        """
        size = (int(image_size[0]), int(image_size[1]))
        splits = {
            name: dataclasses.replace(split, image_size=size) if split is not None else None
            for name, split in (
                ("train", self.train),
                ("validation", self.validation),
                ("test", self.test),
            )
        }
        source = {**self.source, "image_size": list(size), "image_size_reason": reason}
        return dataclasses.replace(self, image_size=size, source=source, **splits)

    def summary(self) -> str:
        """A one-line description for logs, e.g. 'cifar10: 10 classes, 32x32, train 45000'."""
        sizes = ", ".join(f"{name} {len(split)}" for name, split in self.splits().items())
        height, width = self.image_size
        return (
            f"{self.source.get('kind', '?')}: {self.num_classes} classes, {height}x{width}, {sizes}"
        )


def describe_splits(data: ImageDataset) -> str:
    """Which images a run uses for what, as printed at its start.

    Example:
        >>> import numpy as np
        >>> from kerascls.data import from_arrays
        >>> data = from_arrays(np.zeros((50, 8, 8, 3), np.uint8), np.arange(50) % 2)
        >>> print(describe_splits(data))  # doctest: +ELLIPSIS
        data: arrays, 2 classes, images at 8x8
          train         45 images
          validation     5 images, held out of the training images (10% by default, ...)
    """
    source = data.source
    layout = source.get("layout", {})
    where = {name: f"from {path}" for name, path in layout.items()}
    if data.validation is not None and "validation" not in layout:
        size = source.get("validation_size")
        how = "10% by default" if size is None else f"validation_size={size}"
        where["validation"] = (
            f"held out of the training images ({how}, stratified, seed {source.get('seed', 0)})"
        )
    if data.test is not None:
        where["test"] = (where.get("test", "") + ", evaluated once at the end").lstrip(", ")
    height, width = data.image_size
    origin = source.get("root") or source.get("kind", "?")
    size = source.get("image_size_reason") or f"{height}x{width}"
    lines = [f"data: {origin}, {data.num_classes} classes, images at {size}"]
    for name, split in data.splits().items():
        detail = f", {where[name]}" if name in where else ""
        lines.append(f"  {name:<10} {len(split):>5} images{detail}")
    return "\n".join(lines)
