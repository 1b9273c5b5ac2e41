"""LiteRT / TFLite conversion: float32, float16 weights, dynamic-range and full INT8.

The model is converted through a `tf.function` of its inference call rather than
`TFLiteConverter.from_keras_model`: the same path then serves Keras 3 models and the
tf_keras models of quantization-aware training (whose fake-quant nodes become real INT8
kernels), and the batch dimension stays dynamic.

Only built-in TFLite operators are allowed (Keras's own `export(format="litert")` also lets
TensorFlow ops through, which phones do not have): a layer with no TFLite kernel is a clear
error here, not a crash on the device.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> from kerascls.export.tflite import convert_tflite
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
    >>> calibration = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3))
    >>> data = convert_tflite(model, "int8", calibration=calibration.astype("float32"))
    >>> data[4:8]
    b'TFL3'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.export.quiet import quiet

MODES = ("float32", "fp16", "dynamic", "int8")
IO_DTYPES = ("int8", "uint8", "float32")


def inference_function(model: Any, batch: int | None = None):
    """A concrete `tf.function` of `model(x, training=False)` on float32 NHWC images."""
    import tensorflow as tf

    shape = [batch, *(int(d) for d in model.inputs[0].shape[1:])]
    spec = tf.TensorSpec(shape, tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def serve(image):
        return {"probabilities": model(image, training=False)}

    return serve.get_concrete_function()


def convert_tflite(
    model: Any,
    mode: str = "float32",
    calibration: np.ndarray | None = None,
    io_dtype: str = "int8",
) -> bytes:
    """Convert a Keras (3 or tf_keras) model to a TFLite flatbuffer.

    Args:
        model: a functional model taking float32 0-255 NHWC images.
        mode: "float32"; "fp16" (float16 weights, float compute on most CPUs);
            "dynamic" (int8 weights, float activations); "int8" (full integer: weights
            and activations, calibrated on `calibration`).
        calibration: float32 images (N, H, W, 3), 0-255, for mode "int8": a few hundred
            images of the training set, every class represented.
        io_dtype: for "int8": the input/output tensor type, "int8" (the default, for
            integer-only accelerators), "uint8" (raw pixels fit exactly) or "float32"
            (quantize/dequantize inside the model).

    Returns:
        The .tflite file's bytes.

    Raises:
        KerasclsError: an unknown mode, missing calibration images, or a layer that has
            no TFLite kernel in the requested precision.
    """
    if mode not in MODES:
        raise KerasclsError(f"TFLite mode must be one of {', '.join(MODES)}; got {mode!r}")
    if io_dtype not in IO_DTYPES:
        raise KerasclsError(f"io dtype must be one of {', '.join(IO_DTYPES)}; got {io_dtype!r}")
    converter = _converter(model, mode, calibration, io_dtype)
    try:
        with quiet():  # Keras prints its SavedModel signature, the converter its settings
            return converter.convert()
    except Exception as err:  # the converter raises ConverterError and plain Exceptions
        layers = {layer.name for layer in model.layers}
        reason = _converter_reason(err, layers)
        raise KerasclsError(f"TFLite {mode} conversion failed: {reason}") from None


def _converter(model: Any, mode: str, calibration: np.ndarray | None, io_dtype: str) -> Any:
    """A `tf.lite.TFLiteConverter` of `model` set up for `mode` (see `convert_tflite`)."""
    import tensorflow as tf

    if _is_keras3(model):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    else:  # tf_keras (quantization-aware training): its variables freeze from a function
        function = inference_function(model)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # Freeze the weights into constants: with resource variables left in, the file holds
    # READ_VARIABLE ops that full-INT8 calibration cannot run.
    converter.experimental_enable_resource_variables = False
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if calibration is None or len(calibration) == 0:
            raise KerasclsError("full INT8 conversion needs calibration images; none given")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_dtype != "float32":
            converter.inference_input_type = getattr(tf, io_dtype)
            converter.inference_output_type = getattr(tf, io_dtype)
    return converter


def _is_keras3(model: Any) -> bool:
    return type(model).__module__.startswith("keras.")


def _representative(images: np.ndarray) -> Any:
    def generate() -> Iterator[list[np.ndarray]]:
        # One image per step: the calibration only records activation ranges.
        for image in np.asarray(images, dtype=np.float32):
            yield [image[None]]

    return generate


def _converter_reason(err: Exception, layers: set[str] = frozenset()) -> str:
    """The line of a converter error that names the op and its layer, not the MLIR dump."""
    text = str(err)
    for pattern in (
        r"'([\w.]+)' op is neither a custom op nor a flex op",
        r"failed to legalize operation '([\w.]+)'",
        r"Quantization not yet supported for op: '?([\w.]+)'?",
    ):
        match = re.search(pattern, text)
        if match:
            op = match.group(1).removeprefix("tf.").removeprefix("tfl.")
            # MLIR locations name the op's Keras layer: fused["Erf:", "model/layer/Erf@..."]
            layer = re.search(r'fused\["' + re.escape(op) + r':", "(?:[^/"]+/)?([^/"@]+)/', text)
            where = f" (layer {_layer_name(layer.group(1), layers)})" if layer else ""
            return (
                f"operation {op}{where} has no TFLite built-in kernel in this precision; "
                "replace that layer, or export another precision or format (--onnx)"
            )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(err).__name__


def _layer_name(traced: str, layers: set[str]) -> str:
    """The model's name for a layer as a trace names it (Keras's export appends "_1")."""
    if traced not in layers:
        base = re.sub(r"_\d+$", "", traced)
        if base in layers:
            return base
    return traced
