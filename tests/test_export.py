"""kerascls-export end to end on a small trained run: every CPU format is exported,
verified against Keras, described by a sidecar and a manifest, and predicted with."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import copy_run

from kerascls.cli.export import main as export_main
from kerascls.errors import KerasclsError
from kerascls.export import ExportOptions, export_model, plan_exports
from kerascls.export.exporter import _Builder
from kerascls.export.formats import FORMATS, PRECISIONS, output_name
from kerascls.export.metadata import read_metadata
from kerascls.export.runners import load_runner, runner_class
from kerascls.train import load_run

SIZE = 16
CLASSES = ("blue", "green", "red")  # sorted, as folder names are


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory):
    """A copy of the shared tiny run (tests/shared_fixtures.py): the exports go into its folder."""
    return copy_run(tiny_run, tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def manifest(run):
    plan = plan_exports(["savedmodel", "tflite", "onnx"], ["float32", "fp16", "dynamic", "int8"])
    return export_model(run, plan, options=ExportOptions(calibration_images=30, max_drop=5.0))


def test_the_plan_gives_each_format_the_precisions_it_supports():
    plan = plan_exports(["savedmodel", "tflite", "onnx"], ["fp16", "int8"])
    assert plan == [
        ("savedmodel", "float32"),
        ("tflite", "fp16"),
        ("tflite", "int8"),
        ("onnx", "int8"),
    ]
    with pytest.raises(KerasclsError, match="choose at least one format"):
        plan_exports([], ["int8"])


def test_the_formats_table_names_every_output_writer_and_runner(tmp_path):
    # The names users' scripts rely on: the table is now the only place that spells them.
    names = {(f, p): output_name(f, p) for f, spec in FORMATS.items() for p in spec.precisions}
    assert names == {
        ("savedmodel", "float32"): "saved_model",
        ("tflite", "float32"): "model_float32.tflite",
        ("tflite", "fp16"): "model_fp16.tflite",
        ("tflite", "dynamic"): "model_dynamic.tflite",
        ("tflite", "int8"): "model_int8.tflite",
        ("onnx", "float32"): "model.onnx",
        ("onnx", "int8"): "model_int8.onnx",
        ("tensorrt", "float32"): "model_float32.engine",
        ("tensorrt", "fp16"): "model_fp16.engine",
        ("tensorrt", "int8"): "model_int8.engine",
        ("jetson", "float32"): "jetson",
        ("jetson", "fp16"): "jetson_fp16",
        ("jetson", "int8"): "jetson_int8",
    }
    assert output_name("tensorrt", "fp16", variant="tftrt") == "tftrt_fp16"
    for spec in FORMATS.values():
        assert callable(getattr(_Builder, spec.writer)), spec.name
        assert set(spec.precisions) <= set(PRECISIONS) and set(spec.quantized) <= set(
            spec.precisions
        )
    # What each format writes is read by the runner of its row (a TF-TRT folder is a
    # SavedModel); .keras files, no export format, still load.
    for name, kind in [
        ("best.keras", "keras"),
        ("model_int8.tflite", "tflite"),
        ("model.onnx", "onnx"),
        ("model_fp16.engine", "tensorrt"),
        ("model_fp16.PLAN", "tensorrt"),
    ]:
        (tmp_path / name).write_bytes(b"")
        assert runner_class(tmp_path / name).format == kind, name
    for folder in ("saved_model", "tftrt_int8"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "saved_model.pb").write_bytes(b"")
        assert runner_class(tmp_path / folder).format == "savedmodel", folder


def test_export_help_lists_the_table_without_importing_tensorflow():
    code = (
        "import sys\nfrom kerascls.cli.export import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in [*FORMATS, *PRECISIONS]:
        assert f"--{name}" in result.stdout
    assert FORMATS["jetson"].description in " ".join(result.stdout.split())


def test_every_cpu_format_exports_and_matches_keras(run, manifest):
    entries = {(e["format"], e["precision"]): e for e in manifest.entries}
    assert set(entries) == {
        ("savedmodel", "float32"),
        ("tflite", "float32"),
        ("tflite", "fp16"),
        ("tflite", "dynamic"),
        ("tflite", "int8"),
        ("onnx", "float32"),
        ("onnx", "int8"),
    }
    assert manifest.keras["accuracy"] >= 0.9, "the tiny model should have learnt the colours"
    for (fmt, precision), entry in entries.items():
        assert entry["status"] == "passed", (fmt, precision, entry)
        checks = entry["checks"]
        assert checks["images"] == manifest.keras["images"] > 0
        if precision in ("float32",):
            assert checks["max_abs_diff"] < 1e-4, (fmt, checks)
        if precision == "fp16":
            assert checks["max_abs_diff"] < 1e-2
        assert checks["top1_agreement"] >= 0.95, (fmt, precision, checks)
        assert (run.path / entry["path"]).exists()
        assert entry["size_bytes"] > 0
    # INT8 stores one byte per weight where float32 takes four.
    ratio = entries["tflite", "int8"]["size_bytes"] / entries["tflite", "float32"]["size_bytes"]
    assert ratio < 0.8  # a tiny model: the graph itself is a good part of the file


def test_manifest_and_sidecars_describe_each_file(run, manifest):
    written = json.loads((run.path / "exports" / "manifest.json").read_text())
    assert len(written["exports"]) == len(manifest.entries)
    assert written["keras"]["accuracy"] == manifest.keras["accuracy"]
    for entry in manifest.entries:
        meta = read_metadata(run.path / entry["path"])
        assert meta["class_names"] == list(CLASSES)
        assert meta["input_size"] == [SIZE, SIZE]
        assert meta["precision"] == entry["precision"]
    int8 = read_metadata(run.path / "exports" / "model_int8.tflite")
    assert (int8["input_dtype"], int8["output_dtype"]) == ("int8", "int8")


def test_int8_tflite_takes_int8_and_predicts_like_keras(run, manifest):
    from ai_edge_litert.interpreter import Interpreter

    path = run.path / "exports" / "model_int8.tflite"
    interpreter = Interpreter(str(path))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    runner = load_runner(path)
    keras_runner = load_runner(run.checkpoint("best"))
    images = np.stack(
        [np.full((SIZE, SIZE, 3), 40.0, np.float32) + np.eye(3)[c] * 200 for c in (2, 1, 0)]
    )
    assert runner.predict(images).argmax(1).tolist() == [0, 1, 2]  # blue, green, red
    np.testing.assert_allclose(runner.predict(images), keras_runner.predict(images), atol=0.05)


def test_cli_tflite_int8_with_no_arguments_uses_the_newest_run(run, tmp_path, capsys):
    logdir = run.path.parent.parent
    code = export_main(["--tflite", "--int8", "--logdir", str(logdir), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "tflite" in out and "passed" in out
    assert (tmp_path / "model_int8.tflite").exists()
    assert (tmp_path / "model_int8.tflite.json").exists()


def test_cli_uint8_io_and_a_failing_drop_exit_with_1(run, tmp_path, capsys):
    logdir = str(run.path.parent.parent)
    code = export_main(
        ["--tflite", "--int8", "--io", "uint8", "--logdir", logdir, "--out", str(tmp_path)]
    )
    assert code == 0
    assert read_metadata(tmp_path / "model_int8.tflite")["input_dtype"] == "uint8"
    # a negative allowance cannot be met: the check must fail and say why
    code = export_main(
        ["--tflite", "--int8", "--max-drop", "-100", "--logdir", logdir, "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "exceeds --max-drop" in out


def test_tensorrt_without_a_gpu_is_a_clear_error_and_the_rest_still_exports(run, tmp_path, capsys):
    from kerascls.export.tensorrt import has_nvidia_gpu

    if has_nvidia_gpu():
        pytest.skip("a GPU is present: the engine itself is tested in the gpu tests")
    logdir = str(run.path.parent.parent)
    code = export_main(["--tensorrt", "--onnx", "--logdir", logdir, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 2
    assert "tensorrt float32: TensorRT export needs" in out
    assert (tmp_path / "model.onnx").exists(), "ONNX still exports"
    written = json.loads((tmp_path / "manifest.json").read_text())
    statuses = {e["format"]: e["status"] for e in written["exports"]}
    assert statuses == {"onnx": "passed", "tensorrt": "error"}


def test_jetson_bundle_has_onnx_and_a_trtexec_script(run, tmp_path):
    logdir = str(run.path.parent.parent)
    code = export_main(["--jetson", "--fp16", "--logdir", logdir, "--out", str(tmp_path)])
    assert code == 0
    bundle = tmp_path / "jetson_fp16"
    script = (bundle / "build_engine.sh").read_text()
    assert "--fp16" in script and "--stronglyTyped" in script
    assert f"image:1x{SIZE}x{SIZE}x3" in script
    assert (bundle / "model.onnx").exists() and (bundle / "model_fp16.onnx").exists()
    assert read_metadata(bundle)["class_names"] == list(CLASSES)
    result = subprocess.run(["bash", "-n", str(bundle / "build_engine.sh")], check=False)
    assert result.returncode == 0, "the script parses"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--int8"], "choose at least one format"),
        (["--tflite", "--run", "/nonexistent/run"], "is not a run folder"),
        (["--tflite", "--model", "/nonexistent.keras"], "does not exist"),
        (["--tflite", "--calibration-images", "0"], "at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run, args, message, capsys):
    # in this process: the console script is `main` (its own process is tested by the
    # export of a run through `python -m kerascls.cli.export` above)
    assert export_main([*args, "--logdir", str(run.path.parent.parent)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_no_runs_at_all_says_what_to_do(tmp_path, capsys):
    assert export_main(["--tflite", "--logdir", str(tmp_path)]) == 2
    assert "no training runs" in capsys.readouterr().err


def test_load_run_finds_the_tiny_run(run):
    assert load_run(run.path).class_names == list(CLASSES)


def test_a_layer_without_an_int8_kernel_is_a_clear_error(tmp_path):
    import keras

    from kerascls.export.tflite import convert_tflite

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(keras.ops.erf, name="erf_gate")(x)  # Erf: no TFLite built-in
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    calibration = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype(np.float32)
    with pytest.raises(KerasclsError, match="TFLite int8 conversion failed") as err:
        convert_tflite(model, "int8", calibration)
    message = str(err.value)
    assert "\n" not in message and len(message) < 300
    assert "operation Erf (layer erf_gate) has no TFLite built-in kernel" in message


@pytest.mark.gpu
def test_tensorrt_engine_matches_keras(run, tmp_path):
    pytest.importorskip("tensorrt")
    from kerascls.export.tensorrt import has_nvidia_gpu

    if not has_nvidia_gpu():
        pytest.skip("no NVIDIA GPU")
    plan = plan_exports(["tensorrt"], ["float32", "fp16", "int8"])
    manifest = export_model(run, plan, out_dir=tmp_path, options=ExportOptions(max_drop=5.0))
    for entry in manifest.entries:
        assert entry["status"] == "passed", entry
        if entry["precision"] == "float32":
            assert entry["checks"]["max_abs_diff"] < 1e-3


def test_the_default_models_exact_gelu_exports_to_onnx_and_runs(tmp_path):
    # The "airbench" model (the fast recipe's, the example's default) uses the exact GELU,
    # which TensorFlow traces to Erfc: tf2onnx left it as an op no ONNX Runtime knows.
    import onnxruntime as ort

    from kerascls.export.onnx import INPUT_NAME, export_onnx
    from kerascls.models import create_model

    model = create_model("airbench", 3, (16, 16, 3), widths=(8, 16, 16))
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    path = export_onnx(model, tmp_path / "airbench.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {INPUT_NAME: images})
    np.testing.assert_allclose(onnx_out, np.asarray(model(images)), atol=2e-5)
    ops = {node.op_type for node in __import__("onnx").load(str(path)).graph.node}
    assert "Erfc" not in ops and "Erf" in ops
