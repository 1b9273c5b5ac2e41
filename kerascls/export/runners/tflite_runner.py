"""Runner of a .tflite file on the LiteRT interpreter (`ai_edge_litert`).

Quantized files take int8 or uint8 pixels: the 0-255 floats are quantized with the input
tensor's own scale and zero point, and int8 outputs are dequantized, so callers always
pass floats and get probabilities back.

An interpreter's tensors are allocated for one input shape, and allocating costs more than
a small model's whole inference. So each batch size gets its own interpreter, allocated
once and kept: batch-1 calls (predict_one) never reallocate, and neither do repeated
batches of 64 followed by a smaller last one.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from kerascls.errors import ModelError
from kerascls.export.quiet import quiet
from kerascls.export.runners.base import Runner, first_line

# A bounded number of batch sizes keeps memory in check when callers vary them a lot.
MAX_INTERPRETERS = 4


class TFLiteRunner(Runner):
    """A TensorFlow Lite flatbuffer: float, float16, dynamic-range or full-integer INT8.

    Args:
        path: the .tflite file.
        threads: interpreter threads (default: every CPU core).

    Example (full-integer INT8, calibrated on random images):
        >>> import tempfile
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
        >>> folder = tempfile.mkdtemp()
        >>> from kerascls.export.tflite import convert_tflite
        >>> calibration = np.random.default_rng(0).uniform(0, 255, (16, 16, 16, 3))
        >>> data = convert_tflite(model, "int8", calibration=calibration.astype("float32"))
        >>> with open(folder + "/model_int8.tflite", "wb") as f:
        ...     _ = f.write(data)
        >>> runner = TFLiteRunner(folder + "/model_int8.tflite")
        >>> runner.precision, runner.predict_one(np.zeros((16, 16, 3))).shape
        ('int8', (3,))
    """

    format = "tflite"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__(path, threads)
        self._interpreters: dict[int, Any] = {}
        first = self._new_interpreter()
        inputs, outputs = first.get_input_details(), first.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.path} has {len(inputs)} inputs and {len(outputs)} outputs; a "
                "classifier has one of each"
            )
        self._input, self._output = inputs[0], outputs[0]
        signature = self._input["shape_signature"]
        # -1: any batch size (resize per batch size); otherwise the file's fixed batch.
        self._fixed_batch = None if signature[0] == -1 else int(signature[0])
        self._set_io(tuple(signature), tuple(self._output["shape_signature"]))
        if "precision" not in self.metadata:
            self.precision = _precision(first, self._input["dtype"])
        allocated = int(self._input["shape"][0])
        with quiet():  # the XNNPACK delegate is made, and announced, at allocation
            first.allocate_tensors()
        self._interpreters[allocated] = first
        self._quantize = _quantizer(self._input)
        self._dequantize = _dequantizer(self._output)
        self._in_index, self._out_index = self._input["index"], self._output["index"]

    def _new_interpreter(self) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        try:
            return Interpreter(
                model_path=str(self.path), num_threads=self.threads or os.cpu_count()
            )
        except (ValueError, RuntimeError) as err:
            raise ModelError(
                f"cannot load {self.path} as a TFLite model ({first_line(err)}); expected a "
                ".tflite flatbuffer written by TFLiteConverter or kerascls-export"
            ) from None

    def _interpreter(self, batch: int) -> Any:
        """The interpreter allocated for `batch` images, made on first use."""
        interpreter = self._interpreters.get(batch)
        if interpreter is None:
            if len(self._interpreters) >= MAX_INTERPRETERS:
                # keep batch 1 (predict_one's); drop the oldest other size
                oldest = next(size for size in self._interpreters if size != 1)
                del self._interpreters[oldest]
            interpreter = self._new_interpreter()
            interpreter.resize_tensor_input(
                self._in_index, [batch, *self.input_size, 3], strict=True
            )
            with quiet():
                interpreter.allocate_tensors()
            self._interpreters[batch] = interpreter
        return interpreter

    def _invoke(self, interpreter: Any, batch: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(self._in_index, self._quantize(batch))
        interpreter.invoke()
        return self._dequantize(interpreter.get_tensor(self._out_index))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._fixed_batch is None:
            return self._invoke(self._interpreter(len(batch)), batch)
        # A file with a fixed batch size: feed it chunks of that size, padding the last.
        size = self._fixed_batch
        interpreter = self._interpreters[size]
        outputs = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            if len(chunk) < size:
                chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]))])
            outputs.append(self._invoke(interpreter, chunk.astype(np.float32)))
        return np.concatenate(outputs)[: len(batch)]

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        if self._fixed_batch not in (None, 1):
            return super().predict_one(image)
        interpreter = self._interpreters.get(1) or self._interpreter(1)
        image = self._check(image, batched=False)
        return self._invoke(interpreter, np.asarray(image, np.float32)[None])[0]


def _quantizer(details: dict[str, Any]):
    """float 0-255 pixels -> what the input tensor holds (identity for float inputs)."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return lambda x: x.astype(dtype, copy=False)
    scale, zero_point = details["quantization"]
    if not scale:
        raise ModelError(f"the {dtype} input of this model has no quantization scale")
    info = np.iinfo(dtype)

    def quantize(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(x / scale + zero_point), info.min, info.max).astype(dtype)

    return quantize


def _dequantizer(details: dict[str, Any]):
    """What the output tensor holds -> float32 probabilities."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return lambda y: y.astype(np.float32, copy=False)
    scale, zero_point = details["quantization"]
    return lambda y: ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _precision(interpreter: Any, input_dtype: Any) -> str:
    """What the converter did, read from the file's tensor types and operators.

    Full-integer files have int8 activations: integer inputs, or float inputs followed by
    a QUANTIZE operator. Dynamic-range files hold int8 weights only; float16 files hold
    float16 weights that DEQUANTIZE turns to float32.
    """
    if np.dtype(input_dtype).kind in "iu":
        return "int8"
    try:
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
    except AttributeError:  # a private method; without it float-input INT8 reads "dynamic"
        ops = set()
    dtypes = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    if "QUANTIZE" in ops:
        return "int8"
    if np.dtype(np.float16) in dtypes:
        return "fp16"
    if np.dtype(np.int8) in dtypes or np.dtype(np.uint8) in dtypes:
        return "dynamic"
    return "float32"
