"""Defaults that fit the folder a user brings: the validation hold-out, the image size, the
batch size and augmentation of a recipe written for CIFAR-10, top-5 only where it means
something, portable best.keras files, and a manifest that names the file exported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerascls.data import load_image_folder
from kerascls.data.folder import default_image_size
from kerascls.data.holdout import holdout_count
from kerascls.train import Recipe, load_run
from kerascls.train.adapt import adapt_recipe_to_data


def write_folder(root: Path, counts: dict[str, int], sizes=((24, 24),), seed: int = 0) -> Path:
    """root/<split>/<class>/*.png: classes "dark" and "light" that differ in brightness.

    `counts` maps split name to images per class; image sizes cycle through `sizes`.
    """
    rng = np.random.default_rng(seed)
    for split, per_class in counts.items():
        for label, name in enumerate(("dark", "light")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                height, width = sizes[i % len(sizes)]
                base = 40 + 150 * label
                pixels = rng.integers(base, base + 60, (height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


@pytest.mark.parametrize(
    ("n", "classes", "expected"),
    [(50000, 10, 5000), (60000, 10, 5000), (1000, 10, 100), (30, 2, 3), (30, 5, 5), (40, 20, 20)],
)
def test_the_default_hold_out_is_ten_percent_at_most_5000_at_least_one_per_class(
    n, classes, expected
):
    assert holdout_count(n, None, classes) == expected


def test_one_image_per_class_leaves_nothing_to_hold_out():
    assert holdout_count(10, None, 10) == 0


def test_folder_layouts_pick_their_validation_images(tmp_path):
    only_train = load_image_folder(write_folder(tmp_path / "a", {"train": 15}))
    assert (len(only_train.train), len(only_train.validation)) == (27, 3)
    assert only_train.test is None
    with_test = load_image_folder(write_folder(tmp_path / "b", {"train": 15, "test": 5}))
    assert (len(with_test.train), len(with_test.validation), len(with_test.test)) == (27, 3, 10)
    with_val = load_image_folder(write_folder(tmp_path / "c", {"train": 15, "val": 4}))
    assert (len(with_val.train), len(with_val.validation)) == (30, 8)


def test_the_default_image_size_keeps_small_data_and_shrinks_photos():
    assert default_image_size([(32, 32)] * 10)[0] == (32, 32)
    assert default_image_size([(28, 28)] * 6 + [(30, 40)] * 4)[0] == (28, 28)
    # mixed photos: the largest side of the ladder at or below the median short side
    photos = [(375, 500), (480, 640), (20, 20), (2000, 3000), (100, 150)]
    size, why = default_image_size(photos)
    assert size == (224, 224) and "median short side is 375" in why
    assert default_image_size([(20, 20), (30, 30), (100, 120)])[0] == (32, 32)
    assert default_image_size([(100, 130)] * 3 + [(90, 90)] * 4)[0] == (90, 90)  # most
    mixed = [(100, 130)] * 3 + [(90, 120)] * 2 + [(110, 140)] * 2
    assert default_image_size(mixed)[0] == (96, 96)


def test_the_fast_recipe_fits_a_small_folder():
    fast = Recipe.preset("fast")
    recipe, notes = adapt_recipe_to_data(fast, num_train=300, image_size=(32, 32))
    assert recipe.batch_size == 32 and recipe.lr == pytest.approx(1.5 * 32 / 1024)
    assert len(notes) == 1 and "1024 -> 32" in notes[0]
    assert recipe.augment == fast.augment  # 32x32: its 2-pixel translations still suit
    # photos: the photo preset instead of a 2-pixel crop
    recipe, notes = adapt_recipe_to_data(fast, num_train=300, image_size=(128, 128))
    assert recipe.augment == "standard" and len(notes) == 2
    # CIFAR-10 itself: nothing changes
    assert adapt_recipe_to_data(fast, num_train=45000, image_size=(32, 32)) == (fast, [])


def test_what_the_user_fixed_stays_except_a_batch_larger_than_the_data():
    fast = Recipe.preset("fast", set_by_user=("batch_size", "augment"))
    recipe, _ = adapt_recipe_to_data(fast, num_train=300, image_size=(128, 128))
    assert recipe.batch_size == 300 and recipe.lr == fast.lr
    assert recipe.augment == fast.augment
    adam = Recipe(optimizer="adam", lr=1e-3, batch_size=128)
    recipe, _ = adapt_recipe_to_data(adam, num_train=256, image_size=(32, 32))
    assert recipe.batch_size == 32 and recipe.lr == pytest.approx(1e-3 * 0.5)  # sqrt(1/4)
    off = Recipe.preset("fast", adapt_to_data=False)
    assert adapt_recipe_to_data(off, num_train=300, image_size=(128, 128)) == (off, [])


def test_top5_is_left_out_with_five_classes_or_fewer():
    from kerascls.evaluate.metrics import evaluate_predictions

    probabilities = np.eye(3)[[0, 1, 2, 0]]
    report = evaluate_predictions(np.array([0, 1, 2, 1]), probabilities, ["a", "b", "c"])
    assert report.top5_accuracy is None and "top-5" not in report.table()
    assert report.accuracy == pytest.approx(0.75)


def test_a_small_mixed_size_train_only_folder_trains_from_the_cli_with_no_flags_but_the_recipe(
    tmp_path, capsys
):
    """As a user runs it: 2 classes x 15 photos of mixed sizes, only train/, --recipe fast;
    then best.keras loads with plain Keras where kerascls cannot be imported, and
    kerascls-export --model FILE names that file in the manifest."""
    from kerascls.cli.export import main as export_main
    from kerascls.cli.train import main as train_main

    sizes = ((20, 20), (48, 64), (300, 200), (36, 36))
    root = write_folder(tmp_path / "photos", {"train": 15}, sizes=sizes)
    logdir = tmp_path / "logs"
    argv = ["--data-dir", str(root), "--recipe", "fast", "--epochs", "2"]
    assert train_main([*argv, "--logdir", str(logdir)]) == 0
    out = capsys.readouterr().out
    assert "validation     3 images, held out of the training images" in out
    assert "plan: airbench at 48x48, batch 8, 2 epochs" in out
    assert "  batch size 1024 -> 8 (27 training images)" in out
    assert "top-5" not in out

    run = load_run(logdir=logdir)
    assert run.info["split_sizes"] == {"train": 27, "validation": 3}
    assert run.info["recipe"]["batch_size"] == 8
    assert run.info["input_shape"] == [48, 48, 3]  # the median short side is 48
    assert run.info["metrics"]["validation"]["accuracy"] >= 0.5

    # a colleague without kerascls: plain Keras, safe mode, the same predictions
    files = sorted((root / "train" / "light").glob("*.png"))[:4]
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((48, 48))) for f in files])
    images = images.astype("float32")
    np.save(tmp_path / "x.npy", images)
    expected = np.asarray(run.load_model()(images))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["kerascls"] = None  # import kerascls now fails
        import json, keras, numpy as np
        model = keras.saving.load_model({str(run.path / "best.keras")!r})
        print(json.dumps(model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0).tolist()))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, expected, atol=1e-5)

    copy = tmp_path / "shared" / "model.keras"
    copy.parent.mkdir()
    copy.write_bytes((run.path / "last.keras").read_bytes())
    assert export_main(["--run", str(run.path), "--model", str(copy), "--tflite"]) == 0
    manifest = json.loads((run.path / "exports" / "manifest.json").read_text())
    assert manifest["source"] == str(copy.resolve())
    assert {entry["source"] for entry in manifest["exports"]} == {str(copy.resolve())}


def test_the_long_recipe_trains_the_wide_airbench_on_a_small_folder_from_the_cli(tmp_path, capsys):
    """--recipe long as a user types it: the wide airbench (airbench95's 128/384/384), its
    learning rate scaled to the small folder's batch like fast's; "fast-long", its old
    name, is the same recipe."""
    from kerascls.cli.train import main as train_main

    root = write_folder(tmp_path / "photos", {"train": 10}, sizes=((24, 24), (40, 30)))
    logdir = tmp_path / "logs"
    argv = ["--data-dir", str(root), "--recipe", "long", "--epochs", "1", "--logdir", str(logdir)]
    assert train_main(argv) == 0
    assert "plan: airbench_wide at 24x24, batch 8, 1 epochs" in capsys.readouterr().out
    run = load_run(logdir=logdir)
    assert run.info["model"]["name"] == "airbench_wide"
    widths = [run.load_model().get_layer(f"block{s}_conv1").filters for s in (1, 2, 3)]
    assert widths == [128, 384, 384]
    fast_lr = Recipe.preset("fast").lr * 8 / 1024
    assert run.info["recipe"]["lr"] == pytest.approx(Recipe.preset("long").lr * 8 / 1024)
    assert run.info["recipe"]["lr"] < fast_lr
    assert Recipe.preset("fast-long") == Recipe.preset("long")
