"""Explanations on a model whose evidence is known: Grad-CAM, Grad-CAM++, saliency and
occlusion must point at the patch that decides the class; nested backbones and Sequential
models give the same maps as the flat model; and every kerascls-viz subcommand writes a
PNG, or fails with one line.

The data: 32x32 noise images, four classes, each with a bright square somewhere inside its
own quadrant (class 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right). The squares
also differ in colour: with one colour for all, a CNN that pools globally can only tell
the quadrants apart by how far the square is from the image border, and it gathers that
evidence all over the image (measured: 100% accuracy, under a quarter of the Grad-CAM
heat in the square's quadrant), so no explanation method could point at the square. With
colours the evidence is the square itself; because the quadrant differs between classes,
a heatmap that ignores the image, is transposed or flipped, fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from kerascls.cli.viz import METHODS as CLI_METHODS
from kerascls.cli.viz import main
from kerascls.errors import DataError, KerasclsError, ModelError
from kerascls.models import create_model, find_last_conv_layer
from kerascls.train import Recipe, fit
from kerascls.viz import (
    METHODS,
    confusion_matrix,
    explain,
    feature_maps,
    gradcam,
    make_explainer,
    probe_model,
)
from kerascls.viz.featuremaps import default_feature_layers
from kerascls.viz.graph import SCORE_LOG_PROBABILITY, SCORE_LOGITS, SCORE_OUTPUT, score_kind
from kerascls.viz.tensorboard import TensorBoardImages

SIZE = 32
PATCH = 6
CLASSES = ("q0_top_left", "q1_top_right", "q2_bottom_left", "q3_bottom_right")
COLOURS = np.array([[255, 40, 40], [40, 255, 40], [40, 40, 255], [255, 255, 40]], np.uint8)
REPO = Path(__file__).resolve().parents[1]


def quadrant_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n noise images with class k's coloured square at a random place in quadrant k."""
    rng = np.random.default_rng(seed)
    half = SIZE // 2
    images = rng.integers(0, 100, (n, SIZE, SIZE, 3)).astype(np.uint8)
    labels = np.arange(n) % 4
    for image, label in zip(images, labels, strict=True):
        top = (label // 2) * half + rng.integers(0, half - PATCH + 1)
        left = (label % 2) * half + rng.integers(0, half - PATCH + 1)
        image[top : top + PATCH, left : left + PATCH] = COLOURS[label]
    return images, labels


def quadrant_share(heatmaps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image, the fraction of its heat inside the quadrant of its class."""
    half = heatmaps.shape[1] // 2
    shares = []
    for heat, label in zip(heatmaps, labels, strict=True):
        top, left = (label // 2) * half, (label % 2) * half
        shares.append(heat[top : top + half, left : left + half].sum() / max(heat.sum(), 1e-9))
    return np.array(shares)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run trained on an image folder of quadrant images (so run.dataset() re-opens it),
    with the TensorBoard images callback on."""
    root = tmp_path_factory.mktemp("quadrants")
    images, labels = quadrant_images(400, seed=0)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / "data" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    recipe = Recipe.for_model(
        "cnn",
        early_stopping_patience=0,
        data_dir=str(root / "data"),
        validation_size=0.2,
        batch_size=32,
        augment="none",
        model_kwargs={"filters": (8, 16), "convs_per_stage": 1},
        epochs=4,
        optimizer="adam",
        lr=0.01,
        schedule="constant",
        weight_decay=0.0,
        label_smoothing=0.0,
        logdir=str(root / "logs"),
        run_name="quadrants",
    )
    return fit(recipe, callbacks=[TensorBoardImages()], verbose=0)


@pytest.fixture(scope="module")
def model(trained_run):
    return trained_run.load_model()


@pytest.fixture(scope="module")
def test_images():
    return quadrant_images(100, seed=1)


def test_the_model_learnt_the_task(model, test_images):
    images, labels = test_images
    accuracy = (np.asarray(model(images.astype("float32"))).argmax(axis=1) == labels).mean()
    assert accuracy > 0.9, "the explanation tests below assume a model that learnt the task"


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "occlusion"])
def test_the_heat_falls_in_the_quadrant_of_the_class(model, test_images, method):
    images, labels = test_images
    explanation = explain(model, images, method=method)
    assert explanation.heatmaps.shape == (100, SIZE, SIZE)
    assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() <= 1
    share = quadrant_share(explanation.heatmaps, labels)
    # A quarter is what a map that ignores the image gets. Measured: about 0.8-0.9.
    assert share.mean() > 0.6, f"{method}: {share.mean():.2f} of the heat in the quadrant"
    for label in range(4):
        assert share[labels == label].mean() > 0.5, f"{method}, class {label}"


