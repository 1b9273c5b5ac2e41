"""Heatmaps drawn over their image, at the image's own resolution.

The heatmap (at the model's input resolution, e.g. 32x32) is resized to the original
picture (e.g. 3024x4032) with bicubic interpolation, coloured with an OpenCV colormap and
blended over the picture, so a user sees the explanation on the photo they gave, not on the
thumbnail the model saw.

Example:
    >>> import numpy as np
    >>> image = np.zeros((60, 80, 3), np.uint8)
    >>> heatmap = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    >>> overlay_heatmap(image, heatmap).shape
    (60, 80, 3)
"""

from __future__ import annotations

import numpy as np

from kerascls.errors import KerasclsError


def colormap_code(name: str) -> int:
    """OpenCV's code of a colormap by name ("jet", "turbo", "inferno", ...).

    Raises:
        KerasclsError: no such colormap (the message lists OpenCV's).
    """
    import cv2

    code = getattr(cv2, f"COLORMAP_{name.upper()}", None)
    if code is None:
        names = sorted(n[9:].lower() for n in dir(cv2) if n.startswith("COLORMAP_"))
        raise KerasclsError(f"unknown colormap {name!r}; OpenCV has {', '.join(names)}")
    return int(code)


def colorize(heatmap: np.ndarray, size: tuple[int, int], colormap: str = "jet") -> np.ndarray:
    """A [0, 1] heatmap resized to `size` (height, width), as uint8 RGB colours.

    Example:
        >>> colorize(np.ones((4, 4), np.float32), (8, 8)).shape
        (8, 8, 3)
    """
    import cv2

    heat = np.asarray(heatmap, np.float32)
    if heat.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {heat.shape}")
    height, width = size
    if heat.shape != (height, width):
        # bicubic overshoots a little at sharp edges: clip back to [0, 1]
        heat = cv2.resize(heat, (width, height), interpolation=cv2.INTER_CUBIC)
    levels = np.round(np.clip(heat, 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, colormap_code(colormap)), cv2.COLOR_BGR2RGB)


def overlay_heatmap(
    image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, colormap: str = "jet"
) -> np.ndarray:
    """Blend a coloured heatmap over an image at the image's resolution.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) is accepted).
        heatmap: float (h, w) in [0, 1], any resolution.
        alpha: weight of the colours (0: the image only, 1: the colours only).
        colormap: an OpenCV colormap name.

    Returns:
        uint8 RGB (H, W, 3).

    Raises:
        KerasclsError: alpha outside [0, 1] or an unknown colormap.

    Example:
        >>> int(overlay_heatmap(np.full((8, 8, 3), 255, np.uint8), np.zeros((2, 2)), 0.0).max())
        255
    """
    if not 0.0 <= alpha <= 1.0:
        raise KerasclsError(f"alpha must be between 0 and 1, got {alpha}")
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    colours = colorize(heatmap, image.shape[:2], colormap)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
