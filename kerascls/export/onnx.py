"""ONNX export with tf2onnx (float32, dynamic batch) and INT8 through ONNX Runtime.

The INT8 model is QDQ (QuantizeLinear/DequantizeLinear pairs around every quantized op),
from `onnxruntime.quantization.quantize_static` calibrated on training images: it runs on
ONNX Runtime's CPU provider and is the explicit-quantization input TensorRT expects.

Example:
    >>> import tempfile
    >>> from kerascls.models import create_model
    >>> from kerascls.export.onnx import export_onnx
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
    >>> export_onnx(model, tempfile.mkdtemp() + "/model.onnx").name
    'model.onnx'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.export.quiet import quiet
from kerascls.runs.atomic import atomic_path

DEFAULT_OPSET = 17
INPUT_NAME = "image"


_HANDLERS_REGISTERED = False


def register_tf2onnx_handlers() -> None:
    """Teach tf2onnx the TensorFlow ops it passes through unconverted.

    - Erfc, which the exact GELU traces to (`keras.activations.gelu`, as the default
      "airbench" model uses it: 0.5 x erfc(-x / sqrt 2)). tf2onnx 1.17 has no handler and
      writes an "Erfc" node, which no ONNX opset defines: ONNX Runtime refuses the whole
      file. erfc(x) = 1 - erf(x), and Erf is ONNX since opset 9.
    """
    global _HANDLERS_REGISTERED
    if _HANDLERS_REGISTERED:
        return
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
            erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
            node.type = "Sub"
            ctx.replace_inputs(node, [one.output[0], erf.output[0]])

    _HANDLERS_REGISTERED = True


def export_onnx(model: Any, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Convert `model` to ONNX at `path` (input "image", float32 NHWC, dynamic batch)."""
    import tensorflow as tf
    import tf2onnx

    register_tf2onnx_handlers()

    path = Path(path)
    shape = [None, *(int(d) for d in model.inputs[0].shape[1:])]
    spec = (tf.TensorSpec(shape, tf.float32, name=INPUT_NAME),)
    functional = _functional(model)

    try:
        with atomic_path(path) as tmp, quiet():
            # from_keras freezes Keras 3 variables and captured constants (a tf.function
            # closure leaves the Normalization statistics as extra graph inputs).
            tf2onnx.convert.from_keras(
                functional, input_signature=spec, opset=opset, output_path=str(tmp)
            )
    except Exception as err:
        if isinstance(err, KerasclsError):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KerasclsError(f"ONNX conversion (opset {opset}) failed: {first[:300]}") from None
    return path


def quantize_onnx_int8(float_path: str | Path, path: str | Path, calibration: np.ndarray) -> Path:
    """Quantize a float ONNX model to INT8 QDQ, calibrated on `calibration` images.

    Weights are int8 per channel, activations int8 per tensor (MinMax calibration), which
    is what TensorRT's explicit quantization and ONNX Runtime's CPU kernels both take.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(np.array_split(calibration, max(1, len(calibration) // 32)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch.astype(np.float32)}

    path = Path(path)
    prepared = path.with_name(f".prep-{path.name}")  # an intermediate, removed at the end
    try:
        with atomic_path(path) as tmp, quiet():
            # Shape inference and graph clean-up, as ONNX Runtime recommends before
            # quantizing; without it some ops are left in float.
            quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(tmp),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KerasclsError(f"ONNX INT8 quantization failed: {first[:300]}") from None
    finally:
        prepared.unlink(missing_ok=True)
    return path


def _functional(model: Any) -> Any:
    """A functional model: tf2onnx's from_keras fails on Keras 3 Sequential models."""
    import keras

    if not isinstance(model, keras.Sequential):
        return model
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name=INPUT_NAME)
    return keras.Model(inputs, model(inputs), name=model.name)
