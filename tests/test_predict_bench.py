"""kerascls-predict and kerascls-bench on a real (tiny) run folder and its exports.

The run is a copy of the shared tiny run (tests/shared_fixtures.py: three colour classes learnt
from an image folder, so `run.dataset()` re-opens its 36 validation images); its exports
are written with plain TF APIs (see test_runners.py) and listed in exports/manifest.json
next to a TensorRT engine that cannot run here.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import copy_run
from test_runners import CLASSES, colour_images, export_all

from kerascls.cli.bench import main as bench_main
from kerascls.cli.predict import main as predict_main
from kerascls.export.bench import FIELDS, benchmark_run, run_model_files, validation_data
from kerascls.export.metadata import export_metadata, write_metadata
from kerascls.export.runners import load_runner
from kerascls.train import Run
from kerascls.viz.images import load_image


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray, by_class: bool) -> None:
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        target = folder / CLASSES[label] if by_class else folder
        target.mkdir(parents=True, exist_ok=True)
        name = f"{CLASSES[label]}_{i:03d}.png"
        cv2.imwrite(str(target / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory) -> Run:
    run = copy_run(tiny_run, tmp_path_factory.mktemp("bench"))
    exports = run.path / "exports"
    export_all(run.load_model(), exports)
    (exports / "model.keras").unlink()  # best.keras is the baseline already
    (exports / "model.engine").write_bytes(b"\0" * 64)  # built on a GPU machine, say
    listed = ["model_float32.tflite", "model_int8.tflite", "model.onnx", "saved_model"]
    entries = [{"format": "x", "path": f"exports/{name}"} for name in [*listed, "model.engine"]]
    (exports / "broken.onnx").write_text("an export that failed half-way")
    entries.append({"format": "onnx", "path": "exports/broken.onnx", "status": "error"})
    (exports / "manifest.json").write_text(json.dumps({"exports": entries}))
    return run


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Twelve PNGs at 40x24 (the model takes 16x16: predict must resize) + their labels."""
    folder = tmp_path_factory.mktemp("photos")
    images, labels = colour_images(12, seed=7)
    big = np.stack(
        [cv2.resize(image, (24, 40), interpolation=cv2.INTER_NEAREST) for image in images]
    )
    write_pngs(folder, big, labels, by_class=False)
    return folder


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def truth(path: str) -> str:
    return Path(path).name.split("_")[0]


# -- kerascls-predict ----------------------------------------------------------------------


def test_predict_defaults_to_the_newest_runs_best_model(run, photos, capsys):
    logdir = run.path.parents[1]
    assert predict_main([str(photos), "--logdir", str(logdir)]) == 0
    rows = read_csv(capsys.readouterr().out)
    assert len(rows) == 12
    assert list(rows[0]) == ["path", "top1", "p1", "top2", "p2", "top3", "p3"]
    assert {row["top1"] for row in rows} <= set(CLASSES)  # the run's names, not class_0
    accuracy = np.mean([row["top1"] == truth(row["path"]) for row in rows])
    assert accuracy >= 0.9
    for row in rows:
        p = [float(row[f"p{i}"]) for i in (1, 2, 3)]
        assert p == sorted(p, reverse=True) and abs(sum(p) - 1) < 1e-4


def test_predict_probabilities_are_the_runners(run, photos, capsys):
    model = run.path / "exports" / "model_int8.tflite"
    assert predict_main([str(photos), "--model", str(model), "--top-k", "1"]) == 0
    rows = read_csv(capsys.readouterr().out)
    runner = load_runner(model)
    pixels = np.stack([load_image(row["path"], runner.input_size).pixels for row in rows])
    probabilities = runner.predict(pixels)
    names = run.class_names  # the file sits in the run's exports/: its names are the run's
    for row, p in zip(rows, probabilities, strict=True):
        assert row["top1"] == names[p.argmax()]
        assert abs(float(row["p1"]) - p.max()) < 1e-6
        assert "top2" not in row


def test_predict_json_with_sidecar_names(run, photos, tmp_path, capsys):
    model = tmp_path / "model.onnx"
    model.write_bytes((run.path / "exports" / "model.onnx").read_bytes())
    shouting = [name.upper() for name in run.class_names]
    write_metadata(model, export_metadata(shouting, (16, 16), fmt="onnx", precision="float32"))
    out = tmp_path / "out" / "predictions.json"
    argv = [str(photos), "--model", str(model), "--format", "json", "--top-k", "5"]
    assert predict_main([*argv, "--out", str(out)]) == 0
    assert f"wrote 12 predictions to {out}" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert set(document) == {
        "model", "format", "precision", "class_names", "predictions", "failed"
    }  # fmt: skip
    assert document["format"] == "onnx" and document["class_names"] == shouting
    assert document["failed"] == [] and len(document["predictions"]) == 12
    for prediction in document["predictions"]:
        top = prediction["top_k"]
        assert len(top) == 3  # --top-k 5 of three classes
        assert [t["class"] for t in top] == [shouting[t["index"]] for t in top]
        assert top[0]["class"] == truth(prediction["path"]).upper()
    assert not list(out.parent.glob(".*tmp"))


def test_predict_skips_unreadable_images_with_exit_status_1(run, photos, tmp_path, capsys, caplog):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for source in sorted(photos.iterdir())[:3]:
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "broken.png").write_text("not a png")
    with caplog.at_level(logging.WARNING):
        status = predict_main([str(folder), "--run", str(run.path)])
    assert status == 1
    rows = read_csv(capsys.readouterr().out)
    assert len(rows) == 3 and all("broken" not in row["path"] for row in rows)
    assert "broken.png" in caplog.text


