"""Reading image files for the visualisations: any common format, RGB, at two resolutions.

`load_image` returns the picture twice: as the file holds it (uint8 RGB, for overlays at
the original resolution) and resized to the model's input (float32 0-255, what the model
takes: kerascls models standardize in their first layer). The resize is the training
pipeline's own (`kerascls.data.decode.resize_uint8`: antialiased bilinear, rounded to
uint8), so a photo gets the same prediction here as in an evaluation run.

OpenCV decodes most files; Pillow reads what OpenCV cannot (some GIFs, palette BMPs).
EXIF orientation is ignored, as in the training pipeline, so the pixels are the ones the
model was trained on. Grey becomes RGB, alpha is dropped, 16-bit becomes 8-bit.

Example:
    >>> import numpy as np
    >>> from kerascls.viz.files import write_png
    >>> from kerascls.viz.images import load_image
    >>> path = write_png("/tmp/kerascls-doc-image.png", np.full((48, 64, 3), 200, np.uint8))
    >>> image = load_image(path, size=(32, 32))
    >>> image.original.shape, image.pixels.shape, image.pixels.dtype
    ((48, 64, 3), (32, 32, 3), dtype('float32'))
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.data.folder import IMAGE_EXTENSIONS  # the one list of image files
from kerascls.errors import DataError


@dataclass(frozen=True)
class LoadedImage:
    """One image file, as stored and as the model takes it.

    Args:
        path: the file it came from (None for an array).
        original: uint8 RGB (H, W, 3) at the file's resolution.
        pixels: float32 RGB (h, w, 3) on the 0-255 scale at the model's input size.
    """

    path: Path | None
    original: np.ndarray
    pixels: np.ndarray


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 RGB (H, W, 3) at its own resolution.

    Args:
        path: an image file (jpg, png, bmp, gif, webp, tiff, ...).

    Raises:
        DataError: the file does not exist, is a folder, or is not a readable image.

    Example:
        >>> read_image("/tmp/kerascls-doc-image.png").shape  # doctest: +SKIP
        (48, 64, 3)
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise DataError(f"image {path} does not exist")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image file")
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np + imdecode: any path encoding works
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    # IGNORE_ORIENTATION: the training pipeline does not apply EXIF rotation either.
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is not None:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return _read_with_pillow(path)


def _read_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(
            f"cannot read {path} as an image ({reason}); expected a jpg, png, bmp, gif, "
            "webp or tiff file"
        ) from None


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 RGB to `size` (height, width) as the training pipeline does; float32 out.

    Example:
        >>> resize_image(np.zeros((10, 20, 3), np.uint8), (8, 8)).shape
        (8, 8, 3)
    """
    from kerascls.data.decode import resize_uint8

    resized = resize_uint8(np.asarray(image, np.uint8), (int(size[0]), int(size[1])))
    return np.asarray(resized, dtype=np.float32)


def model_image_size(model: Any) -> tuple[int, int] | None:
    """(height, width) the model takes, or None when it takes any size."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise DataError(f"model {model.name!r} takes inputs of shape {shape}, not images")
    height, width = shape[1], shape[2]
    return None if height is None or width is None else (int(height), int(width))


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> LoadedImage:
    """Read an image file; keep it as is and also resize it to `size` for a model.

    Args:
        path: the image file.
        size: (height, width) of the model's input (see `model_image_size`); None keeps
            the file's size.

    Returns:
        A `LoadedImage` with `original` (uint8) and `pixels` (float32 0-255, resized).

    Raises:
        DataError: missing, a folder, or not a readable image.

    Example:
        >>> load_image("/tmp/kerascls-doc-image.png", (16, 16)).pixels.shape
        (16, 16, 3)
    """
    original = read_image(path)
    if size is None or tuple(size) == original.shape[:2]:
        pixels = original.astype(np.float32)
    else:
        pixels = resize_image(original, size)
    return LoadedImage(path=Path(path), original=original, pixels=pixels)


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a list of image files, in the order given.

    A folder contributes its image files (by extension, any case, also in sub-folders),
    sorted. A file named explicitly is kept whatever its extension: reading it says whether
    it is an image.

    Raises:
        DataError: a path does not exist, a folder holds no images, or nothing was given.

    Example:
        >>> find_images(["/tmp/kerascls-doc-image.png"])
        [PosixPath('/tmp/kerascls-doc-image.png')]
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            images = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
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
