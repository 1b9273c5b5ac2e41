"""CIFAR-10 from `keras.datasets`: 50,000 training and 10,000 test images, 32x32, 10 classes.

The training images are split into train and a stratified validation hold-out; the real test
set is the test split. Keras downloads the archive once (~170 MB, to ~/.keras/datasets); with
no network and no cached copy, `load_cifar10` raises `OfflineError` saying how to train on an
image folder instead.
"""

from __future__ import annotations

import socket
import urllib.error

import numpy as np

from kerascls.data.arrays import arrays_dataset
from kerascls.data.dataset import ImageDataset
from kerascls.errors import DataError, OfflineError

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def load_cifar10(validation_size: float | int | None = None, seed: int = 0) -> ImageDataset:
    """Load CIFAR-10 with a stratified validation split carved out of the training images.

    Args:
        validation_size: training images held out for validation, a count, a fraction, or
            None: the default 10% (5,000 images, 500 per class). 0: no validation split.
        seed: seed of that hold-out.

    Returns:
        An in-memory `ImageDataset` (uint8 arrays), 32x32, with train, validation and test.

    Raises:
        OfflineError: the download failed and no cached copy exists.
        DataError: the cached download is unusable.

    Example (not run as a doctest: it downloads 170 MB):
        >>> ds = load_cifar10()          # doctest: +SKIP
        >>> ds.counts()["validation"]    # doctest: +SKIP
        [500, 500, 500, 500, 500, 500, 500, 500, 500, 500]
        >>> ds.class_names == CIFAR10_CLASSES  # doctest: +SKIP
        True
    """
    import keras  # deferred: importing Keras costs seconds and only this loader needs it

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # Keras wraps network failures in a bare Exception
        if _is_network_error(error):
            raise OfflineError(
                f"could not download CIFAR-10 ({_first_line(error)}); connect to the internet, "
                "or train on a folder of images instead: pass the folder (--data-dir PATH) "
                "with train/<class>/ sub-folders, e.g. load_image_folder(PATH)"
            ) from error
        raise DataError(
            f"could not load CIFAR-10: {_first_line(error)}; delete "
            "~/.keras/datasets/cifar-10-batches-py* and try again"
        ) from error
    return arrays_dataset(
        x_train,
        np.ravel(y_train),
        class_names=CIFAR10_CLASSES,
        validation_size=validation_size,
        x_test=x_test,
        y_test=np.ravel(y_test),
        seed=seed,
        source={"kind": "cifar10", "validation_size": validation_size, "seed": seed},
    )


def _is_network_error(error: BaseException) -> bool:
    # keras.utils.get_file raises Exception("URL fetch failure on ...") from a URLError.
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(
            seen, (urllib.error.URLError, socket.gaierror, ConnectionError, TimeoutError)
        ):
            return True
        if "URL fetch failure" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(error: BaseException) -> str:
    return str(error).strip().split("\n")[0] or type(error).__name__
