"""Data: sources (CIFAR-10, image folders, arrays) -> `ImageDataset` -> tf.data pipelines.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from kerascls.data import channel_statistics, load_image_folder, make_pipeline
    >>> root = Path(tempfile.mkdtemp())  # a tiny image folder: root/<class>/*.png
    >>> for name, value in (("cat", 40), ("dog", 200)):
    ...     (root / name).mkdir()
    ...     for i in range(8):
    ...         image = Image.fromarray(np.full((24, 24, 3), value, np.uint8))
    ...         image.save(root / name / f"{i}.png")
    >>> ds = load_image_folder(root, image_size=16, validation_size=0.25)
    >>> ds.class_names, ds.counts()["validation"]
    (('cat', 'dog'), [2, 2])
    >>> train = make_pipeline(ds, 4, training=True, augment="standard")
    >>> val = make_pipeline(ds.validation, 4, training=False)
    >>> mean, std = channel_statistics(ds)
    >>> mean.round().tolist()
    [120.0, 120.0, 120.0]
    >>> again = dataset_from_source(ds.source)  # e.g. from a run's run.json
    >>> again.class_names == ds.class_names
    True
"""

from kerascls.data.arrays import from_arrays
from kerascls.data.augment_config import AUGMENT_PRESETS, AugmentConfig, resolve_augment
from kerascls.data.augmenter import Augmenter
from kerascls.data.cifar10 import CIFAR10_CLASSES, load_cifar10
from kerascls.data.dataset import ImageDataset, Split, describe_splits
from kerascls.data.fingerprint import describe_changes, recorded_fingerprint
from kerascls.data.folder import load_image_folder
from kerascls.data.holdout import stratified_split
from kerascls.data.images import IMAGE_EXTENSIONS, find_images, read_image
from kerascls.data.imbalance import balanced_class_weights
from kerascls.data.numpy_splits import calibration_images, holdout_split, split_arrays
from kerascls.data.pipeline import LowResolution, make_pipeline
from kerascls.data.sources import dataset_from_source
from kerascls.data.statistics import channel_statistics

__all__ = [
    "AUGMENT_PRESETS",
    "CIFAR10_CLASSES",
    "IMAGE_EXTENSIONS",
    "AugmentConfig",
    "Augmenter",
    "ImageDataset",
    "LowResolution",
    "Split",
    "balanced_class_weights",
    "calibration_images",
    "channel_statistics",
    "dataset_from_source",
    "describe_changes",
    "describe_splits",
    "find_images",
    "from_arrays",
    "holdout_split",
    "load_cifar10",
    "load_image_folder",
    "make_pipeline",
    "read_image",
    "recorded_fingerprint",
    "resolve_augment",
    "split_arrays",
    "stratified_split",
]
