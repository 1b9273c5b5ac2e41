"""What every runner shares: metadata, input checks, batching and the uniform interface.

A subclass loads its file and implements `_run(batch)`: float32 (n, H, W, 3) 0-255 in,
float32 probabilities (n, C) out, for any n >= 1. It may override `predict_one` with a
faster path for one image; the base class turns any batch size into calls of `_run`.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kerascls.errors import DataError, ModelError


class Runner(abc.ABC):
    """One exported classifier, run the same way whatever its format.

    Use `load_runner(path)` rather than a subclass: it picks the class from the file.

    Attributes:
        path: the model file (or SavedModel folder).
        format: "keras", "savedmodel", "tflite", "onnx" or "tensorrt".
        precision: "float32", "fp16", "dynamic" (int8 weights) or "int8": from the file's
            sidecar metadata when it has one, otherwise read from the file itself.
        class_names: from the sidecar metadata, or None for a file without one.
        input_size: (height, width) of the images the model takes.
        num_classes: length of each probability row.

    Example (a tiny untrained model, saved with a sidecar that names its classes):
        >>> import tempfile
        >>> from kerascls.export.metadata import export_metadata, write_metadata
        >>> from kerascls.export.runners import load_runner
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
        >>> path = Path(tempfile.mkdtemp()) / "model.keras"
        >>> model.save(path)
        >>> _ = write_metadata(path, export_metadata(["cat", "dog", "fox"], (16, 16), fmt="keras"))
        >>> runner = load_runner(path)
        >>> runner.format, runner.precision, runner.input_size, runner.class_names
        ('keras', 'float32', (16, 16), ['cat', 'dog', 'fox'])
        >>> images = np.zeros((5, *runner.input_size, 3), np.float32)
        >>> runner.predict(images).shape, runner.predict_one(images[0]).shape
        ((5, 3), (3,))
    """

    format: ClassVar[str] = ""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        from kerascls.export.metadata import read_metadata

        self.path = Path(path)
        self.threads = threads
        self.metadata: dict[str, Any] = read_metadata(self.path) or {}
        names = self.metadata.get("class_names")
        self.class_names: list[str] | None = list(names) if names else None
        # Subclasses replace "float32" with what they read from the file when the
        # metadata does not say.
        self.precision: str = self.metadata.get("precision") or "float32"
        self.input_size: tuple[int, int] = (0, 0)
        self.num_classes: int = 0

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, precision={self.precision!r}, "
            f"input_size={self.input_size}, classes={self.num_classes})"
        )

    # -- what subclasses provide -------------------------------------------------------
    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes) of a float32 (n, H, W, 3) batch of 0-255 pixels."""

    # -- the uniform interface ---------------------------------------------------------
    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities of a stack of images.

        Args:
            images: (N, H, W, 3) RGB on the 0-255 scale at `input_size`; float32 or uint8
                (converted one batch at a time, so a large uint8 array stays uint8).
            batch_size: images per call of the model.

        Returns:
            float32 (N, num_classes).

        Raises:
            DataError: the images are not (N, H, W, 3) at the model's input size.
        """
        images = self._check(images, batched=True)
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        outputs = [
            self._run(np.asarray(images[start : start + batch_size], dtype=np.float32))
            for start in range(0, len(images), batch_size)
        ]
        if not outputs:
            return np.zeros((0, self.num_classes), np.float32)
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (num_classes,) of one (H, W, 3) image: the batch-1 path."""
        image = self._check(image, batched=False)
        return self._run(np.asarray(image, dtype=np.float32)[None])[0]

    # -- helpers for subclasses ----------------------------------------------------------
    def _check(self, images: np.ndarray, batched: bool) -> np.ndarray:
        images = np.asarray(images)
        expected = (*self.input_size, 3)
        shape = images.shape[1:] if batched else images.shape
        if images.ndim != (4 if batched else 3) or tuple(shape) != expected:
            want = f"(N, {expected[0]}, {expected[1]}, 3)" if batched else str(expected)
            raise DataError(
                f"{self.path.name} takes images of shape {want} (RGB, 0-255), got "
                f"{images.shape}; resize them with kerascls.data.read_image(path, "
                f"{self.input_size})"
            )
        return images

    def _set_io(self, input_shape: Any, output_shape: Any) -> None:
        """Take input_size and num_classes from the model's own shapes, else the metadata."""
        from kerascls.export.metadata import metadata_path

        height, width = _static(input_shape[1]), _static(input_shape[2])
        if height is None or width is None:
            size = self.metadata.get("input_size")
            if not size:
                raise ModelError(
                    f"{self.path} takes images of any size and has no metadata saying which "
                    "size it was trained on; export it with kerascls-export"
                )
            height, width = int(size[0]), int(size[1])
        self.input_size = (height, width)
        classes = _static(output_shape[-1])
        if classes is None:
            names = self.class_names or []
            classes = len(names)
        self.num_classes = int(classes)
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ModelError(
                f"{self.path} predicts {self.num_classes} classes but its metadata names "
                f"{len(self.class_names)}; its metadata {metadata_path(self.path)} belongs "
                "to another model"
            )


def _static(dim: Any) -> int | None:
    """A dimension as an int, or None when it is dynamic (None, -1, a symbolic name)."""
    if dim is None or isinstance(dim, str):
        return None
    dim = int(dim)
    return dim if dim > 0 else None


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (library errors can run to pages)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
