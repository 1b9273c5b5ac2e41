"""Predict image files with any runner: read, resize as in training, batch, rank classes.

Unreadable files do not stop the others: each is returned as a failure with its reason.

Example (a tiny untrained model, two photos and a broken file):
    >>> import tempfile
    >>> from PIL import Image
    >>> from kerascls.export.runners import load_runner, predict_files
    >>> from kerascls.models import create_model
    >>> folder = Path(tempfile.mkdtemp())
    >>> create_model("cnn", 3, (16, 16, 3), filters=(8,)).save(folder / "model.keras")
    >>> runner = load_runner(folder / "model.keras")
    >>> (folder / "photos").mkdir()
    >>> for name in ("a.jpg", "b.png"):
    ...     Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(folder / "photos" / name)
    >>> _ = (folder / "photos" / "broken.png").write_bytes(b"not a png")
    >>> predictions, failures = predict_files(
    ...     runner, [folder / "photos"], class_names=["cat", "dog", "fox"], top_k=3)
    >>> [p.path.name for p in predictions], [f.path.name for f in failures]
    (['a.jpg', 'b.png'], ['broken.png'])
    >>> sorted(name for name, probability in predictions[0].top_k)
    ['cat', 'dog', 'fox']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerascls.errors import DataError, KerasclsError
from kerascls.evaluate.ranking import top_k_indices
from kerascls.export.runners.base import Runner


@dataclass(frozen=True)
class FilePrediction:
    """One image file's probabilities and its top classes (name, probability), best first."""

    path: Path
    probabilities: np.ndarray
    top_k: list[tuple[str, float]]


@dataclass(frozen=True)
class FileFailure:
    """An image file that could not be read, and why (one line)."""

    path: Path
    reason: str


def class_names_or_numbers(names: Sequence[str] | None, num_classes: int) -> list[str]:
    """`names` when given, else "class_0", "class_1", ...; a count mismatch is an error."""
    if names is None:
        return [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise KerasclsError(
            f"the model predicts {num_classes} classes but {len(names)} class names were "
            "given; pass the run the model came from (--run)"
        )
    return list(names)


def predict_files(
    runner: Runner,
    paths: Iterable[str | os.PathLike],
    *,
    class_names: Sequence[str] | None = None,
    top_k: int = 3,
    batch_size: int = 64,
) -> tuple[list[FilePrediction], list[FileFailure]]:
    """Predict every image in `paths` (files, and folders searched recursively).

    Args:
        runner: from `load_runner`.
        paths: image files and/or folders.
        class_names: names of the classes; default: the runner's, else "class_<i>".
        top_k: classes to rank per image (at most the number of classes).
        batch_size: images read and predicted at a time (bounds memory).

    Returns:
        (predictions in file order, failures in file order).

    Raises:
        DataError: a path does not exist, a folder holds no images, or no image could
            be read at all.
    """
    from kerascls.data.images import find_images, read_image

    names = class_names_or_numbers(class_names or runner.class_names, runner.num_classes)
    k = max(1, min(top_k, runner.num_classes))
    files = find_images(paths)
    predictions: list[FilePrediction] = []
    failures: list[FileFailure] = []
    for start in range(0, len(files), batch_size):
        read, pixels = [], []
        for path in files[start : start + batch_size]:
            try:
                pixels.append(read_image(path, runner.input_size).astype(np.float32))
                read.append(path)
            except DataError as err:
                failures.append(FileFailure(path, str(err)))
        if not read:
            continue
        probabilities = runner.predict(np.stack(pixels), batch_size=batch_size)
        orders = top_k_indices(probabilities, k)
        for path, row, order in zip(read, probabilities, orders, strict=True):
            ranked = [(names[i], float(row[i])) for i in order]
            predictions.append(FilePrediction(path, row, ranked))
    if not predictions:
        raise DataError(
            f"none of the {len(files)} image file(s) could be read; the first: {failures[0].reason}"
        )
    return predictions, failures
