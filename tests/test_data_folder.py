"""Image folders: odd formats decode right, bad files are skipped with one warning, layout
mistakes are clear errors, splits are stratified and reproducible."""

import io
import json
import logging
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from kerascls.data import (
    channel_statistics,
    dataset_from_source,
    load_image_folder,
    make_pipeline,
)
from kerascls.errors import DataError

RED = (200, 30, 40)
BLUE = (20, 60, 210)


def solid(color, size=(16, 16), mode="RGB"):
    image = Image.new("RGB", (size[1], size[0]), color)
    return image if mode == "RGB" else image.convert(mode)


def save(image, path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """train/{cat,dog}/ with every odd kind of file, and a test/ split."""
    root = tmp_path_factory.mktemp("mixed")
    cat, dog = root / "train" / "cat", root / "train" / "dog"
    save(solid(RED), cat / "red.jpg", quality=95)
    save(solid(RED, mode="CMYK"), cat / "cmyk.jpg", quality=95)
    save(solid((77, 77, 77), mode="L"), cat / "gray.png")
    rgba = solid(RED, size=(12, 20), mode="RGBA")  # another size: resized to 16x16
    rgba.putalpha(90)
    save(rgba, cat / "alpha.png")
    save(solid(RED), cat / "nested" / "deep.PNG")  # sub-folder, upper-case extension
    (cat / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    (cat / "empty.png").write_bytes(b"")
    jpeg = io.BytesIO()
    solid(RED).save(jpeg, "JPEG")
    (cat / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (cat / "notes.txt").write_text("not an image")
    save(solid(BLUE).convert("P", palette=Image.ADAPTIVE), dog / "palette.png")
    save(solid(BLUE), dog / "plain.bmp")
    save(solid(BLUE).convert("P", palette=Image.ADAPTIVE), dog / "palette.bmp")
    save(solid(BLUE).convert("P", palette=Image.ADAPTIVE), dog / "anim.gif")
    save(solid(BLUE), dog / "lossless.webp", lossless=True)
    save(solid(BLUE), dog / "UPPER.JPEG", quality=95)
    for cls, color in (("cat", RED), ("dog", BLUE)):
        save(solid(color), root / "test" / cls / "t.png")
    return root


def decoded(split):
    """{file name: decoded uint8 image} through the evaluation pipeline."""
    batches = list(make_pipeline(split, 4, training=False))
    images = np.concatenate([b[0].numpy() for b in batches]).astype(np.uint8)
    return dict(zip([os.path.basename(p) for p in split.paths], images, strict=True))


def test_keeps_readable_images_and_warns_once_naming_the_bad_ones(mixed, caplog):
    with caplog.at_level(logging.WARNING, logger="kerascls"):
        ds = load_image_folder(mixed, validation_size=0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    for bad in ("corrupt.jpg", "empty.png", "truncated.jpg"):
        assert bad in message
    assert "notes.txt" not in message and "red.jpg" not in message

    kept = sorted(os.path.basename(p) for p in ds.train.paths)
    cats = ["red.jpg", "cmyk.jpg", "gray.png", "alpha.png", "deep.PNG"]
    dogs = ["palette.png", "plain.bmp", "palette.bmp", "anim.gif", "lossless.webp", "UPPER.JPEG"]
    assert kept == sorted([*cats, *dogs])
    assert ds.class_names == ("cat", "dog")
    assert ds.image_size == (16, 16)  # the most common size
    assert ds.counts() == {"train": [5, 6], "test": [1, 1]}
    assert ds.validation is None


def test_every_format_decodes_to_the_right_rgb(mixed):
    images = decoded(load_image_folder(mixed, validation_size=0).train)
    assert all(image.shape == (16, 16, 3) for image in images.values())
    expected = {
        "red.jpg": RED,
        "cmyk.jpg": RED,
        "gray.png": (77, 77, 77),
        "alpha.png": RED,  # alpha dropped, like PIL's convert("RGB")
        "deep.PNG": RED,
        "palette.png": BLUE,
        "plain.bmp": BLUE,
        "palette.bmp": BLUE,  # decoded by Pillow: TensorFlow would return palette indices
        "anim.gif": BLUE,
        "lossless.webp": BLUE,
        "UPPER.JPEG": BLUE,
    }
    for name, color in expected.items():
        tolerance = 4 if name.lower().endswith((".jpg", ".jpeg")) else 0
        error = np.abs(images[name].astype(int) - np.array(color)).max()
        assert error <= tolerance, f"{name}: {images[name][0, 0]} != {color}"


def test_a_training_epoch_iterates_every_image(mixed):
    ds = load_image_folder(mixed, validation_size=0)
    pipeline = make_pipeline(ds, 4, training=True, augment="standard")
    for _ in range(2):  # the second epoch reads the cache
        labels = np.concatenate([y.numpy() for _, y in pipeline])
        assert sorted(labels.tolist()) == sorted(ds.train.labels.tolist())


def test_a_file_that_breaks_after_the_check_is_dropped_not_fatal(mixed, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(mixed, root)
    ds = load_image_folder(root, validation_size=0)
    (root / "train" / "dog" / "plain.bmp").write_bytes(b"garbage now")
    (root / "train" / "cat" / "red.jpg").unlink()
    seen = sum(len(y) for _, y in make_pipeline(ds, 4, training=True, augment="cifar"))
    assert seen == len(ds.train) - 2


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """train/ only: 20 'a', 10 'b' noise PNGs (lossless, so pixels are known)."""
    root = tmp_path_factory.mktemp("plain")
    rng = np.random.default_rng(1)
    for cls, n in (("a", 20), ("b", 10)):
        for i in range(n):
            pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            save(Image.fromarray(pixels), root / "train" / cls / f"{i:02d}.png")
    return root


def test_cache_to_a_file(plain, tmp_path):
    ds = load_image_folder(plain, validation_size=0)
    pipeline = make_pipeline(ds, 8, training=True, cache=tmp_path / "train-cache")
    first = sorted(np.concatenate([y.numpy() for _, y in pipeline]).tolist())
    second = sorted(np.concatenate([y.numpy() for _, y in pipeline]).tolist())
    assert first == second == sorted(ds.train.labels.tolist())
    assert any(f.name.startswith("train-cache") for f in tmp_path.iterdir())


@pytest.mark.parametrize(("size", "val_counts"), [(0.2, [4, 2]), (5, [3, 2]), (0.5, [10, 5])])
def test_stratified_validation_split(plain, size, val_counts):
    ds = load_image_folder(plain, validation_size=size, seed=3)
    assert ds.counts()["validation"] == val_counts
    assert ds.counts()["train"] == [20 - val_counts[0], 10 - val_counts[1]]
    assert not set(ds.train.paths) & set(ds.validation.paths)
    again = load_image_folder(plain, validation_size=size, seed=3)
    np.testing.assert_array_equal(again.validation.paths, ds.validation.paths)
    other = load_image_folder(plain, validation_size=size, seed=4)
    assert set(other.validation.paths) != set(ds.validation.paths)


def test_root_with_class_folders_directly_is_train(plain):
    ds = load_image_folder(plain / "train", validation_size=0)
    assert ds.class_names == ("a", "b") and len(ds.train) == 30


def test_validation_and_test_folders_are_used(tmp_path):
    for split in ("train", "val", "test"):
        for cls in ("x", "y"):
            save(solid(RED, size=(4, 4)), tmp_path / split / cls / "0.png")
    ds = load_image_folder(tmp_path, validation_size=0.5)
    assert ds.counts() == {"train": [1, 1], "validation": [1, 1], "test": [1, 1]}
    assert ds.source["layout"]["validation"].endswith("val")


def test_source_rebuilds_the_same_dataset(plain, caplog):
    ds = load_image_folder(plain, image_size=(8, 8), validation_size=0.2, seed=5)
    source = json.loads(json.dumps(ds.source))
    assert source["kind"] == "image_folder" and os.path.isabs(source["root"])
    again = dataset_from_source(source)
    assert again.class_names == ds.class_names and again.image_size == (8, 8)
    for name, split in ds.splits().items():
        np.testing.assert_array_equal(again.splits()[name].paths, split.paths)
        np.testing.assert_array_equal(again.splits()[name].labels, split.labels)

    save(solid(RED, size=(6, 5)), plain / "train" / "a" / "zz.png")
    try:
        with caplog.at_level(logging.WARNING, logger="kerascls"):
            dataset_from_source(source)
        assert "changed" in caplog.text
    finally:
        (plain / "train" / "a" / "zz.png").unlink()


def test_channel_statistics_of_a_folder_match_numpy(plain):
    ds = load_image_folder(plain, validation_size=0.2)
    pixels = np.stack([np.asarray(Image.open(p)) for p in ds.train.paths]).astype(np.float64)
    mean, std = channel_statistics(ds, batch_size=7)
    np.testing.assert_allclose(mean, pixels.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(std, pixels.std(axis=(0, 1, 2)), rtol=1e-10)


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")


def test_no_images(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "train" / "a" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no images"):
        load_image_folder(tmp_path)


def test_empty_class_folder_is_named(tmp_path):
    save(solid(RED, size=(4, 4)), tmp_path / "train" / "a" / "0.png")
    (tmp_path / "train" / "lonely").mkdir()
    with pytest.raises(DataError, match="lonely"):
        load_image_folder(tmp_path)


def test_class_folder_of_only_bad_files_is_named(tmp_path):
    save(solid(RED, size=(4, 4)), tmp_path / "train" / "a" / "0.png")
    (tmp_path / "train" / "b").mkdir()
    (tmp_path / "train" / "b" / "x.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="b has no readable images"):
        load_image_folder(tmp_path)


def test_test_classes_differ_from_train(tmp_path):
    for cls in ("bird", "cat"):
        save(solid(RED, size=(4, 4)), tmp_path / "train" / cls / "0.png")
    for cls in ("cat", "fish"):
        save(solid(RED, size=(4, 4)), tmp_path / "test" / cls / "0.png")
    with pytest.raises(
        DataError, match=r"test/ differ.*missing \['bird'\].*not in train/: \['fish'\]"
    ):
        load_image_folder(tmp_path)


def test_images_without_class_folders(tmp_path):
    save(solid(RED, size=(4, 4)), tmp_path / "train" / "0.png")
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path)


def test_training_seeds_share_one_validation_set(plain):
    """Runs of several --seed values are scored on the same held-out images; the hold-out
    moves only with validation_seed, and an older run.json (no such field) keeps the
    hold-out its own seed drew."""
    from kerascls.train import Recipe
    from kerascls.train.fit import load_data

    def held_out(**fields):
        return set(
            load_data(Recipe(data_dir=str(plain), validation_size=0.2, **fields)).validation.paths
        )

    assert held_out(seed=1) == held_out(seed=2) == held_out(seed=7, validation_seed=0)
    assert held_out(seed=1, validation_seed=4) != held_out(seed=1)
    old = Recipe.from_dict({"data_dir": str(plain), "validation_size": 0.2, "seed": 4})
    assert set(load_data(old).validation.paths) == held_out(seed=1, validation_seed=4)
