"""Re-open a dataset from the description a run recorded (`ImageDataset.source`).

This module sits above the loaders (cifar10, folder, arrays, kfold), which all build on
dataset.py; keeping it out of dataset.py keeps the data package free of import cycles.

Example:
    >>> import json
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> data = from_arrays(np.zeros((20, 8, 8, 3), np.uint8), np.arange(20) % 2)
    >>> data.source["kind"]  # the arrays themselves are not in the description
    'arrays'
    >>> dataset_from_source(json.loads(json.dumps(data.source)))
    Traceback (most recent call last):
    ...
    kerascls.errors.DataError: this dataset was built from in-memory arrays, ...
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kerascls.data.cifar10 import load_cifar10
from kerascls.data.dataset import ImageDataset
from kerascls.data.folder import load_image_folder
from kerascls.data.kfold import kfold_dataset
from kerascls.errors import DataError

logger = logging.getLogger(__name__)


def dataset_from_source(source: Mapping[str, Any]) -> ImageDataset:
    """Re-open the dataset that `source` (an `ImageDataset.source`, e.g. from run.json) describes.

    Args:
        source: the dict a loader stored in `ImageDataset.source`.

    Returns:
        The same dataset: same class names, image size, files and split membership.

    Raises:
        DataError: the description is unknown or names data that cannot be re-opened
            (in-memory arrays, a folder that has gone).

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())  # photos/<class>/*.png
        >>> for i in range(8):
        ...     folder = root / ("cat", "dog")[i % 2]
        ...     folder.mkdir(exist_ok=True)
        ...     Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{i}.png")
        >>> ds = load_image_folder(root, validation_size=0.5, seed=1)
        >>> again = dataset_from_source(json.loads(json.dumps(ds.source)))
        >>> again.class_names, list(again.validation.paths) == list(ds.validation.paths)
        (('cat', 'dog'), True)
    """
    kind = source.get("kind")
    if kind == "cifar10":
        dataset = load_cifar10(validation_size=source["validation_size"], seed=source["seed"])
    elif kind == "image_folder":
        size = source.get("image_size")
        dataset = load_image_folder(
            source["root"],
            image_size=tuple(size) if size else None,
            validation_size=source["validation_size"],
            seed=source["seed"],
        )
    elif kind == "arrays":
        raise DataError(
            "this dataset was built from in-memory arrays, which its description does not "
            "contain; call from_arrays() with the same arrays again, or save the images as an "
            "image folder and use load_image_folder()"
        )
    else:
        raise DataError(
            f"unknown dataset source kind {kind!r}; expected 'cifar10', 'image_folder' or "
            "'arrays' (is this a run.json from a newer kerascls?)"
        )
    _warn_if_changed(source, dataset)
    fold = source.get("fold")
    if fold:  # a k-fold run: the same fold of the same pool
        dataset = kfold_dataset(dataset, fold["folds"], fold["index"], fold["seed"])
    return dataset


def _warn_if_changed(source: Mapping[str, Any], dataset: ImageDataset) -> None:
    # A folder can gain or lose files after a run; the rebuilt splits then differ from the
    # run's. Say so instead of silently evaluating on different data.
    from kerascls.data.fingerprint import describe_changes

    changes = describe_changes(source.get("fingerprint"), dataset.source.get("fingerprint"))
    if changes:  # the content hashes see edits that keep the counts
        logger.warning(
            "the dataset at %s changed since it was described: %s; results will not be "
            "comparable with the original run",
            source.get("root", source.get("kind")),
            "; ".join(changes),
        )
        return
    before = source.get("counts")
    now = dataset.counts()
    if before is not None and dict(before) != now:
        logger.warning(
            "the dataset at %s changed since it was described: examples per class were %s, "
            "now %s; results will not be comparable with the original run",
            source.get("root", source.get("kind")),
            dict(before),
            now,
        )
