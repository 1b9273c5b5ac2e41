"""What travels with every exported file: class names, input size and preprocessing.

An export is useless without knowing which class index means what and how to feed it, so
every file kerascls writes gets a sidecar JSON beside it (`model_int8.tflite` ->
`model_int8.tflite.json`); a SavedModel folder holds it inside (`saved_model/kerascls.json`).
`read_metadata` finds it for any of them.

Example:
    >>> import tempfile
    >>> from kerascls.export.metadata import export_metadata, read_metadata, write_metadata
    >>> meta = export_metadata(["cat", "dog"], (32, 32), fmt="tflite", precision="int8")
    >>> model_file = tempfile.mkdtemp() + "/model_int8.tflite"
    >>> write_metadata(model_file, meta).name
    'model_int8.tflite.json'
    >>> read_metadata(model_file)["class_names"]
    ['cat', 'dog']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kerascls.runs import write_json_atomic

SAVEDMODEL_METADATA = "kerascls.json"

# Every kerascls model standardizes inside itself (its "standardize" layer), so every
# export takes the same input whatever its format.
PREPROCESSING = (
    "RGB pixels on the 0-255 scale, NHWC, resized to input_size with antialiased bilinear "
    "resizing; no mean/std: the model standardizes them itself"
)


def export_metadata(
    class_names: list[str],
    input_size: tuple[int, int],
    *,
    fmt: str,
    precision: str = "float32",
    input_dtype: str = "float32",
    output_dtype: str = "float32",
    source: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata dict of one exported file.

    Args:
        class_names: label i is class_names[i].
        input_size: (height, width) the file takes.
        fmt: the format name ("keras", "savedmodel", "tflite", "onnx", "tensorrt").
        precision: "float32", "fp16", "dynamic" (int8 weights) or "int8".
        input_dtype / output_dtype: what the file's tensors hold; quantized inputs take the
            0-255 pixels quantized with the file's own scale and zero point.
        source: the model it was exported from (a .keras path).
        **extra: anything format-specific (opset, TensorRT version, ...).
    """
    return {
        "format": fmt,
        "precision": precision,
        "class_names": list(class_names),
        "input_size": [int(input_size[0]), int(input_size[1])],
        "input_channels": 3,
        "input_layout": "NHWC",
        "input_dtype": input_dtype,
        "output_dtype": output_dtype,
        "output": "class probabilities (softmax)",
        "preprocessing": PREPROCESSING,
        "source": source,
        **extra,
    }


def metadata_path(path: str | os.PathLike) -> Path:
    """Where the metadata of an exported file or SavedModel folder lives."""
    path = Path(path)
    if path.is_dir():
        return path / SAVEDMODEL_METADATA
    return path.with_name(path.name + ".json")


def write_metadata(path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write the sidecar of `path` atomically and return its path."""
    target = metadata_path(path)
    write_json_atomic(target, metadata)
    return target


def read_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of an exported file, or None when it has none (a file from elsewhere)."""
    target = metadata_path(path)
    if not target.is_file():
        return None
    try:
        return json.loads(target.read_text())
    except (OSError, json.JSONDecodeError):
        return None
