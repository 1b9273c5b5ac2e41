"""The table of export formats: one row per format, what it accepts and what it needs.

Everything that decides which formats exist lives here, so the command line, the exporter
and the documentation agree. One module per format does the converting (savedmodel.py,
tflite.py, onnx.py, tensorrt.py, jetson.py).

Example:
    >>> from kerascls.export.formats import FORMATS, output_name
    >>> FORMATS["tflite"].precisions
    ('float32', 'fp16', 'dynamic', 'int8')
    >>> output_name("tflite", "int8")
    'model_int8.tflite'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Args:
        name: the format's name and its command-line flag (`--tflite`).
        suffix: file suffix of what it writes ("" for a folder).
        precisions: the precisions it can export; the first is its default.
        quantized: the precisions that are checked by top-1 agreement and accuracy rather
            than by the maximum difference from Keras.
        needs: what must be installed (or present) to export it, for the docs and errors.
        description: one line for --help and the README.
    """

    name: str
    suffix: str
    precisions: tuple[str, ...]
    quantized: tuple[str, ...]
    needs: str
    description: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "savedmodel",
            "",
            ("float32",),
            (),
            "tensorflow",
            "TensorFlow SavedModel folder (TF Serving, TF-TRT, TF.js converters)",
        ),
        ExportFormat(
            "tflite",
            ".tflite",
            ("float32", "fp16", "dynamic", "int8"),
            ("dynamic", "int8"),
            "tensorflow, ai-edge-litert",
            "LiteRT/TFLite for phones and microcontrollers; int8 is full-integer",
        ),
        ExportFormat(
            "onnx",
            ".onnx",
            ("float32", "int8"),
            ("int8",),
            "tf2onnx, onnxruntime",
            "ONNX with a dynamic batch; int8 is QDQ (ONNX Runtime static quantization)",
        ),
        ExportFormat(
            "tensorrt",
            ".engine",
            ("float32", "fp16", "int8"),
            ("int8",),
            "an NVIDIA GPU and the tensorrt package (pip install -e .[tensorrt]), or a "
            "TensorFlow built with TensorRT (TF-TRT, e.g. NVIDIA's Jetson wheels)",
            "TensorRT engine for this GPU, built from the ONNX file",
        ),
        ExportFormat(
            "jetson",
            "",
            ("float32", "fp16", "int8"),
            ("int8",),
            "tf2onnx (the engine is built on the device with trtexec)",
            "ONNX plus a build_engine.sh that runs trtexec on the Jetson itself",
        ),
    )
}

# FP16 TFLite and engines round weights to 16 bits: a float check, with a wider tolerance.
FLOAT_TOLERANCE = {"float32": 1e-3, "fp16": 1e-2}


def output_name(fmt: str, precision: str) -> str:
    """The file (or folder) name an export is written to inside exports/."""
    spec = FORMATS[fmt]
    if fmt == "savedmodel":
        return "saved_model"
    if fmt == "jetson":
        return "jetson" if precision == "float32" else f"jetson_{precision}"
    if fmt == "onnx" and precision == "float32":
        return "model.onnx"
    return f"model_{precision}{spec.suffix}"


def is_quantized(fmt: str, precision: str) -> bool:
    """Whether an export is checked by agreement and accuracy instead of by difference."""
    return precision in FORMATS[fmt].quantized