def test_the_hottest_saliency_pixels_are_in_the_quadrant_of_the_class(model, test_images):
    # Vanilla gradients are noisy: the background's pixels have gradients too, and only a
    # third of the total lands in the right quadrant. Their peaks are what people look at.
    images, labels = test_images
    heat = explain(model, images, method="saliency").heatmaps
    hottest = heat >= np.quantile(heat.reshape(len(heat), -1), 0.95, axis=1)[:, None, None]
    share = quadrant_share(hottest.astype(np.float32), labels)
    assert share.mean() > 0.4, f"{share.mean():.2f} of the top 5% pixels in the quadrant"


def test_explanations_report_the_models_probabilities(model, test_images):
    images, _ = test_images
    explanation = make_explainer(model, "gradcam")(images[:8])
    expected = np.asarray(model(images[:8].astype("float32")))
    np.testing.assert_allclose(explanation.probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(explanation.class_indices, expected.argmax(axis=1))
    assert explanation.layer == "stage2_act1"


def test_a_chosen_class_is_explained(model, test_images):
    images, _ = test_images
    explanation = explain(model, images[:3], class_index=2)
    assert explanation.class_indices.tolist() == [2, 2, 2]
    with pytest.raises(KerasclsError, match="out of range"):
        explain(model, images[:1], class_index=7)


def test_one_image_gives_one_map_and_other_sizes_are_resized(model, test_images):
    images, _ = test_images
    assert gradcam(model, images[0]).shape == (SIZE, SIZE)
    big = cv2.resize(images[0], (96, 80), interpolation=cv2.INTER_NEAREST)
    assert gradcam(model, big).shape == (SIZE, SIZE)


def _nested_copies(flat):
    """The flat model regrouped as a transfer model is: its conv part one nested functional
    layer named "backbone" (sharing the flat model's layers), then a new head with the same
    weights; once as a functional model and once as a Sequential one."""
    last = find_last_conv_layer(flat)
    backbone = keras.Model(flat.inputs[0], flat.get_layer(last).output, name="backbone")

    def head():
        dense = keras.layers.Dense(len(CLASSES), name="head_dense")
        dense.build((None, flat.get_layer("head_dense").kernel.shape[0]))
        dense.set_weights(flat.get_layer("head_dense").get_weights())
        pool = keras.layers.GlobalAveragePooling2D(name="head_pool")
        return [pool, dense, keras.layers.Activation("softmax", name="predictions")]

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = backbone(inputs)
    for layer in head():
        x = layer(x)
    functional = keras.Model(inputs, x, name="nested_functional")
    sequential = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), backbone, *head()], name="nested_sequential"
    )
    return last, functional, sequential


def test_nested_backbones_give_the_flat_models_heatmaps(model, test_images):
    images, _ = test_images
    last, functional, sequential = _nested_copies(model)
    for method in ("gradcam", "gradcam++"):
        expected = explain(model, images[:6], method=method).heatmaps
        for nested in (functional, sequential):
            assert find_last_conv_layer(nested) == f"backbone/{last}"
            got = explain(nested, images[:6], method=method)
            assert got.layer == f"backbone/{last}"
            np.testing.assert_allclose(got.heatmaps, expected, atol=1e-4)
    # an earlier layer inside the backbone, by path
    inner = explain(functional, images[:6], layer="backbone/stage1_act1").heatmaps
    np.testing.assert_allclose(
        inner, explain(model, images[:6], layer="stage1_act1").heatmaps, atol=1e-4
    )


def test_transfer_models_are_explained_through_their_backbone():
    model = create_model("transfer_mobilenetv3small", 3, (32, 32, 3), weights=None)
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3))
    explanation = explain(model, image)
    assert explanation.layer.startswith("backbone/")
    assert explanation.heatmaps.shape == (1, 32, 32)
    np.testing.assert_allclose(
        explanation.probabilities, np.asarray(model(image[None].astype("float32"))), atol=1e-5
    )
    maps = feature_maps(model, image)
    assert maps and all(name.startswith("backbone/") for name in maps)


def test_a_users_sequential_model_without_logits_layer():
    softmax = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    logits = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    assert score_kind(softmax) == SCORE_LOG_PROBABILITY
    assert score_kind(logits) == SCORE_OUTPUT
    assert score_kind(create_model("cnn", 3, (16, 16, 3), filters=(8,))) == SCORE_LOGITS
    image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3))
    for model in (softmax, logits):
        for method in METHODS:
            assert explain(model, image, method=method).heatmaps.shape == (1, 16, 16)
    # the log-probability score is log(softmax): check the probe against the model
    scores, probabilities = probe_model(softmax)(image[None].astype("float32"))
    np.testing.assert_allclose(np.exp(np.asarray(scores)), np.asarray(probabilities), rtol=1e-5)


