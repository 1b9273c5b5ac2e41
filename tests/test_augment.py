"""Augmentation: each ImageDataGenerator parameter does what its name says, seeded."""

import json

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from kerascls.data import AUGMENT_PRESETS, AugmentConfig, Augmenter, from_arrays, make_pipeline
from kerascls.data.augmenter import _transform, idg_affine_transforms

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (32, 12, 16, 3), dtype=np.uint8)
LABELS = np.arange(32) % 4


def augment(config, images=IMAGES, labels=LABELS, seed=0, **kwargs):
    out, out_labels = Augmenter(config)(images, labels, seed=seed, **kwargs)
    return out.numpy(), out_labels.numpy()


def dot_images(n, size=16, value=200.0):
    """n black images with one bright pixel at the centre."""
    images = np.zeros((n, size, size, 3), np.float32)
    images[:, size // 2, size // 2, :] = value
    return images


def centroids(images):
    """(row, col) intensity centroid of each image (linear resampling keeps it exact)."""
    mass = images[..., 0]
    rows, cols = np.mgrid[: mass.shape[1], : mass.shape[2]]
    total = mass.sum(axis=(1, 2))
    return np.stack(
        [(mass * rows).sum(axis=(1, 2)) / total, (mass * cols).sum(axis=(1, 2)) / total], axis=1
    )


def test_horizontal_flip_mirrors_some_images_and_keeps_the_rest():
    out, _ = augment(AugmentConfig(horizontal_flip=True))
    flipped = [np.array_equal(o, np.fliplr(i)) for o, i in zip(out, IMAGES, strict=True)]
    kept = [np.array_equal(o, i) for o, i in zip(out, IMAGES, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 4 < sum(flipped) < 28  # about half, per image


def test_vertical_flip_mirrors_top_to_bottom():
    out, _ = augment(AugmentConfig(vertical_flip=True), seed=3)
    flipped = [np.array_equal(o, np.flipud(i)) for o, i in zip(out, IMAGES, strict=True)]
    kept = [np.array_equal(o, i) for o, i in zip(out, IMAGES, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 32


def test_rotation_keeps_shape_and_changes_pixels():
    out, labels = augment(AugmentConfig(rotation_range=40))
    assert out.shape == IMAGES.shape and out.dtype == np.float32
    assert not np.allclose(out, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
def test_affine_matches_image_data_generator_formula(fill_mode):
    # IDG's apply_affine_transform: scipy.ndimage.affine_transform of one combined matrix.
    image = RNG.uniform(0, 255, (1, 11, 15, 3)).astype(np.float32)
    theta, tx, ty, shear, zx, zy = np.deg2rad(25.0), 1.5, -2.0, np.deg2rad(10.0), 0.9, 1.2
    h, w = image.shape[1:3]
    rotation = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    m = rotation @ shift @ shearing @ zoom
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    m = (
        np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
        @ m
        @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    )
    expected = np.stack(
        [
            scipy.ndimage.affine_transform(
                image[0, ..., c], m[:2, :2], m[:2, 2], order=1, mode=fill_mode
            )
            for c in range(3)
        ],
        axis=-1,
    )
    one = tf.ones([1])
    transforms = idg_affine_transforms(
        theta * one, tx * one, ty * one, shear * one, zx * one, zy * one, float(h), float(w)
    )
    out = _transform(tf.constant(image), transforms, fill_mode, 0.0, "BILINEAR").numpy()[0]
    np.testing.assert_allclose(out, expected, atol=1e-2)


@pytest.mark.parametrize(
    ("config", "max_shift", "axis"),
    [
        (AugmentConfig(width_shift_range=0.25, fill_mode="constant"), 4.0, 1),
        (AugmentConfig(height_shift_range=0.25, fill_mode="constant"), 4.0, 0),
        (AugmentConfig(width_shift_range=3, fill_mode="constant"), 3.0, 1),  # pixels
    ],
)
def test_shift_moves_content_along_one_axis_within_range(config, max_shift, axis):
    images = dot_images(64)
    out, _ = augment(config, images, np.zeros(64), seed=1)
    moved = centroids(out) - centroids(images)
    np.testing.assert_allclose(moved[:, 1 - axis], 0.0, atol=1e-4)
    assert np.abs(moved[:, axis]).max() <= max_shift + 1e-4
    assert np.abs(moved[:, axis]).max() > 0.6 * max_shift  # the range is used
    assert (moved[:, axis] > 0).any() and (moved[:, axis] < 0).any()
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3)), rtol=1e-4)


def test_pad_and_crop_is_a_whole_pixel_shift_with_zero_fill():
    p = 2
    out, _ = augment(AugmentConfig(crop_padding=p), seed=5)
    h, w = IMAGES.shape[1:3]
    padded = np.pad(IMAGES, ((0, 0), (p, p), (p, p), (0, 0))).astype(np.float32)
    offsets = []
    for image, result in zip(padded, out, strict=True):
        found = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if np.array_equal(image[dy : dy + h, dx : dx + w], result)
        ]
        assert found, "output is not a crop of the zero-padded image"
        offsets.extend(found)
    assert len(set(offsets)) > 5  # windows differ per image


def test_zoom_above_one_zooms_out():
    images = np.zeros((8, 16, 16, 3), np.float32)
    images[:, 4:12, 4:12] = 255.0  # a centred square
    out, _ = augment(
        AugmentConfig(zoom_range=(1.5, 1.5), fill_mode="constant"), images, np.zeros(8)
    )
    assert (out[..., 0] > 127).sum(axis=(1, 2)).max() < 64  # the square got smaller


def test_brightness_range_multiplies_each_image_by_one_factor():
    images = RNG.integers(1, 170, (16, 6, 6, 3)).astype(np.float32)  # x1.5 stays < 255
    out, _ = augment(AugmentConfig(brightness_range=(0.5, 1.5)), images, np.zeros(16))
    ratios = out / images
    per_image = ratios.reshape(16, -1)
    np.testing.assert_allclose(
        per_image, np.broadcast_to(per_image[:, :1], per_image.shape), rtol=1e-5
    )
    assert per_image.min() >= 0.5 - 1e-6 and per_image.max() <= 1.5 + 1e-6
    assert per_image[:, 0].std() > 0.1  # factors differ between images


def test_channel_shift_adds_one_offset_per_channel_within_range():
    images = np.full((16, 5, 5, 3), 100.0, np.float32)
    out, _ = augment(AugmentConfig(channel_shift_range=20), images, np.zeros(16))
    offsets = out - images
    np.testing.assert_allclose(offsets, offsets[:, :1, :1, :] * np.ones_like(offsets), atol=1e-5)
    assert np.abs(offsets).max() <= 20 + 1e-5
    per_channel = offsets[:, 0, 0, :]
    assert (np.ptp(per_channel, axis=1) > 1).any()  # channels get different offsets


def test_cutout_paints_one_grey_square():
    images = np.zeros((16, 16, 16, 3), np.float32)
    out, _ = augment(AugmentConfig(cutout=6), images, np.zeros(16), seed=2)
    grey = out[..., 0] == 127.5
    assert grey.sum(axis=(1, 2)).max() == 36  # whole squares where they fit
    assert grey.sum(axis=(1, 2)).min() > 0
    assert set(np.unique(out)) <= {0.0, 127.5}


def test_evaluation_mode_is_identity():
    config = AUGMENT_PRESETS["strong"]
    out, labels = augment(config, training=False)
    np.testing.assert_array_equal(out, IMAGES.astype(np.float32))
    np.testing.assert_array_equal(labels, LABELS)


def test_same_seed_same_batch_other_seed_other_batch():
    config = AUGMENT_PRESETS["standard"]
    first, _ = augment(config, seed=7)
    again, _ = augment(config, seed=7)  # a new Augmenter, same seed
    other, _ = augment(config, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_keras_layers_are_seeded_too():
    config = AugmentConfig(randaugment_ops=2, random_erasing=0.5)
    first, _ = augment(config, seed=11)
    again, _ = augment(config, seed=11)
    other, _ = augment(config, seed=12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "config", [AugmentConfig(mixup_alpha=0.4), AugmentConfig(cutmix_alpha=1.0)]
)
def test_mixing_gives_soft_labels_that_sum_to_one(config):
    one_hot = np.eye(4, dtype=np.float32)[LABELS]
    out, labels = augment(config, labels=one_hot, seed=4)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert labels.min() >= 0 and (labels.max(axis=1) < 1).any()
    assert out.min() >= 0 and out.max() <= 255


def test_cutmix_label_weight_is_the_pasted_area():
    values = np.arange(16, dtype=np.float32) * 15  # image i is constant, class i
    images = np.broadcast_to(values[:, None, None, None], (16, 32, 32, 3)).copy()
    one_hot = np.eye(16, dtype=np.float32)
    out, labels = augment(AugmentConfig(cutmix_alpha=1.0), images, one_hot, seed=9)
    own_area = (out[..., 0] == values[:, None, None]).mean(axis=(1, 2))
    own_weight = labels[np.arange(16), np.arange(16)]
    mixed = own_weight < 1  # partner was another image
    assert mixed.any()
    np.testing.assert_allclose(own_weight[mixed], own_area[mixed], atol=0.07)


def test_mixing_needs_one_hot_labels():
    with pytest.raises(ValueError, match="one_hot=True"):
        augment(AugmentConfig(mixup_alpha=0.2))
    data = from_arrays(IMAGES, LABELS, validation_size=0)
    with pytest.raises(ValueError, match="one_hot=True"):
        make_pipeline(data, 8, training=True, augment=AugmentConfig(cutmix_alpha=1.0))


def test_outputs_stay_in_0_255_with_every_operation_in_tf_data():
    config = AugmentConfig(
        rotation_range=30,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=20,
        zoom_range=0.3,
        horizontal_flip=True,
        vertical_flip=True,
        brightness_range=(0.3, 2.5),
        channel_shift_range=120,
        fill_mode="reflect",
        crop_padding=2,
        cutout=4,
        random_erasing=0.5,
        randaugment_ops=2,
        randaugment_magnitude=0.9,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
    )
    extremes = np.where(IMAGES > 127, 255, 0).astype(np.uint8)
    data = from_arrays(extremes, LABELS, validation_size=0)
    pipeline = make_pipeline(data, 16, training=True, augment=config, one_hot=True, seed=3)
    batches = list(pipeline)  # runs in tf.data graph mode
    assert len(batches) == 2
    for images, labels in batches:
        assert images.dtype == tf.float32 and images.shape[1:] == (12, 16, 3)
        assert float(tf.reduce_min(images)) >= 0 and float(tf.reduce_max(images)) <= 255
        np.testing.assert_allclose(tf.reduce_sum(labels, axis=1).numpy(), 1.0, atol=1e-5)


def test_presets_and_config_round_trip():
    assert {"none", "cifar", "standard"} <= set(AUGMENT_PRESETS)
    cifar = AugmentConfig.from_preset("cifar")
    assert (cifar.crop_padding, cifar.horizontal_flip) == (4, True)
    assert AUGMENT_PRESETS["none"].is_identity and not cifar.is_identity
    config = AugmentConfig(zoom_range=(0.8, 1.1), brightness_range=(0.9, 1.1), mixup_alpha=0.2)
    assert AugmentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.zoom_bounds == (0.8, 1.1) and AugmentConfig(zoom_range=0.2).zoom_bounds == (
        0.8,
        1.2,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fill_mode": "mirror"}, "fill_mode"),
        ({"zoom_range": 1.5}, "zoom_range"),
        ({"brightness_range": (1.2, 0.8)}, "brightness_range"),
        ({"cutmix_alpha": 2.0}, "cutmix_alpha"),
        ({"rotation_range": -5}, "rotation_range"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        AugmentConfig.from_preset("heavy")
