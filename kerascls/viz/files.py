"""Writing what kerascls.viz produces: PNGs, figures and arrays, each one atomically.

Commands given no run act on the newest run folder, and TensorBoard or another command may
read these files while they are being written, so every file goes through
`kerascls.runs.atomic`: a reader sees the old file or the new one, never half of one.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas, never through
pyplot: no display is needed, no global figure list grows in a long training run, and a
user's own matplotlib backend (a notebook's, say) is left alone.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.viz.files import new_figure, save_figure, write_png
    >>> folder = tempfile.mkdtemp()
    >>> write_png(folder + "/black.png", np.zeros((8, 8, 3), np.uint8)).name
    'black.png'
    >>> figure = new_figure(3, 2)
    >>> _ = figure.add_subplot().plot([0, 1])
    >>> save_figure(figure, folder + "/figure.png").name
    'figure.png'
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kerascls.errors import KerasclsError
from kerascls.runs import atomic


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (kerascls.runs.atomic), creating parent folders.

    Raises:
        KerasclsError: the folder cannot be created or written (permissions, a full disk,
            a file in the way), with the path in the message.
    """
    try:
        return atomic.write_bytes_atomic(path, data)
    except OSError as err:
        raise KerasclsError(
            f"cannot write {path}: {err.strerror or err}; pass another output folder (--out)"
        ) from None


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB (H, W, 3) or grey (H, W) image."""
    import cv2

    image = np.asarray(rgb)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {image.shape} as PNG")
    return buffer.tobytes()


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write a uint8 RGB (or grey) image as a PNG, atomically; return its path."""
    return write_bytes_atomic(path, encode_png(rgb))


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A matplotlib Figure of `width` x `height` inches on an Agg canvas (no pyplot)."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def figure_to_array(figure: Figure) -> np.ndarray:
    """The figure rendered as a uint8 RGB array (H, W, 3), e.g. for tf.summary.image."""
    import cv2

    data = np.frombuffer(figure_png(figure), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Save a figure as a PNG, atomically; return its path."""
    return write_bytes_atomic(path, figure_png(figure))


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Save arrays to an .npz file, atomically; return its path."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())
