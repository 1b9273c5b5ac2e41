"""Run any exported classifier the same way: `load_runner(path).predict(images)`.

The format comes from the path: a .keras file, a SavedModel folder, .tflite, .onnx, or a
TensorRT .engine/.plan. Every runner takes RGB pixels on the 0-255 scale (kerascls models
standardize inside themselves) and returns float32 class probabilities; class names and
precision come from the sidecar metadata that kerascls-export writes beside each file.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.export.metadata import export_metadata, write_metadata
    >>> from kerascls.export.runners import load_runner
    >>> from kerascls.export.tflite import convert_tflite
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,), convs_per_stage=1)
    >>> path = Path(tempfile.mkdtemp()) / "model.tflite"  # what kerascls-export writes
    >>> _ = path.write_bytes(convert_tflite(model))
    >>> _ = write_metadata(path, export_metadata(["cat", "dog"], (16, 16), fmt="tflite"))
    >>> runner = load_runner(path)
    >>> probabilities = runner.predict(np.zeros((8, *runner.input_size, 3)))
    >>> runner.class_names[probabilities[0].argmax()] in ("cat", "dog")
    True
"""

from __future__ import annotations

import os
from pathlib import Path

from kerascls.errors import ModelError
from kerascls.export.formats import READERS, Reader
from kerascls.export.runners.base import Runner
from kerascls.export.runners.files import FileFailure, FilePrediction, predict_files

# suffix -> (module, class), a view of the formats table's readers (folders: by marker)
RUNNERS = {suffix: r.location for r in READERS for suffix in r.suffixes}


def _expected() -> str:
    """'a .keras, .tflite, .onnx or .engine/.plan file, or a SavedModel folder'."""
    files = ["/".join(r.suffixes) for r in READERS if r.suffixes]
    listed = f"{', '.join(files[:-1])} or {files[-1]}" if len(files) > 1 else files[0]
    folders = "".join(f", or a {r.kind} folder" for r in READERS if r.marker)
    return f"a {listed} file{folders}"


EXPECTED = _expected()


def _reader(path: Path) -> Reader | None:
    """The reader of `path`: a folder's by its marker file, a file's by its suffix."""
    if path.is_dir():
        folders = [r for r in READERS if r.marker]
        # A folder without any marker goes to the first folder runner all the same: its
        # own check then says which file is missing, rather than "unknown format".
        marked = [r for r in folders if (path / r.marker).is_file()]
        return (marked or folders or [None])[0]
    return next((r for r in READERS if path.suffix.lower() in r.suffixes), None)


def runner_class(path: str | os.PathLike) -> type[Runner]:
    """The Runner subclass for `path`, from its suffix (or a folder's marker file, such as
    a SavedModel's saved_model.pb); nothing is loaded.

    Raises:
        ModelError: the path does not exist or has a suffix no runner knows.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model {path} does not exist; expected {EXPECTED}")
    reader = _reader(path)
    if reader is None:
        raise ModelError(f"cannot run {path}: unknown model format; expected {EXPECTED}")
    return reader.runner_class()


def load_runner(path: str | os.PathLike, threads: int | None = None) -> Runner:
    """Load an exported (or .keras) model for inference.

    Args:
        path: the model file or SavedModel folder.
        threads: CPU threads the runtime may use (default: the runtime's own choice,
            all cores for TFLite).

    Returns:
        A `Runner`: `predict(images, batch_size=64)`, `predict_one(image)`, `class_names`,
        `input_size`, `precision`, `format`.

    Raises:
        ModelError / KerasclsError: missing, unknown, corrupt, or a runtime that is not
            installed here (TensorRT); the message is one line that says what to do.
    """
    if threads is not None and threads < 1:
        raise ModelError(f"threads={threads} must be >= 1")
    return runner_class(path)(path, threads=threads)


__all__ = [
    "EXPECTED",
    "RUNNERS",
    "FileFailure",
    "FilePrediction",
    "Runner",
    "load_runner",
    "predict_files",
    "runner_class",
]
