"""The table of export formats: one row per format says everything kerascls knows about it.

The command line (its flags and --help), the exporter (which method writes a format, and
the name of every file and folder it writes), the runners (which class reads a path) and
the checks (which precisions are quantized) all read FORMATS; nothing else names a format.
One module per format does the converting (savedmodel.py, tflite.py, onnx.py,
tensorrt.py, jetson.py) and one per runtime does the running (runners/).

This module imports no TensorFlow, numpy or converter: runners are named by dotted path
and imported only when a file needs one, so `kerascls-export --help` stays fast.

Example:
    >>> from kerascls.export.formats import FORMATS, output_name
    >>> FORMATS["tflite"].precisions
    ('float32', 'fp16', 'dynamic', 'int8')
    >>> output_name("tflite", "int8")
    'model_int8.tflite'
    >>> output_name("onnx", "float32"), output_name("jetson", "fp16")
    ('model.onnx', 'jetson_fp16')
    >>> output_name("tensorrt", "fp16", variant="tftrt")
    'tftrt_fp16'
    >>> FORMATS["tensorrt"].reader.suffixes
    ('.engine', '.plan')
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reader:
    """Which Runner reads a kind of model, and how `load_runner` recognises it by its path.

    Args:
        runner: "module:Class" of the `Runner` subclass; a string, so that nothing is
            imported until a path needs it (runners import TensorFlow or ONNX Runtime).
        suffixes: the file suffixes it reads, lower case.
        marker: for a folder, the file inside it that marks its kind.
        kind: what such folders are called in the error for a path no runner reads.

    Example:
        >>> reader = Reader("kerascls.export.runners.onnx_runner:ONNXRunner", (".onnx",))
        >>> reader.location
        ('kerascls.export.runners.onnx_runner', 'ONNXRunner')
    """

    runner: str
    suffixes: tuple[str, ...] = ()
    marker: str = ""
    kind: str = ""

    @property
    def location(self) -> tuple[str, str]:
        """(module, class name) of the runner."""
        module, _, name = self.runner.partition(":")
        return module, name

    def runner_class(self) -> type[Any]:
        """Import and return the Runner subclass (this is where its runtime gets imported)."""
        module, name = self.location
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its flag, what it writes, how it is written and how it is read.

    Args:
        name: the format's name and its command-line flag (`--tflite`).
        suffix: file suffix of what it writes ("" for a folder).
        precisions: the precisions it can export; the first is its default.
        quantized: the precisions that are checked by top-1 agreement and accuracy rather
            than by the maximum difference from Keras.
        needs: what must be installed (or present) to export it, for the docs and errors.
        description: one line for --help and the README.
        output: the name of what it writes inside exports/, "{precision}" filled in.
        outputs: names that differ from `output` for some precisions.
        variants: other names the writer may choose, by variant (TensorRT writes a TF-TRT
            SavedModel folder instead of an engine where TensorFlow has TensorRT).
        reader: the runner that reads what it writes, or None when nothing here can run
            it (a Jetson bundle is built into an engine on the device).
        writer: the exporter's method that writes it, called as
            `writer(precision, target)` and returning (what was written, the file to check).

    Example:
        >>> FORMATS["onnx"].quantized, FORMATS["onnx"].writer
        (('int8',), 'write_onnx')
        >>> FORMATS["savedmodel"].reader.marker
        'saved_model.pb'
    """

    name: str
    suffix: str
    precisions: tuple[str, ...]
    quantized: tuple[str, ...]
    needs: str
    description: str
    output: str
    reader: Reader | None
    writer: str
    # hash=False: a frozen row is hashable by its other fields; dicts are not hashable.
    outputs: Mapping[str, str] = field(default_factory=dict, hash=False)
    variants: Mapping[str, str] = field(default_factory=dict, hash=False)


# Every precision, in the order of the command-line flags, with its --help text; which
# formats take each one comes from FORMATS.
PRECISIONS: dict[str, str] = {
    "float32": "float32 (the default when no precision is given)",
    "fp16": "float16 weights",
    "dynamic": "dynamic-range: int8 weights, float activations",
    "int8": "full integer, calibrated on training images",
}

SAVEDMODEL_READER = Reader(
    "kerascls.export.runners.savedmodel_runner:SavedModelRunner",
    marker="saved_model.pb",
    kind="SavedModel",
)

FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            name="savedmodel",
            suffix="",
            precisions=("float32",),
            quantized=(),
            needs="tensorflow",
            description="TensorFlow SavedModel folder (TF Serving, TF-TRT, TF.js converters)",
            output="saved_model",
            reader=SAVEDMODEL_READER,
            writer="write_savedmodel",
        ),
        ExportFormat(
            name="tflite",
            suffix=".tflite",
            precisions=("float32", "fp16", "dynamic", "int8"),
            quantized=("dynamic", "int8"),
            needs="tensorflow, ai-edge-litert",
            description="LiteRT/TFLite for phones and microcontrollers; int8 is full-integer",
            output="model_{precision}.tflite",
            reader=Reader("kerascls.export.runners.tflite_runner:TFLiteRunner", (".tflite",)),
            writer="write_tflite",
        ),
        ExportFormat(
            name="onnx",
            suffix=".onnx",
            precisions=("float32", "int8"),
            quantized=("int8",),
            needs="tf2onnx, onnxruntime",
            description="ONNX (tf2onnx) with a dynamic batch; int8 is QDQ (ONNX Runtime static "
            "quantization)",
            output="model_{precision}.onnx",
            outputs={"float32": "model.onnx"},
            reader=Reader("kerascls.export.runners.onnx_runner:ONNXRunner", (".onnx",)),
            writer="write_onnx",
        ),
        ExportFormat(
            name="tensorrt",
            suffix=".engine",
            precisions=("float32", "fp16", "int8"),
            quantized=("int8",),
            needs="an NVIDIA GPU and the tensorrt package (pip install -e .[tensorrt]), or a "
            "TensorFlow built with TensorRT (TF-TRT, e.g. NVIDIA's Jetson wheels)",
            description="TensorRT engine for this GPU, built from the ONNX file (or a TF-TRT "
            "SavedModel folder where TensorFlow has TensorRT)",
            output="model_{precision}.engine",
            # A TF-TRT folder is a SavedModel: SAVEDMODEL_READER reads it by its marker.
            variants={"tftrt": "tftrt_{precision}"},
            # .plan is the other usual suffix of serialized engines (trtexec --saveEngine).
            reader=Reader(
                "kerascls.export.runners.tensorrt_runner:TensorRTRunner", (".engine", ".plan")
            ),
            writer="write_tensorrt",
        ),
        ExportFormat(
            name="jetson",
            suffix="",
            precisions=("float32", "fp16", "int8"),
            quantized=("int8",),
            needs="tf2onnx (the engine is built on the device with trtexec)",
            description="ONNX plus a build_engine.sh that runs trtexec on the Jetson itself",
            output="jetson_{precision}",
            outputs={"float32": "jetson"},
            # The bundle is checked through the ONNX file inside it, read by the onnx reader.
            reader=None,
            writer="write_jetson",
        ),
    )
}

# .keras files are no export format, but every runner-based command takes them too.
KERAS_READER = Reader("kerascls.export.runners.keras_runner:KerasRunner", (".keras",))

# Every reader once, .keras first: the order of the "expected ..." list in errors.
READERS: tuple[Reader, ...] = tuple(
    dict.fromkeys([KERAS_READER, *(f.reader for f in FORMATS.values() if f.reader)])
)

# FP16 TFLite and engines round weights to 16 bits: a float check, with a wider tolerance.
FLOAT_TOLERANCE = {"float32": 1e-3, "fp16": 1e-2}


def output_name(fmt: str, precision: str, variant: str | None = None) -> str:
    """The file (or folder) name an export is written to inside exports/.

    Args:
        fmt: a FORMATS name.
        precision: one of its precisions.
        variant: one of the row's `variants` ("tftrt"), or None for its usual output.
    """
    spec = FORMATS[fmt]
    template = spec.variants[variant] if variant else spec.outputs.get(precision, spec.output)
    return template.format(precision=precision)


def is_quantized(fmt: str, precision: str) -> bool:
    """Whether an export is checked by agreement and accuracy instead of by difference."""
    return precision in FORMATS[fmt].quantized


def formats_with(precision: str) -> list[str]:
    """The formats that can export `precision`, in table order.

    Example:
        >>> formats_with("fp16")
        ['tflite', 'tensorrt', 'jetson']
    """
    return [name for name, spec in FORMATS.items() if precision in spec.precisions]


def runs_here(fmt: object) -> bool:
    """False for a known format that no runner reads (a Jetson bundle); True otherwise.

    Unknown names (a manifest written by a newer kerascls, say) count as runnable: their
    files are then judged by their paths, as `load_runner` does.

    Example:
        >>> runs_here("tflite"), runs_here("jetson"), runs_here("something-new")
        (True, False, True)
    """
    spec = FORMATS.get(fmt) if isinstance(fmt, str) else None
    return spec is None or spec.reader is not None
