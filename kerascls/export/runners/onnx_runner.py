"""Runner of a .onnx file on ONNX Runtime.

The CPU provider always; CUDA first where onnxruntime-gpu and a GPU are there. The
TensorRT provider is left out on purpose: it builds an engine per input shape on first
use (minutes), and kerascls ships TensorRT as .engine files with their own runner.
"""

from __future__ import annotations

import os

import numpy as np

from kerascls.errors import ModelError
from kerascls.export.runners.base import Runner, first_line

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")

# ONNX Runtime's type strings -> numpy
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class ONNXRunner(Runner):
    """An ONNX classifier (float, float16 or INT8 with Q/DQ nodes) with a dynamic batch.

    Args:
        path: the .onnx file.
        threads: intra-op threads (default: ONNX Runtime's choice, one per core).

    Example:
        >>> import tempfile
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
        >>> folder = tempfile.mkdtemp()
        >>> from kerascls.export.onnx import export_onnx
        >>> runner = ONNXRunner(export_onnx(model, folder + "/model.onnx"))
        >>> runner.precision, runner.predict(np.zeros((8, 16, 16, 3), np.float32)).shape
        ('float32', (8, 3))
    """

    format = "onnx"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__(path, threads)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or 0)  # 0: ONNX Runtime decides
        options.log_severity_level = 3  # errors only: its warnings are not the user's concern
        available = set(ort.get_available_providers())
        providers = [name for name in PREFERRED_PROVIDERS if name in available]
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=providers
            )
        except Exception as err:  # onnxruntime's errors derive from Exception directly
            raise ModelError(
                f"cannot load {self.path} as an ONNX model ({first_line(err)}); expected a "
                ".onnx file written by tf2onnx or kerascls-export"
            ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.path} has {len(inputs)} inputs and {len(outputs)} outputs; a "
                "classifier has one of each"
            )
        self._input_name, self._output_name = inputs[0].name, outputs[0].name
        if inputs[0].type not in _DTYPES:
            raise ModelError(f"{self.path} takes {inputs[0].type}; expected float pixels")
        self._input_dtype = _DTYPES[inputs[0].type]
        self._set_io(tuple(inputs[0].shape), tuple(outputs[0].shape))
        if "precision" not in self.metadata:
            self.precision = _precision(self.path)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        feed = {self._input_name: batch.astype(self._input_dtype, copy=False)}
        result = self.session.run([self._output_name], feed)[0]
        return np.asarray(result, dtype=np.float32)


def _precision(path: os.PathLike) -> str:
    """Read from the graph: Q/DQ or QLinear nodes mean INT8 activations, integer matmuls
    with on-the-fly activation quantization mean dynamic range, float16 weights mean fp16."""
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    ops = {node.op_type for node in model.graph.node}
    if "DynamicQuantizeLinear" in ops or ops & {"MatMulInteger", "ConvInteger"}:
        return "dynamic"
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8"
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer):
        return "fp16"
    return "float32"
