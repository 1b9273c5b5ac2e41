"""The plotting and file side of kerascls.viz, without training: confusion counts equal
scikit-learn's, the calibration error is the textbook one, curves survive resumed runs,
images are read robustly (or refused with a clear error), and every PNG is written whole."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from kerascls.errors import DataError, KerasclsError
from kerascls.viz import (
    calibration_curve,
    confusion_matrix,
    expected_calibration_error,
    find_images,
    load_image,
    most_confident_errors,
    overlay_heatmap,
    plot_confusion_matrix,
    plot_curves,
    plot_errors,
    plot_feature_maps,
    plot_reliability,
    read_history,
    save_figure,
    write_png,
)
from kerascls.viz.confusion import normalize_rows


def _decodes(path: Path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 0
    image = cv2.imread(str(path))
    assert image is not None and image.size > 0
    return image


def test_confusion_counts_equal_scikit_learns():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 6, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 6, 500))
    y_pred[y_pred == 5] = 4  # a class that is never predicted
    ours = confusion_matrix(y_true, y_pred, num_classes=7)  # and one that never occurs
    np.testing.assert_array_equal(ours, sk_confusion_matrix(y_true, y_pred, labels=range(7)))
    rows = normalize_rows(ours)
    np.testing.assert_allclose(rows[:6].sum(axis=1), 1.0)
    assert rows[6].sum() == 0  # no examples: a zero row, not NaN
    with pytest.raises(KerasclsError, match="outside"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)


def test_expected_calibration_error_is_the_weighted_gap():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(4) * 0.5, size=1000)
    labels = rng.integers(0, 4, 1000)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    expected = 0.0
    for low, high in zip(np.linspace(0, 1, 11)[:-1], np.linspace(0, 1, 11)[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            expected += inside.mean() * gap
    assert expected_calibration_error(labels, probabilities, bins=10) == pytest.approx(expected)
    curve = calibration_curve(labels, probabilities, bins=10)
    assert curve.counts.sum() == 1000

    # always right and sure of it: perfectly calibrated
    sure = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error(np.array([0, 1, 2, 1]), sure) == 0.0


def test_most_confident_errors_come_first():
    labels = np.array([0, 1, 2, 0, 1])
    probabilities = np.array(
        [[0.2, 0.8, 0.0], [0.1, 0.9, 0.0], [0.95, 0.05, 0.0], [0.4, 0.6, 0.0], [0.65, 0.35, 0.0]]
    )
    assert most_confident_errors(labels, probabilities).tolist() == [2, 0, 4, 3]
    assert most_confident_errors(labels, probabilities, count=2).tolist() == [2, 0]


def test_history_of_a_resumed_run_keeps_the_last_row_of_each_epoch(tmp_path):
    csv = tmp_path / "history.csv"
    csv.write_text(
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\n"
        "0,0.5,0.1,1.2,0.55,1.1\n"
        "1,0.6,0.1,1.0,0.60,1.0\n"
        "1,0.62,0.1,0.98,0.61,0.97\n"  # epoch 1 again after a resume
        "2,0.7,0.05,0.8,0.58,1.05\n"
    )
    history = read_history(csv)
    np.testing.assert_array_equal(history["epoch"], [0, 1, 2])
    np.testing.assert_allclose(history["val_accuracy"], [0.55, 0.61, 0.58])
    figure = plot_curves(history, "demo")
    assert "best val_accuracy 0.6100 at epoch 2" in figure._suptitle.get_text()
    _decodes(save_figure(figure, tmp_path / "curves.png"))
    with pytest.raises(KerasclsError, match="first epoch"):
        read_history(tmp_path / "missing.csv")


def test_every_plot_saves_a_png_that_decodes(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"class{i}" for i in range(12)]
    figures = {
        "confusion": plot_confusion_matrix(rng.integers(0, 50, (12, 12)), names, "demo"),
        "confusion_many": plot_confusion_matrix(np.eye(30, dtype=int), [str(i) for i in range(30)]),
        "features": plot_feature_maps(
            rng.random((8, 8, 20)), "layer", channels=9, image=np.zeros((16, 16, 3), np.uint8)
        ),
        "errors": plot_errors(
            [np.zeros((20, 30, 3), np.uint8)] * 3,
            [0, 1, 2],
            rng.dirichlet(np.ones(12), 3),
            names,
            "mistakes",
        ),
        "no_errors": plot_errors([], [], np.zeros((0, 12)), names, "none"),
        "reliability": plot_reliability(
            calibration_curve(rng.integers(0, 4, 200), rng.dirichlet(np.ones(4), 200)), "demo"
        ),
    }
    for name, figure in figures.items():
        image = _decodes(save_figure(figure, tmp_path / "sub" / f"{name}.png"))
        assert min(image.shape[:2]) > 50, name
    assert not list((tmp_path / "sub").glob(".*")), "temporary files left behind"
    with pytest.raises(KerasclsError, match="class names"):
        plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b"])


def test_overlay_is_drawn_at_the_images_resolution():
    image = np.zeros((90, 120, 3), np.uint8)
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[:4, :4] = 1.0  # hot top-left
    overlay = overlay_heatmap(image, heatmap, alpha=1.0)
    assert overlay.shape == (90, 120, 3) and overlay.dtype == np.uint8
    top_left, bottom_right = overlay[10, 10], overlay[80, 110]
    assert top_left[0] > 100 and bottom_right[2] > 100  # jet: red for hot, blue for cold
    with pytest.raises(KerasclsError, match="alpha"):
        overlay_heatmap(image, heatmap, alpha=1.5)
    with pytest.raises(KerasclsError, match="colormap"):
        overlay_heatmap(image, heatmap, colormap="rainbowish")


def test_write_png_round_trips_rgb(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # red
    path = write_png(tmp_path / "red.png", rgb)
    np.testing.assert_array_equal(load_image(path).original, rgb)
    # the permissions of any new file (mkstemp's would be private to the owner)
    (tmp_path / "plain").write_bytes(b"")
    assert path.stat().st_mode == (tmp_path / "plain").stat().st_mode
    assert not list(tmp_path.glob(".tmp-*"))


def test_images_in_any_layout_become_rgb(tmp_path):
    Image.fromarray(np.full((10, 12), 77, np.uint8), "L").save(tmp_path / "grey.png")
    Image.fromarray(np.full((10, 12, 4), 200, np.uint8), "RGBA").save(tmp_path / "alpha.png")
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((10, 12, 3), 65535, np.uint16))
    palette = Image.new("P", (12, 10))
    palette.putpalette([0, 0, 255] + [0] * 765)
    palette.save(tmp_path / "palette.gif")
    for name in ("grey.png", "alpha.png", "deep.png", "palette.gif"):
        image = load_image(tmp_path / name, size=(8, 8))
        assert image.original.shape == (10, 12, 3) and image.original.dtype == np.uint8, name
        assert image.pixels.shape == (8, 8, 3) and image.pixels.dtype == np.float32, name
    np.testing.assert_array_equal(load_image(tmp_path / "palette.gif").original[0, 0], [0, 0, 255])
    assert load_image(tmp_path / "deep.png").original.max() == 255


def test_exif_orientation_is_ignored_like_in_training(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees": a viewer would show it 10 wide, 20 high
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").original.shape == (10, 20, 3)


def test_bad_image_paths_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"cannot read .*notes\.jpg as an image"):
        load_image(tmp_path / "notes.jpg")
    with pytest.raises(DataError, match="is a folder"):
        load_image(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        find_images([tmp_path / "empty"])
    with pytest.raises(DataError, match="does not exist"):
        find_images([tmp_path / "missing"])


def test_find_images_expands_folders_in_order(tmp_path):
    for name in ("b.PNG", "a.jpg", "sub/c.webp", "readme.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = find_images([tmp_path / "readme.txt", tmp_path])
    assert [p.name for p in found] == ["readme.txt", "a.jpg", "b.PNG", "c.webp"]
    # one folder given as a plain string or a Path, not a list: the same images
    assert find_images(str(tmp_path)) == find_images(tmp_path) == found[1:]
