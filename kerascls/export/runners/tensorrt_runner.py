"""Runner of a serialized TensorRT engine (.engine / .plan) with the TensorRT 10+ API.

Engines run only on an NVIDIA GPU, with the TensorRT version that built them. Device
memory comes from NVIDIA's `cuda-python` package (`cuda.bindings.runtime`, or the older
`cuda.cudart`); buffers are allocated once for the largest batch and reused.

Untested in the project's CPU-only CI: written against the TensorRT 10 Python API
(named I/O tensors, `set_input_shape`, `set_tensor_address`, `execute_async_v3`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError, ModelError
from kerascls.export.runners.base import Runner

INSTALL_HINT = (
    "pip install -e .[tensorrt] cuda-python on a machine with an NVIDIA GPU, or run the "
    ".onnx export instead"
)


def _import_cuda() -> tuple[Any, Any]:
    """(tensorrt, cuda runtime bindings), or a one-line error saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError:
        raise KerasclsError(f"TensorRT engines need the tensorrt package: {INSTALL_HINT}") from None
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python before 12.6
        except ImportError:
            raise KerasclsError(
                f"TensorRT engines need cuda-python for GPU memory: {INSTALL_HINT}"
            ) from None
    error, count = cudart.cudaGetDeviceCount()
    if error != cudart.cudaError_t.cudaSuccess or count == 0:
        raise KerasclsError(
            f"TensorRT engines need an NVIDIA GPU and none is visible: {INSTALL_HINT}"
        )
    return trt, cudart


class TensorRTRunner(Runner):
    """A TensorRT engine with one NHWC float image input and one probability output.

    Example (not run as a doctest: it needs an NVIDIA GPU, TensorRT and an engine built
    there by `kerascls-export --formats tensorrt`):
        >>> runner = TensorRTRunner("exports/model_fp16.engine")          # doctest: +SKIP
        >>> runner.predict(np.zeros((64, 32, 32, 3), np.float32)).shape  # doctest: +SKIP
        (64, 10)
    """

    format = "tensorrt"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__(path, threads)
        trt, self._cudart = _import_cuda()
        self._trt_logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._trt_logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ModelError(
                f"cannot load {self.path} as a TensorRT engine: it is corrupt or was built by "
                f"another TensorRT version than {trt.__version__}; rebuild it on this machine"
            )
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.path} has inputs {inputs} and outputs {outputs}; expected one each"
            )
        self._in, self._out = inputs[0], outputs[0]
        in_shape = tuple(self.engine.get_tensor_shape(self._in))
        self._set_io(in_shape, tuple(self.engine.get_tensor_shape(self._out)))
        if "precision" not in self.metadata:
            self.precision = "unknown"  # an engine does not record its builder flags
        self._in_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self._in)))
        self._out_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self._out)))
        # The largest batch the engine takes: its fixed batch, or profile 0's maximum.
        self._max_batch = (
            int(in_shape[0])
            if in_shape[0] > 0
            else int(self.engine.get_tensor_profile_shape(self._in, 0)[2][0])
        )
        self.context = self.engine.create_execution_context()
        self._stream = self._cuda(self._cudart.cudaStreamCreate())
        in_bytes = self._max_batch * int(np.prod(self.input_size)) * 3 * self._in_dtype.itemsize
        out_bytes = self._max_batch * self.num_classes * self._out_dtype.itemsize
        self._d_in = self._cuda(self._cudart.cudaMalloc(in_bytes))
        self._d_out = self._cuda(self._cudart.cudaMalloc(out_bytes))
        self.context.set_tensor_address(self._in, int(self._d_in))
        self.context.set_tensor_address(self._out, int(self._d_out))
        self._batch_set = 0

    def _cuda(self, result: Any) -> Any:
        """cuda-python returns (error, value...): raise on error, return the value."""
        error, *values = result if isinstance(result, tuple) else (result,)
        if error != self._cudart.cudaError_t.cudaSuccess:
            raise KerasclsError(f"CUDA call failed while running {self.path.name}: {error}")
        return values[0] if len(values) == 1 else None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) > self._max_batch:  # the engine's profile caps the batch size
            step = self._max_batch
            chunks = [batch[i : i + step] for i in range(0, len(batch), step)]
            return np.concatenate([self._run(chunk) for chunk in chunks])
        n = len(batch)
        fixed = self.engine.get_tensor_shape(self._in)[0] > 0
        host_in = np.ascontiguousarray(batch, dtype=self._in_dtype)
        if fixed and n < self._max_batch:  # a fixed-batch engine: pad up to its batch
            pad = np.zeros((self._max_batch - n, *host_in.shape[1:]), self._in_dtype)
            host_in = np.concatenate([host_in, pad])
        rows = len(host_in)
        if not fixed and rows != self._batch_set:
            self.context.set_input_shape(self._in, (rows, *self.input_size, 3))
            self._batch_set = rows
        host_out = np.empty((rows, self.num_classes), self._out_dtype)
        cudart = self._cudart
        self._cuda(
            cudart.cudaMemcpyAsync(
                self._d_in,
                host_in.ctypes.data,
                host_in.nbytes,
                cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                self._stream,
            )
        )
        if not self.context.execute_async_v3(int(self._stream)):
            raise KerasclsError(f"TensorRT failed to run {self.path.name} on a batch of {rows}")
        self._cuda(
            cudart.cudaMemcpyAsync(
                host_out.ctypes.data,
                self._d_out,
                host_out.nbytes,
                cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                self._stream,
            )
        )
        self._cuda(cudart.cudaStreamSynchronize(self._stream))
        return host_out[:n].astype(np.float32)

    def __del__(self) -> None:
        cudart = getattr(self, "_cudart", None)
        for name in ("_d_in", "_d_out"):
            pointer = getattr(self, name, None)
            if cudart is not None and pointer is not None:
                cudart.cudaFree(pointer)
        if cudart is not None and getattr(self, "_stream", None) is not None:
            cudart.cudaStreamDestroy(self._stream)
