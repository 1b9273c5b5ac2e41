"""kerascls-predict gives, file by file, the run's own evaluation of the same files.

The bug this guards: on a 2-class folder of real photos resized to 64x64, a run's
evaluation scored 96.50% on 801 test images and kerascls-predict 96.25% on the same files
with the same best.keras, because predict decoded the JPEGs with OpenCV and training with
tf.io. Now both read a file through `kerascls.data.read_image`.

Here: a folder of real photos (random crops of scikit-image's sample photos, JPEGs of
mixed sizes and qualities, a few grey; train/ and test/), a tiny run on it, then
kerascls-predict on test/ as a user runs it, with the run's best.keras. Its classes and
probabilities must be the evaluation's, file by file, and its accuracy the one the run
recorded and printed. The last test checks that this comparison can fail: OpenCV's pixels,
as predict used to read them, give other probabilities.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from kerascls.cli.predict import main as predict_main
from kerascls.data import make_pipeline, read_image
from kerascls.data.decode import resize_uint8
from kerascls.evaluate import evaluate_predictions, predict_split
from kerascls.export.runners import load_runner
from kerascls.train import Recipe, fit

IMAGE_SIZE = (32, 32)  # every crop is resized: most down (antialiased), some up
SOURCES = {"cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}  # class: sample photo
PER_CLASS = {"train": 20, "test": 10}


def write_photo_folder(root: Path, seed: int = 0) -> Path:
    """root/{train,test}/<class>/*.jpg: crops of 24 to 160 pixels a side (not square) of one
    sample photo a class, saved at JPEG quality 70-95; every fifth one grey."""
    rng = np.random.default_rng(seed)
    for name, sample in SOURCES.items():
        photo = getattr(skimage.data, sample)()
        height, width = photo.shape[:2]
        for split, count in PER_CLASS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                h, w = (int(s) for s in rng.integers(24, 161, size=2))
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                crop = Image.fromarray(photo[top : top + h, left : left + w])
                if i % 5 == 4:
                    crop = crop.convert("L")
                crop.save(folder / f"{name}_{i:02d}.jpg", quality=int(rng.integers(70, 96)))
    return root


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    """(run, what fit printed): a tiny CNN trained 3 epochs on the photo folder, evaluated
    by fit on its test/ split."""
    root = tmp_path_factory.mktemp("photos")
    write_photo_folder(root / "photos")
    recipe = Recipe.for_model(
        "cnn",
        early_stopping_patience=0,
        data_dir=str(root / "photos"),
        image_size=IMAGE_SIZE,
        validation_size=0.2,
        model_kwargs={"filters": (8, 16), "convs_per_stage": 1},
        epochs=3,
        batch_size=16,
        lr=0.05,
        augment="none",
        logdir=str(root / "logs"),
        run_name="photos",
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = fit(recipe, verbose=2)
    return run, printed.getvalue()


@pytest.fixture(scope="module")
def evaluation(photo_run):
    """The run's evaluation pipeline over its test split, as fit's final evaluation builds
    it: {resolved path: (label, pixels, probabilities)}, and the recomputed report."""
    run, _ = photo_run
    data = run.dataset()
    split = data.test
    pipeline = make_pipeline(split, 256, training=False, one_hot=False)
    pixels = np.concatenate([np.asarray(images) for images, _ in pipeline])
    labels, probabilities = predict_split(run.load_model(), pipeline)
    report = evaluate_predictions(labels, probabilities, data.class_names, split="test")
    by_file = {
        Path(path).resolve(): (int(label), image, p)
        for path, label, image, p in zip(split.paths, labels, pixels, probabilities, strict=True)
    }
    return by_file, report


@pytest.fixture(scope="module")
def predicted(photo_run, tmp_path_factory):
    """kerascls-predict on test/ with the run's best.keras, JSON with every class."""
    run, _ = photo_run
    out = tmp_path_factory.mktemp("predict") / "predictions.json"
    test_dir = Path(run.info["recipe"]["data_dir"]) / "test"
    argv = [str(test_dir), "--run", str(run.path), "--format", "json", "--top-k", "3"]
    assert predict_main([*argv, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_the_folder_is_real_photos_of_mixed_sizes(photo_run, evaluation):
    run, _ = photo_run
    by_file, _ = evaluation
    assert len(by_file) == 3 * PER_CLASS["test"]
    assert run.info["input_shape"] == [*IMAGE_SIZE, 3]
    sizes = {Image.open(path).size for path in by_file}
    assert len(sizes) > 20, "crops of many sizes, so predict and training both resize"


def test_the_pipeline_sees_read_images_pixels(evaluation):
    """Every test file: the pixels the evaluation ran on are read_image's, exactly."""
    by_file, _ = evaluation
    for path, (_, pixels, _) in by_file.items():
        assert np.array_equal(pixels, np.round(pixels)), path
        np.testing.assert_array_equal(read_image(path, IMAGE_SIZE), pixels.astype(np.uint8))


def test_predict_gives_the_evaluations_classes_and_probabilities(photo_run, evaluation, predicted):
    run, _ = photo_run
    by_file, _ = evaluation
    assert predicted["failed"] == [] and predicted["class_names"] == run.class_names
    assert {Path(p["path"]).resolve() for p in predicted["predictions"]} == set(by_file)
    for prediction in predicted["predictions"]:
        _, _, expected = by_file[Path(prediction["path"]).resolve()]
        got = np.zeros(len(run.class_names))
        for entry in prediction["top_k"]:
            got[entry["index"]] = entry["probability"]  # rounded to 6 decimals by predict
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=prediction["path"])
        assert prediction["top_k"][0]["index"] == expected.argmax(), prediction["path"]


def test_predict_csv_top1_is_the_evaluations(photo_run, evaluation, capsys):
    run, _ = photo_run
    by_file, _ = evaluation
    test_dir = Path(run.info["recipe"]["data_dir"]) / "test"
    assert predict_main([str(test_dir), "--run", str(run.path), "--top-k", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "path,top1,p1" and len(rows) == 1 + len(by_file)
    for row in rows[1:]:
        path, top1, p1 = row.rsplit(",", 2)
        _, _, expected = by_file[Path(path).resolve()]
        assert top1 == run.class_names[expected.argmax()], path
        assert abs(float(p1) - expected.max()) < 1e-5, path


def test_predicts_accuracy_is_the_one_the_run_recorded_and_printed(
    photo_run, evaluation, predicted
):
    run, printed = photo_run
    _, report = evaluation
    correct = [
        p["top_k"][0]["class"] == Path(p["path"]).parent.name for p in predicted["predictions"]
    ]
    accuracy = float(np.mean(correct))
    written = json.loads((run.path / "report.json").read_text())
    assert written["split"] == "test" and written["num_examples"] == len(correct)
    assert accuracy == written["accuracy"] == run.info["metrics"]["test"]["accuracy"]
    assert accuracy == report.accuracy  # ...and the recomputed evaluation's
    shown = re.search(r"test: accuracy (\d\.\d{4})", printed)
    assert shown and shown.group(1) == f"{accuracy:.4f}", printed[-500:]


def _opencv_pixels(path: Path) -> np.ndarray:
    """A file as kerascls-predict read it before the fix: cv2.imdecode (EXIF orientation
    ignored), BGR to RGB, then the training pipeline's resize."""
    data = np.fromfile(str(path), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return np.asarray(resize_uint8(rgb, IMAGE_SIZE))


def test_opencvs_decode_would_have_failed_this_comparison(photo_run, evaluation):
    """The check above can fail: the old decoder's pixels differ from the pipeline's for
    some of these files, and so do the probabilities, by more than the 1e-5 allowed."""
    run, _ = photo_run
    by_file, _ = evaluation
    paths = sorted(by_file)
    opencv = np.stack([_opencv_pixels(path) for path in paths])
    pipeline = np.stack([by_file[path][1] for path in paths]).astype(np.uint8)
    differ = [not np.array_equal(a, b) for a, b in zip(opencv, pipeline, strict=True)]
    assert any(differ), "OpenCV decodes these JPEGs exactly as tf.io: the test proves nothing"
    runner = load_runner(run.checkpoint("best"))
    probabilities = runner.predict(opencv.astype(np.float32))
    expected = np.stack([by_file[path][2] for path in paths])
    assert np.abs(probabilities - expected).max() > 1e-5