def one_line_error(capsys, main, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "error" not in captured.out
    return lines[0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.onnx", None, "does not exist"),
        ("notes.tflite", "a text file\n", "cannot load .* as a TFLite model"),
        ("model.engine", "\0" * 64, r"pip install -e \.\[tensorrt\]"),
        ("model.pt", "weights", "unknown model format"),
    ],
)
def test_predict_bad_models_are_one_line_errors(photos, tmp_path, capsys, name, content, message):
    if name.endswith(".engine") and _has_tensorrt():
        pytest.skip("tensorrt is installed here")
    model = tmp_path / name
    if content is not None:
        model.write_text(content)
    line = one_line_error(capsys, predict_main, [str(photos), "--model", str(model)])
    assert re.search(message, line), line


def test_predict_missing_image_is_an_error(run, tmp_path, capsys):
    line = one_line_error(
        capsys, predict_main, [str(tmp_path / "nope.jpg"), "--run", str(run.path)]
    )
    assert "nope.jpg does not exist" in line


def test_predict_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom kerascls.cli.predict import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "from kerascls.cli.bench import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "kerascls-predict" in result.stdout and "kerascls-bench" in result.stdout


def _has_tensorrt() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None


# -- kerascls-bench ------------------------------------------------------------------------


def test_run_model_files_reads_the_manifest(run):
    files = [p.relative_to(run.path.resolve()).as_posix() for p in run_model_files(run)]
    assert files == [
        "best.keras",
        "exports/model_float32.tflite",
        "exports/model_int8.tflite",
        "exports/model.onnx",
        "exports/saved_model",
        "exports/model.engine",
    ]


def test_run_model_files_globs_exports_without_a_manifest(tmp_path):
    (tmp_path / "exports" / "sm").mkdir(parents=True)
    (tmp_path / "exports" / "sm" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "exports" / "empty_folder").mkdir()
    for name in ("best.keras", "exports/b.tflite", "exports/a.onnx", "exports/notes.txt"):
        (tmp_path / name).write_bytes(b"")
    files = run_model_files(Run(path=tmp_path, info={}))
    names = [p.relative_to(tmp_path.resolve()).as_posix() for p in files]
    assert names == ["best.keras", "exports/a.onnx", "exports/b.tflite", "exports/sm"]


@pytest.fixture(scope="module")
def bench_rows(run):
    return benchmark_run(run, repeats=20, warmup=3, threads=2)


def test_bench_rows_measure_every_runnable_model(run, bench_rows, caplog):
    assert [row["model"] for row in bench_rows] == [
        "best.keras",
        "exports/model_float32.tflite",
        "exports/model_int8.tflite",
        "exports/model.onnx",
        "exports/saved_model",
    ]  # the engine is skipped: no TensorRT here
    assert [row["format"] for row in bench_rows] == [
        "keras", "tflite", "tflite", "onnx", "savedmodel"
    ]  # fmt: skip
    assert bench_rows[2]["precision"] == "int8"
    for row in bench_rows:
        assert set(row) == set(FIELDS)
        assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"] < 1000
        assert row["throughput_ips"] > 0
        assert row["size_bytes"] > 1000
    assert bench_rows[0]["agreement"] == 1.0 and bench_rows[3]["agreement"] == 1.0
    assert bench_rows[2]["agreement"] >= 0.9


def test_bench_accuracy_is_the_fraction_right(run, bench_rows):
    images, labels = validation_data(run)
    assert len(labels) == bench_rows[0]["images"] == 36
    for row in bench_rows:
        predicted = load_runner(row["path"]).predict(images).argmax(axis=1)
        assert row["accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-12)
    assert bench_rows[0]["accuracy"] >= 0.9


def test_bench_size_of_a_savedmodel_is_its_folder(run, bench_rows):
    folder = run.path / "exports" / "saved_model"
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert bench_rows[4]["size_bytes"] == total
    assert (
        bench_rows[1]["size_bytes"]
        == (run.path / "exports" / "model_float32.tflite").stat().st_size
    )


def test_bench_cli_prints_a_table_and_writes_the_csv(run, capsys):
    assert bench_main(["--run", str(run.path), "--repeats", "5", "--limit", "20"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith(("model ", "best", "exports"))]
    assert len(table) == 6 and "p50 ms" in table[0]
    # aligned: each format cell starts under the "format" heading
    starts = {line.index("  tflite ") + 2 for line in table if "  tflite " in line}
    assert starts == {table[0].index("format")}
    target = run.path / "exports" / "benchmark.csv"
    rows = list(csv.DictReader(target.open()))
    assert rows[0]["model"] == "best.keras" and len(rows) == 5
    assert list(rows[0]) == list(FIELDS) and rows[0]["images"] == "20"
    assert not list(target.parent.glob(".*tmp"))


def test_bench_cli_explicit_files(run, tmp_path, capsys):
    target = tmp_path / "bench.csv"
    onnx = str(run.path / "exports" / "model.onnx")
    argv = [onnx, "--run", str(run.path), "--repeats", "3", "--csv", str(target)]
    assert bench_main(argv) == 0
    rows = list(csv.DictReader(target.open()))
    assert [row["format"] for row in rows] == ["onnx"] and rows[0]["agreement"] == "1.0"
    capsys.readouterr()
    engine = str(run.path / "exports" / "model.engine")
    if not _has_tensorrt():
        line = one_line_error(capsys, bench_main, [engine, "--run", str(run.path)])
        assert "tensorrt" in line
