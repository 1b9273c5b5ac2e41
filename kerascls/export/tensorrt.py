"""TensorRT: TF-TRT where TensorFlow was built with it, else an engine built from ONNX.

Two paths, detected rather than assumed (checked against TF 2.21 and TensorRT 10/11):

- TF-TRT (`TrtGraphConverterV2`) exists only in NVIDIA-built TensorFlow (Jetson wheels,
  NGC containers); the PyPI wheel raises "not built with TensorRT". Its output is a
  SavedModel folder with TensorRT ops.
- Otherwise the `tensorrt` Python package builds a serialized engine from the ONNX file.
  TensorRT 10 takes precision from builder flags (FP16, INT8 with a QDQ model); TensorRT
  11 removed those flags and builds strongly typed networks, so precision must already be
  in the ONNX graph: float16 weights for FP16 (converted here with ONNX Runtime's float16
  tool), Q/DQ nodes for INT8.

Engines are tied to the GPU and TensorRT version they were built with: build on the
machine that runs them (for a Jetson, see jetson.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from kerascls.errors import KerasclsError
from kerascls.export.onnx import INPUT_NAME
from kerascls.runs.atomic import atomic_path, write_bytes_atomic

INSTALL_HINT = (
    "run it on a machine with an NVIDIA GPU after `pip install -e .[tensorrt]`, or use "
    "--jetson to build the engine on the device; the other formats export here"
)
MAX_BATCH = 64


def tftrt_available() -> bool:
    """Whether this TensorFlow was built with TensorRT (TF-TRT)."""
    try:
        from tensorflow.python.compiler.tensorrt import trt_convert
        from tensorflow.python.compiler.tensorrt.trt_convert import _pywrap_py_utils

        return bool(_pywrap_py_utils.is_tensorrt_enabled()) and trt_convert is not None
    except (ImportError, AttributeError):
        return False


def has_nvidia_gpu() -> bool:
    """An NVIDIA driver and device are visible (nvidia-smi, or the device nodes)."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()


def import_tensorrt():
    """The tensorrt module, or a clear error saying what is missing and where to run."""
    try:
        import tensorrt
    except ImportError:
        raise KerasclsError(f"TensorRT export needs the tensorrt package: {INSTALL_HINT}") from None
    if not has_nvidia_gpu():
        raise KerasclsError(
            f"TensorRT export needs an NVIDIA GPU and none was found: {INSTALL_HINT}"
        )
    return tensorrt


def check_tensorrt_ready() -> None:
    """Fail early (before any converting) when neither TensorRT path can work here."""
    if tftrt_available() and has_nvidia_gpu():
        return
    import_tensorrt()


def build_engine(onnx_path: str | Path, path: str | Path, precision: str, input_size) -> Path:
    """Build a serialized TensorRT engine from an ONNX file (a QDQ file for "int8").

    Args:
        onnx_path: the float32 ONNX model, or for "int8" the QDQ INT8 model.
        path: the .engine file to write.
        precision: "float32", "fp16" or "int8".
        input_size: (height, width); the engine takes batches of 1 to MAX_BATCH.
    """
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    weak_typing = hasattr(trt.BuilderFlag, "FP16")  # TensorRT <= 10
    source = Path(onnx_path)
    tmpdir = Path(tempfile.mkdtemp(dir=Path(path).parent, prefix=".trt."))
    try:
        if precision == "fp16" and not weak_typing:
            source = _float16_onnx(source, tmpdir / "model_fp16.onnx")
        flags = 0 if weak_typing else 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(source.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise KerasclsError(f"TensorRT cannot parse {source.name}: {errors[:300]}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if weak_typing and precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        if weak_typing and precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # the Q/DQ nodes give the scales
        profile = builder.create_optimization_profile()
        h, w = int(input_size[0]), int(input_size[1])
        profile.set_shape(INPUT_NAME, (1, h, w, 3), (8, h, w, 3), (MAX_BATCH, h, w, 3))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise KerasclsError(f"TensorRT could not build a {precision} engine; see its log above")
        write_bytes_atomic(path, bytes(serialized))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return Path(path)


def convert_tftrt(savedmodel: str | Path, path: str | Path, precision: str, calibration) -> Path:
    """TF-TRT: convert a SavedModel folder into one with TensorRT segments."""
    from tensorflow.python.compiler.tensorrt import trt_convert as tftrt

    mode = {"float32": "FP32", "fp16": "FP16", "int8": "INT8"}[precision]
    converter = tftrt.TrtGraphConverterV2(
        input_saved_model_dir=str(savedmodel), precision_mode=mode, use_calibration=mode == "INT8"
    )
    if mode == "INT8":
        converter.convert(calibration_input_fn=lambda: ([batch[None]] for batch in calibration))
    else:
        converter.convert()
    with atomic_path(path) as tmp:
        converter.save(str(tmp))
    return Path(path)


def _float16_onnx(source: Path, target: Path) -> Path:
    """float16 weights and compute, float32 input/output (for strongly typed TensorRT 11)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))
    return target
