"""Image files: the one list of extensions, and the one way kerascls reads a file.

Training, evaluation, kerascls-viz, kerascls-predict, the export runners and the INT8
calibration all see the same pixels for the same file: `read_image` decodes with the
training pipeline's own decoder (`kerascls.data.decode`: TensorFlow's decoders, Pillow for
the few files they misread, as the folder scan decides) and resizes with its antialiased
bilinear resize. A photo therefore gets the same prediction from kerascls-predict as in
the run's evaluation. `decode_image_bytes` does the same for a file's bytes (an upload to
kerascls-serve), through the same code, after refusing images whose header declares more
pixels than allowed.

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

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kerascls.errors import DataError

if TYPE_CHECKING:
    from kerascls.data.scan import ImageInfo

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
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror or err})") from None
    return _decode(data, info.needs_pil, size, str(path))


class ImageTooLargeError(DataError):
    """An image whose header declares more pixels than allowed (a decompression bomb)."""


def decode_image_bytes(
    data: bytes,
    size: tuple[int, int] | None = None,
    *,
    max_pixels: int | None = None,
    name: str = "the image",
) -> np.ndarray:
    """Decode an image file's bytes (an upload) exactly as `read_image` decodes the file.

    Same checks, same decoder choice, same resize: the same file gives the same pixels
    whether it is read from disk or received over the network.

    Args:
        data: the encoded file (jpg, png, bmp, gif, webp, tiff).
        size: (height, width) to resize to, or None to keep the image's own size.
        max_pixels: refuse images whose header declares more pixels than this (width x
            height x frames), before anything is decoded: a small file can declare a
            huge image (a decompression bomb).
        name: what to call the image in error messages.

    Raises:
        ImageTooLargeError: the header declares more than `max_pixels` pixels.
        DataError: empty, not an image, truncated or otherwise undecodable.

    Example:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.fromarray(np.full((48, 64), 200, np.uint8)).save(buffer, "PNG")
        >>> decode_image_bytes(buffer.getvalue(), (32, 32)).shape
        (32, 32, 3)
        >>> try:
        ...     decode_image_bytes(buffer.getvalue(), max_pixels=1000)
        ... except ImageTooLargeError as err:
        ...     print(err)
        the image is 64x48 pixels (3,072 in all); the limit is 1,000
    """
    info = check_upload(data, max_pixels, name)
    return _decode(data, info.needs_pil, size, name)


def check_upload(data: bytes, max_pixels: int | None, name: str) -> ImageInfo:
    """The checks of an upload before it is decoded; its `ImageInfo` when it passes.

    Shared by `decode_image_bytes` and the TensorFlow-free
    `kerascls.data.pixels.decode_image_bytes_lean` (Pillow only: no TensorFlow here).

    Raises:
        ImageTooLargeError: the header declares more than `max_pixels` pixels.
        DataError: empty, or not an image (`check_image` says why).
    """
    import io

    from kerascls.data.scan import check_image

    if not data:
        raise DataError(f"{name} is empty (0 bytes)")
    if max_pixels is not None:
        declared = _declared_pixels(data)
        if declared is not None and declared[0] > max_pixels:
            pixels, described = declared
            raise ImageTooLargeError(
                f"{name} is {described} ({pixels:,} in all); the limit is {max_pixels:,}"
            )
    info = check_image(io.BytesIO(data))
    if isinstance(info, str):
        raise DataError(
            f"cannot read {name} as an image ({info}); expected a jpg, png, bmp, gif, webp "
            "or tiff file"
        )
    return info


def _declared_pixels(data: bytes) -> tuple[int, str] | None:
    """(pixels, description) from the image header alone; None when Pillow cannot tell."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = int(getattr(image, "n_frames", 1) or 1)
            described = f"{image.width}x{image.height} pixels"
            if frames > 1:
                described += f" x {frames} frames"
            return image.width * image.height * frames, described
    except Image.DecompressionBombError as err:
        return 2**62, f"too large for Pillow ({err})"
    except Exception:  # not an image Pillow knows: check_image says why
        return None


def _decode(data: bytes, use_pil: bool, size: tuple[int, int] | None, name: str) -> np.ndarray:
    """The one decode of read_image and decode_image_bytes: the training pipeline's."""
    import tensorflow as tf

    size = None if size is None else (int(size[0]), int(size[1]))
    try:
        image = _decoder(use_pil, size)(tf.constant(data))
    except (tf.errors.OpError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot decode {name} as an image ({reason[:200]})") from None
    return image.numpy()


@functools.lru_cache(maxsize=32)
def _decoder(use_pil: bool, size: tuple[int, int] | None):
    """decode_bytes (then resize_uint8 to `size`) as one traced function per decoder and
    size: the pipeline's ops, run as one graph call (about twice as fast as op by op)."""
    import tensorflow as tf

    from kerascls.data.decode import decode_bytes, resize_uint8

    def decode(data: tf.Tensor) -> tf.Tensor:
        image = decode_bytes(data, use_pil=use_pil)
        return image if size is None else resize_uint8(image, size)

    return tf.function(decode, input_signature=[tf.TensorSpec([], tf.string)])


def find_images(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (or one of them) into a list of image files, in order.

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
    if isinstance(paths, (str, os.PathLike)):
        # one path, not an iterable of its characters (the first of which is often "/")
        paths = [paths]
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
