"""Image files: the one list of extensions, and the one way kerascls reads a file.

Training, evaluation, kerascls-viz, kerascls-predict, the export runners and the INT8
calibration all see the same pixels for the same file: `read_image` decodes with the
training pipeline's own decoder (`kerascls.data.decode`: TensorFlow's decoders, Pillow for
the few files they misread, as the folder scan decides) and resizes with its antialiased
bilinear resize. A photo therefore gets the same prediction from kerascls-predict as in
the run's evaluation.

Grey becomes RGB, alpha is dropped, 16-bit becomes 8-bit, and EXIF orientation is not
applied (the training pipeline does not apply it either).

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> path = tempfile.mkdtemp() + "/grey.png"
    >>> Image.fromarray(np.full((48, 64), 200, np.uint8)).save(path)
    >>> read_image(path).shape, read_image(path, (32, 32)).shape
    ((48, 64, 3), (32, 32, 3))
    >>> int(read_image(path, (32, 32))[0, 0, 0])
    200
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from kerascls.errors import DataError

# Extensions (lower case) that count as images when a folder is listed.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def is_image_name(name: str) -> bool:
    """True when a file name has an image extension (any case) and is not hidden.

    Example:
        >>> is_image_name("cat.JPG"), is_image_name(".cat.jpg"), is_image_name("notes.txt")
        (True, False, False)
    """
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def read_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image file to uint8 RGB (H, W, 3), resized to `size` (height, width) if given.

    The pixels are the ones the training pipeline produces for the same file and size.

    Raises:
        DataError: the file does not exist, is a folder, or is not a readable image; the
            message names the file and what is wrong with it.
    """
    import tensorflow as tf

    from kerascls.data.decode import decode_file, resize_uint8
    from kerascls.data.scan import check_image

    path = Path(path)
    if not path.exists():
        raise DataError(f"image {path} does not exist")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image file")
    info = check_image(str(path))  # the folder scan's own check and decoder choice
    if isinstance(info, str):
        raise DataError(
            f"cannot read {path} as an image ({info}); expected a jpg, png, bmp, gif, webp "
            "or tiff file"
        )
    try:
        image = decode_file(tf.constant(str(path)), use_pil=info.needs_pil)
        if size is not None:
            image = resize_uint8(image, (int(size[0]), int(size[1])))
    except (tf.errors.OpError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot decode {path} as an image ({reason[:200]})") from None
    return image.numpy()


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a list of image files, in the order given.

    A folder contributes its image files (by extension, any case, also in sub-folders),
    sorted. A file named explicitly is kept whatever its extension: reading it says whether
    it is an image.

    Raises:
        DataError: a path does not exist, a folder holds no images, or nothing was given.

    Example:
        >>> find_images(["no-such-photo.jpg"])
        Traceback (most recent call last):
        ...
        kerascls.errors.DataError: image no-such-photo.jpg does not exist
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p.name))
            if not images:
                raise DataError(
                    f"folder {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
                )
            found.extend(images)
        elif path.exists():
            found.append(path)
        else:
            raise DataError(f"image {path} does not exist")
    if not found:
        raise DataError("no images given: name one or more image files or folders")
    return found
