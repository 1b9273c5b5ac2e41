"""Images for the visualisations: each file at its own resolution and at the model's.

`load_image` returns the picture twice: as the file holds it (uint8 RGB, for overlays at
the original resolution) and resized to the model's input (float32 0-255, what the model
takes: kerascls models standardize in their first layer). Both come from
`kerascls.data.read_image`, the training pipeline's own decoder and resize, so a photo
gets the same prediction here as in an evaluation run.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.viz.files import write_png
    >>> path = write_png(tempfile.mkdtemp() + "/grey.png", np.full((48, 64, 3), 200, np.uint8))
    >>> image = load_image(path, size=(32, 32))
    >>> image.original.shape, image.pixels.shape, image.pixels.dtype
    ((48, 64, 3), (32, 32, 3), dtype('float32'))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.data.images import find_images, read_image
from kerascls.errors import DataError

__all__ = ["LoadedImage", "find_images", "load_image", "model_image_size", "resize_image"]


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
    """
    original = read_image(path)
    if size is None or tuple(size) == original.shape[:2]:
        pixels = original.astype(np.float32)
    else:
        pixels = resize_image(original, size)
    return LoadedImage(path=Path(path), original=original, pixels=pixels)
