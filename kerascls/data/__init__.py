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
    >>> from kerascls.data import dataset_from_source
    >>> again = dataset_from_source(ds.source)  # e.g. from a run's run.json
    >>> again.class_names == ds.class_names
    True
"""

from kerascls.lazy import lazy_getattr

# public name -> module that defines it, imported on first use: most of them import
# TensorFlow, which kerascls.data.pixels (the TensorFlow-free decoder of kerascls-serve)
# and kerascls.data.images must not pull in.
_LAZY = {
    "from_arrays": "kerascls.data.arrays",
    "AUGMENT_PRESETS": "kerascls.data.augment_config",
    "AugmentConfig": "kerascls.data.augment_config",
    "resolve_augment": "kerascls.data.augment_config",
    "Augmenter": "kerascls.data.augmenter",
    "CIFAR10_CLASSES": "kerascls.data.cifar10",
    "load_cifar10": "kerascls.data.cifar10",
    "ImageDataset": "kerascls.data.dataset",
    "Split": "kerascls.data.dataset",
    "describe_splits": "kerascls.data.dataset",
    "describe_changes": "kerascls.data.fingerprint",
    "recorded_fingerprint": "kerascls.data.fingerprint",
    "load_image_folder": "kerascls.data.folder",
    "stratified_split": "kerascls.data.holdout",
    "IMAGE_EXTENSIONS": "kerascls.data.images",
    "find_images": "kerascls.data.images",
    "read_image": "kerascls.data.images",
    "balanced_class_weights": "kerascls.data.imbalance",
    "calibration_images": "kerascls.data.numpy_splits",
    "holdout_split": "kerascls.data.numpy_splits",
    "split_arrays": "kerascls.data.numpy_splits",
    "LowResolution": "kerascls.data.pipeline",
    "make_pipeline": "kerascls.data.pipeline",
    "dataset_from_source": "kerascls.data.sources",
    "channel_statistics": "kerascls.data.statistics",
}

__all__ = [*_LAZY]

__getattr__ = lazy_getattr("kerascls.data", _LAZY, globals())
