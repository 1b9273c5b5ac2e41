"""Runners: every export format gives the Keras model's probabilities through one API.

A tiny CNN learns three colour classes (red-, green- or blue-dominant noise), is exported
here with plain TensorFlow APIs (the exporter is tested on its own), and each runner's
output is compared with the Keras model's: float formats to 1e-4, INT8 by top-1 agreement.
Files that are missing, corrupt, of an unknown kind, or need TensorRT fail with one line.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerascls.errors import DataError, KerasclsError, ModelError
from kerascls.export.metadata import export_metadata, write_metadata
from kerascls.export.runners import load_runner
from kerascls.models import create_model

SIZE = 16
CLASSES = ["red", "green", "blue"]


def colour_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 16, 16, 3) noise with channel `label` lifted by 130-160, and the labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.integers(0, 100, (n, SIZE, SIZE, 3))
    images[np.arange(n), :, :, labels] += rng.integers(130, 156, (n, 1, 1))
    return images.astype(np.uint8), labels


def train_tiny_model(epochs: int = 3):
    """A small CNN that gets the colour task right (>95% on fresh images)."""
    import keras

    keras.utils.set_random_seed(0)
    model = create_model(
        "cnn", 3, (SIZE, SIZE, 3), filters=(8, 16), convs_per_stage=1, mean=96.0, std=60.0
    )
    model.compile(keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    images, labels = colour_images(240, seed=0)
    model.fit(images.astype("float32"), labels, batch_size=32, epochs=epochs, verbose=0)
    return model


def _tflite(model, path: Path, *, quantize: str | None = None, batch1: bool = False) -> Path:
    """Convert with TFLiteConverter: float, "int8" (int8 io), "int8_float_io", "fp16",
    "dynamic"; batch1 fixes the batch dimension at 1."""
    if batch1:
        fn = tf.function(lambda x: model(x, training=False))
        concrete = fn.get_concrete_function(tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize in ("int8", "int8_float_io"):
        calibration = colour_images(60, seed=5)[0].astype("float32")
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if quantize == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def export_all(model, folder: Path) -> dict[str, Path]:
    """Every format a runner reads, written with plain TF / tf2onnx APIs into `folder`."""
    import tf2onnx

    folder.mkdir(parents=True, exist_ok=True)
    files = {"keras": folder / "model.keras"}
    model.save(files["keras"])
    files["savedmodel"] = folder / "saved_model"
    tf.saved_model.save(model, str(files["savedmodel"]))
    files["keras_export"] = folder / "keras_export"
    model.export(str(files["keras_export"]), format="tf_saved_model", verbose=False)
    files["tflite"] = _tflite(model, folder / "model_float32.tflite")
    files["tflite_batch1"] = _tflite(model, folder / "model_batch1.tflite", batch1=True)
    files["tflite_fp16"] = _tflite(model, folder / "model_fp16.tflite", quantize="fp16")
    files["tflite_dynamic"] = _tflite(model, folder / "model_dynamic.tflite", quantize="dynamic")
    files["tflite_int8"] = _tflite(model, folder / "model_int8.tflite", quantize="int8")
    files["tflite_int8_float_io"] = _tflite(
        model, folder / "model_int8_fio.tflite", quantize="int8_float_io"
    )
    files["onnx"] = folder / "model.onnx"
    signature = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name="image"),)
    tf2onnx.convert.from_keras(model, input_signature=signature, output_path=str(files["onnx"]))
    return files


@pytest.fixture(scope="module")
def model():
    return train_tiny_model()


@pytest.fixture(scope="module")
def files(model, tmp_path_factory):
    return export_all(model, tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def test_images():
    images, labels = colour_images(70, seed=1)  # 70: one full batch of 64 and a short one
    return images.astype(np.float32), labels


@pytest.fixture(scope="module")
def expected(model, test_images):
    return np.asarray(model(test_images[0], training=False))


def test_the_model_learnt_the_task(expected, test_images):
    assert (expected.argmax(axis=1) == test_images[1]).mean() > 0.95


FLOAT_FILES = ["keras", "savedmodel", "keras_export", "tflite", "tflite_batch1", "onnx"]


@pytest.mark.parametrize("name", FLOAT_FILES)
def test_float_runners_match_keras(name, files, test_images, expected):
    runner = load_runner(files[name], threads=2)
    images = test_images[0]
    assert runner.input_size == (SIZE, SIZE) and runner.num_classes == 3
    assert runner.precision == "float32" and runner.class_names is None
    batched = runner.predict(images, batch_size=64)
    assert batched.shape == (70, 3) and batched.dtype == np.float32
    assert np.abs(batched - expected).max() < 1e-4
    one = runner.predict_one(images[3])
    assert one.shape == (3,) and np.abs(one - expected[3]).max() < 1e-4
    # uint8 pixels are the same 0-255 values: same answers
    assert np.abs(runner.predict(images.astype(np.uint8)[:5]) - expected[:5]).max() < 1e-4


@pytest.mark.parametrize(
    ("name", "precision"),
    [
        ("tflite_int8", "int8"),
        ("tflite_int8_float_io", "int8"),
        ("tflite_dynamic", "dynamic"),
        ("tflite_fp16", "fp16"),
    ],
)
def test_quantized_tflite_agrees_with_keras(name, precision, files, test_images, expected):
    runner = load_runner(files[name])
    assert runner.precision == precision
    probabilities = runner.predict(test_images[0])
    assert probabilities.dtype == np.float32 and probabilities.shape == (70, 3)
    agreement = (probabilities.argmax(axis=1) == expected.argmax(axis=1)).mean()
    assert agreement >= 0.95
    # dequantized probabilities still look like probabilities
    assert np.all(probabilities >= 0) and np.allclose(probabilities.sum(axis=1), 1, atol=0.02)
    np.testing.assert_allclose(runner.predict_one(test_images[0][0]), probabilities[0], atol=1e-6)


def test_int8_input_is_quantized_with_the_file_scale(files, test_images):
    """Feeding the int8 file by hand with its own scale/zero point gives what the runner
    gives: the runner neither skips nor doubles the quantization."""
    from ai_edge_litert.interpreter import Interpreter

    runner = load_runner(files["tflite_int8"])
    interpreter = Interpreter(model_path=str(files["tflite_int8"]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    image = test_images[0][:1]
    q = np.clip(np.round(image / scale + zero), -128, 127).astype(np.int8)
    interpreter.set_tensor(inp["index"], q)
    interpreter.invoke()
    out_scale, out_zero = out["quantization"]
    manual = (interpreter.get_tensor(out["index"]).astype(np.float32) - out_zero) * out_scale
    np.testing.assert_allclose(runner.predict_one(image[0]), manual[0], atol=1e-6)


def test_tflite_batch1_path_reuses_its_interpreter(files, test_images):
    runner = load_runner(files["tflite"])
    runner.predict_one(test_images[0][0])
    interpreter = runner._interpreters[1]
    runner.predict(test_images[0], batch_size=64)  # batch sizes 64 and 6 get their own
    runner.predict_one(test_images[0][1])
    assert runner._interpreters[1] is interpreter
    assert sorted(runner._interpreters) == [1, 6, 64]


def test_metadata_gives_class_names_and_precision(files, tmp_path, test_images, expected):
    target = tmp_path / "model.onnx"
    target.write_bytes(files["onnx"].read_bytes())
    write_metadata(target, export_metadata(CLASSES, (SIZE, SIZE), fmt="onnx", precision="fp16"))
    runner = load_runner(target)
    assert runner.class_names == CLASSES and runner.precision == "fp16"
    assert runner.format == "onnx"
    assert np.abs(runner.predict(test_images[0][:4]) - expected[:4]).max() < 1e-4


def test_metadata_of_another_model_is_an_error(files, tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(files["tflite"].read_bytes())
    write_metadata(target, export_metadata(["a", "b"], (SIZE, SIZE), fmt="tflite"))
    with pytest.raises(ModelError, match="predicts 3 classes but its metadata names 2"):
        load_runner(target)


def test_wrong_image_shape_is_a_clear_error(files):
    runner = load_runner(files["onnx"])
    with pytest.raises(DataError, match=r"\(N, 16, 16, 3\).*got \(2, 32, 32, 3\)"):
        runner.predict(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(DataError, match=r"\(16, 16, 3\)"):
        runner.predict_one(np.zeros((1, 16, 16, 3), np.float32))


def test_empty_batch_gives_empty_probabilities(files):
    assert load_runner(files["tflite"]).predict(np.zeros((0, SIZE, SIZE, 3))).shape == (0, 3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.tflite", None, "does not exist"),
        ("notes.tflite", "not a model\n", "cannot load .*notes.tflite as a TFLite model"),
        ("notes.onnx", "not a model\n", "cannot load .*notes.onnx as an ONNX model"),
        ("notes.keras", "not a model\n", "cannot load .*notes.keras"),
        ("model.pt", "weights\n", "unknown model format; expected a .keras, .tflite"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(KerasclsError, match=message) as info:
        load_runner(path)
    assert "\n" not in str(info.value)


def test_folder_without_saved_model_is_an_error(tmp_path):
    with pytest.raises(ModelError, match="is not a SavedModel"):
        load_runner(tmp_path)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here"
)
def test_engine_without_tensorrt_says_what_to_install(tmp_path):
    path = tmp_path / "model.engine"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(KerasclsError, match=r"pip install -e \.\[tensorrt\]"):
        load_runner(path)