def test_unknown_or_flat_layers_list_the_conv_layers(model):
    with pytest.raises(ModelError, match=r"no layer 'nope'.*stage1_conv1.*stage2_act1"):
        make_explainer(model, "gradcam", layer="nope")
    with pytest.raises(ModelError, match=r"no 4-D.*stage2_act1"):
        make_explainer(model, "gradcam", layer="head_dense")
    with pytest.raises(KerasclsError, match="takes no layer"):
        make_explainer(model, "saliency", layer="stage1_conv1")
    with pytest.raises(KerasclsError, match="unknown method"):
        make_explainer(model, "lime")


def test_feature_maps_default_to_one_layer_per_stage(model, test_images):
    assert default_feature_layers(model) == ["stage1_act1", "stage2_act1"]
    maps = feature_maps(model, test_images[0][0])
    assert maps["stage1_act1"].shape == (32, 32, 8)
    assert maps["stage2_act1"].shape == (16, 16, 16)


def test_the_cli_knows_every_method():
    from kerascls.viz.methods import TRANSFORMER_METHODS

    assert tuple(CLI_METHODS) == tuple(METHODS) + tuple(TRANSFORMER_METHODS)


def test_attention_rollout_from_the_command_line(tmp_path):
    # issue 22: a ViT's attention rollout is a kerascls-viz method like Grad-CAM
    from PIL import Image

    from kerascls.cli.viz import main
    from kerascls.models import create_model

    model = create_model("vit_tiny", 3, (16, 16, 3), dim=32, heads=2, mlp_dim=64, depth=1)
    model.save(tmp_path / "vit.keras")
    pixels = np.random.default_rng(0).integers(0, 256, (40, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    args = ["gradcam", str(tmp_path / "photo.png"), "--model", str(tmp_path / "vit.keras")]
    assert main([*args, "--method", "attention_rollout", "--out", str(tmp_path / "out")]) == 0
    written = Image.open(tmp_path / "out" / "photo_attention_rollout.png")
    assert written.size == (24, 40)  # drawn over the image at its own resolution


# --- the command line -------------------------------------------------------------------


def _png_ok(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0, path
    image = cv2.imread(str(path))
    assert image is not None and image.size > 0, f"{path} does not decode"


def _write_image(path: Path, size: tuple[int, int] = (48, 64), seed: int = 0) -> Path:
    images, _ = quadrant_images(1, seed)
    image = cv2.resize(images[0], (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.mark.parametrize("method", METHODS)
def test_cli_gradcam_writes_an_overlay_at_the_original_size(trained_run, tmp_path, capsys, method):
    image = _write_image(tmp_path / "photo.jpg", size=(48, 64))
    out = tmp_path / "out"
    assert (
        main(
            [
                "gradcam",
                str(image),
                "--method",
                method,
                "--run",
                str(trained_run.path),
                "--out",
                str(out),
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    written = out / f"photo_{method.replace('++', 'pp')}.png"
    _png_ok(written)
    assert cv2.imread(str(written)).shape == (48, 64, 3)  # the photo's size, not 32x32
    printed = capsys.readouterr().out
    assert str(written) in printed
    assert any(name in printed for name in CLASSES)


def test_cli_gradcam_defaults_to_the_newest_run_and_its_viz_folder(trained_run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(2):
        _write_image(folder / f"p{seed}.png", seed=seed)
    logdir = trained_run.path.parent.parent
    assert main(["gradcam", str(folder), "--logdir", str(logdir), "--class", CLASSES[3]]) == 0
    for seed in range(2):
        _png_ok(trained_run.path / "viz" / f"p{seed}_gradcam.png")
    assert f"gradcam of {CLASSES[3]}" in capsys.readouterr().out


def test_cli_gradcam_with_a_model_file_numbers_the_classes(trained_run, tmp_path, capsys):
    image = _write_image(tmp_path / "photo.png")
    model_file = str(trained_run.path / "best.keras")
    out = tmp_path / "out"
    assert main(["gradcam", str(image), "--model", model_file, "--out", str(out)]) == 0
    _png_ok(out / "photo_gradcam.png")
    printed = capsys.readouterr().out
    assert "gradcam of " in printed and not any(name in printed for name in CLASSES)


def test_cli_featuremaps_writes_one_grid_per_layer(trained_run, tmp_path):
    image = _write_image(tmp_path / "photo.png")
    out = tmp_path / "out"
    args = ["featuremaps", str(image), "--run", str(trained_run.path), "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "photo_features_stage1_act1.png",
        "photo_features_stage2_act1.png",
    ]
    for path in out.iterdir():
        _png_ok(path)
    assert main([*args, "--layer", "stage1_conv1", "--channels", "4"]) == 0
    _png_ok(out / "photo_features_stage1_conv1.png")


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("confusion", "confusion_matrix.png"),
        ("curves", "curves.png"),
        ("errors", "errors.png"),
        ("calibration", "calibration.png"),
    ],
)
def test_cli_run_plots(trained_run, tmp_path, capsys, command, name):
    assert main([command, "--run", str(trained_run.path), "--out", str(tmp_path)]) == 0
    _png_ok(tmp_path / name)
    if command == "calibration":
        assert "expected calibration error" in capsys.readouterr().out


def test_predictions_are_cached_and_match_the_report(trained_run, tmp_path):
    from kerascls.viz import run_predictions

    cache = trained_run.path / "predictions.npz"
    main(["errors", "--run", str(trained_run.path), "--out", str(tmp_path)])
    assert cache.is_file()
    written = cache.stat().st_mtime_ns
    main(["calibration", "--run", str(trained_run.path), "--out", str(tmp_path)])
    assert cache.stat().st_mtime_ns == written, "calibration must reuse the errors' predictions"
    assert not list(trained_run.path.glob(".tmp-*")), "no temporary files left behind"

    predictions = run_predictions(trained_run)
    ours = confusion_matrix(predictions.labels, predictions.predicted, len(CLASSES))
    sklearn = sk_confusion_matrix(predictions.labels, predictions.predicted, labels=range(4))
    np.testing.assert_array_equal(ours, sklearn)
    report = json.loads((trained_run.path / "report.json").read_text())
    assert report["split"] == "validation"
    np.testing.assert_array_equal(ours, report["confusion_matrix"])


def test_tensorboard_has_the_confusion_matrix_and_gradcam_each_epoch(trained_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    accumulator = EventAccumulator(str(trained_run.path / "images"), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["tensors"]
    assert {"confusion_matrix", "gradcam_validation"} <= set(tags)
    for tag in ("confusion_matrix", "gradcam_validation"):
        events = accumulator.Tensors(tag)
        assert [e.step for e in events] == [0, 1, 2, 3]
        width, height, png = make_ndarray(events[-1].tensor_proto)[:3]
        assert int(width) > 100 and int(height) > 100
        assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) is not None


# --- errors: exit status 2 and one line ---------------------------------------------------


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_cli_missing_image(trained_run, tmp_path, capsys):
    missing = tmp_path / "nope.jpg"
    err = _one_line_error(capsys, ["gradcam", str(missing), "--run", str(trained_run.path)])
    assert "does not exist" in err and "nope.jpg" in err
    with pytest.raises(DataError):
        from kerascls.viz import load_image

        load_image(missing)


def test_cli_unreadable_image(trained_run, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a picture" * 10)
    err = _one_line_error(
        capsys, ["gradcam", str(broken), "--run", str(trained_run.path), "--out", str(tmp_path)]
    )
    assert "cannot read" in err and "broken.jpg" in err


@pytest.mark.parametrize("command", ["gradcam", "featuremaps"])
def test_cli_unknown_layer_lists_the_conv_layers(trained_run, tmp_path, capsys, command):
    image = _write_image(tmp_path / "photo.png")
    err = _one_line_error(
        capsys,
        [
            command,
            str(image),
            "--run",
            str(trained_run.path),
            "--layer",
            "conv99",
            "--out",
            str(tmp_path),
        ],
    )
    assert "conv99" in err and "stage1_conv1" in err and "stage2_act1" in err


def test_cli_unknown_class(trained_run, tmp_path, capsys):
    image = _write_image(tmp_path / "photo.png")
    err = _one_line_error(
        capsys, ["gradcam", str(image), "--run", str(trained_run.path), "--class", "unicorn"]
    )
    assert "unicorn" in err and CLASSES[0] in err


def test_cli_unwritable_output_folder(trained_run, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = _one_line_error(
        capsys, ["curves", "--run", str(trained_run.path), "--out", str(blocker / "viz")]
    )
    assert "cannot write" in err and "--out" in err


@pytest.mark.parametrize("command", ["curves", "confusion", "errors", "calibration"])
def test_cli_no_runs(tmp_path, capsys, command):
    err = _one_line_error(capsys, [command, "--logdir", str(tmp_path)])
    assert "no training runs" in err


def test_the_console_script_reports_no_runs_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kerascls.cli.viz", "curves", "--logdir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no training runs under")
