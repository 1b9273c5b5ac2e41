"""Arrays and CIFAR-10 sources, the tf.data pipeline, statistics, splits, class imbalance."""

import json
import urllib.error

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from kerascls.data import (
    CIFAR10_CLASSES,
    balanced_class_weights,
    channel_statistics,
    dataset_from_source,
    from_arrays,
    load_cifar10,
    make_pipeline,
    stratified_split,
)
from kerascls.errors import DataError, OfflineError

RNG = np.random.default_rng(0)


def images(n, size=(6, 6)):
    return RNG.integers(0, 256, (n, *size, 3), dtype=np.uint8)


def collect(pipeline):
    batches = list(pipeline)
    return (
        np.concatenate([b[0].numpy() for b in batches]),
        np.concatenate([b[1].numpy() for b in batches]),
        [len(b[1]) for b in batches],
    )


# --- sources -------------------------------------------------------------------------------


def test_from_arrays_splits_and_converts_grey():
    x = RNG.integers(0, 256, (40, 5, 7), dtype=np.uint8)  # grey
    ds = from_arrays(
        x, np.arange(40) % 4, validation_size=0.2, x_test=x[:8], y_test=np.arange(8) % 4
    )
    assert ds.input_shape == (5, 7, 3) and ds.class_names == ("0", "1", "2", "3")
    assert ds.counts() == {"train": [8] * 4, "validation": [2] * 4, "test": [2] * 4}
    first = ds.train.images[0]
    assert np.array_equal(first[..., 0], first[..., 2])
    json.dumps(ds.source)
    with pytest.raises(DataError, match="in-memory arrays"):
        dataset_from_source(ds.source)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((4, 5, 5, 3), np.float32), np.zeros(4, int), "uint8"),
        (np.zeros((4, 5, 5, 3), np.uint8), np.zeros(3, int), "4 images but y has 3"),
        (np.zeros((4, 5, 5, 3), np.uint8), np.eye(4), "integer class indices"),
        (np.zeros((4, 5), np.uint8), np.zeros(4, int), "expected"),
    ],
)
def test_from_arrays_rejects_what_does_not_fit(x, y, message):
    with pytest.raises(DataError, match=message):
        from_arrays(x, y)


def test_load_cifar10_offline_raises_offline_error_or_loads():
    try:
        ds = load_cifar10()
    except OfflineError as error:
        assert "--data-dir" in str(error) and "\n" not in str(error)
    else:  # the network was there
        assert ds.counts()["validation"] == [500] * 10 and len(ds.test) == 10000


def test_load_cifar10_network_failure_is_offline_error(monkeypatch):
    def fail():
        try:
            raise urllib.error.URLError("Name or service not known")
        except urllib.error.URLError as error:
            raise Exception("URL fetch failure on https://example: None") from error

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", fail)
    with pytest.raises(OfflineError, match="train/<class>/"):
        load_cifar10()


def test_cifar10_source_round_trip(monkeypatch):
    x, y = images(200, (4, 4)), (np.arange(200) % 10)[:, None].astype(np.uint8)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:30], y[:30])))
    ds = load_cifar10(validation_size=50, seed=2)
    assert ds.class_names == CIFAR10_CLASSES and ds.counts()["validation"] == [5] * 10
    again = dataset_from_source(json.loads(json.dumps(ds.source)))
    for name, split in ds.splits().items():
        np.testing.assert_array_equal(again.splits()[name].images, split.images)
        np.testing.assert_array_equal(again.splits()[name].labels, split.labels)


# --- splits --------------------------------------------------------------------------------


def test_stratified_split_keeps_proportions_and_is_seeded():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    keep, holdout = stratified_split(labels, 0.1, seed=0)
    assert np.bincount(labels[holdout]).tolist() == [5, 3, 2]
    assert sorted(np.concatenate([keep, holdout]).tolist()) == list(range(100))
    np.testing.assert_array_equal(stratified_split(labels, 0.1, seed=0)[1], holdout)
    assert not np.array_equal(stratified_split(labels, 0.1, seed=1)[1], holdout)
    assert len(stratified_split(labels, 7)[1]) == 7
    assert len(stratified_split(labels, 0)[1]) == 0
    with pytest.raises(DataError, match="validation_size"):
        stratified_split(labels, 100)


# --- pipeline ------------------------------------------------------------------------------


def test_evaluation_pipeline_is_ordered_raw_pixels_with_last_partial_batch():
    x, y = images(10), np.arange(10) % 3
    split = from_arrays(x, y, validation_size=0).train
    got_x, got_y, sizes = collect(make_pipeline(split, 4, training=False, augment="strong"))
    assert sizes == [4, 4, 2]
    np.testing.assert_array_equal(got_x, x.astype(np.float32))  # no normalisation, no augmentation
    np.testing.assert_array_equal(got_y, y)
    assert got_x.dtype == np.float32


def test_iterators_drop_at_once_without_the_autotuner():
    # Keras drops fit's validation iterator unfinished after every epoch, and the repeating
    # training iterator at the end; with tf.data's autotuner on, each drop waited for its
    # tuning thread (seconds per epoch, and 35-40 s at the exit of a budgeted run).
    split = from_arrays(images(10), np.arange(10) % 3, validation_size=0).train
    assert make_pipeline(split, 4, training=False).options().autotune.enabled is False
    training = make_pipeline(split, 4, training=True, repeat=True)
    assert training.options().autotune.enabled is False


def test_training_pipeline_is_seeded_and_reshuffles_each_epoch():
    ds = from_arrays(images(64), np.arange(64) % 4, validation_size=0)

    def epochs(seed):
        pipeline = make_pipeline(ds, 16, training=True, augment="standard", seed=seed)
        return [collect(pipeline)[0] for _ in range(2)]

    first, again, other = epochs(1), epochs(1), epochs(2)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[0], first[1])  # a new order and new transforms each epoch
    assert not np.allclose(first[0], other[0])


def test_alternating_flips_show_each_image_both_ways_every_two_epochs():
    # 20 images, batch 8: 3 batches an epoch (the last partial), repeated by the pipeline
    x = images(20)
    ds = from_arrays(x, np.arange(20) % 2, validation_size=0)
    augment = {"horizontal_flip": True, "alternating_flip": True}
    pipeline = make_pipeline(ds, 8, training=True, augment=augment, seed=3, repeat=True)
    batches = [b[0].numpy() for b in pipeline.take(3 * 4)]  # four epochs
    flipped = np.zeros((4, 20), dtype=int)  # epoch, image: 1 mirrored, 0 as stored
    for i, batch in enumerate(batches):
        for image in batch:
            same = [k for k in range(20) if np.array_equal(image, x[k])]
            mirrored = [k for k in range(20) if np.array_equal(image, x[k][:, ::-1])]
            assert len(same) + len(mirrored) == 1, "every output is one image, whole"
            flipped[i // 3, (same or mirrored)[0]] += 1 if mirrored else 0
    np.testing.assert_array_equal(flipped[0] + flipped[1], np.ones(20))  # both ways
    np.testing.assert_array_equal(flipped[0], flipped[2])  # and again
    np.testing.assert_array_equal(flipped[1], flipped[3])
    assert 0 < flipped[0].sum() < 20, "the first epoch's coin is per image"
    # Random flips (without the epoch) would leave some image unmirrored in two epochs:
    random_flips = make_pipeline(ds, 8, training=True, augment=augment, seed=3)
    assert len(list(random_flips)) == 3  # not repeating: one epoch, flips stay random


def test_alternating_flip_needs_horizontal_flip():
    with pytest.raises(ValueError, match="alternating_flip"):
        make_pipeline(
            from_arrays(images(8), np.arange(8) % 2, validation_size=0),
            4,
            training=True,
            augment={"alternating_flip": True},
        )


def test_one_hot_labels():
    ds = from_arrays(images(12), np.arange(12) % 3, validation_size=0)
    _, labels, _ = collect(make_pipeline(ds.train, 5, training=False, one_hot=True))
    assert labels.dtype == np.float32 and labels.shape == (12, 3)
    np.testing.assert_array_equal(labels.argmax(axis=1), ds.train.labels)


def test_evaluation_needs_a_split():
    ds = from_arrays(images(8), np.arange(8) % 2, validation_size=0)
    with pytest.raises(ValueError, match=r"dataset\.validation"):
        make_pipeline(ds, 4, training=False)


def test_oversampling_balances_classes():
    labels = np.array([0] * 90 + [1] * 10)
    ds = from_arrays(images(100, (2, 2)), labels, validation_size=0)
    pipeline = make_pipeline(ds, 50, training=True, oversample=True, seed=0)
    drawn = np.concatenate([collect(pipeline)[1] for _ in range(3)])
    assert len(drawn) == 300  # epochs keep their length
    assert 0.38 < drawn.mean() < 0.62
    plain = collect(make_pipeline(ds, 50, training=True))[1]
    assert plain.sum() == 10


def test_class_weights_match_sklearn():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    weights = balanced_class_weights(labels, 3)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose([weights[i] for i in range(3)], expected)
    with pytest.raises(DataError, match=r"class\(es\) \[3\]"):
        balanced_class_weights(labels, 4)


# --- statistics ----------------------------------------------------------------------------


def test_channel_statistics_match_numpy_on_arrays_and_splits():
    x = RNG.integers(0, 256, (37, 9, 7, 3), dtype=np.uint8)
    x[..., 2] //= 4  # channels with different statistics
    expected_mean = x.astype(np.float64).mean(axis=(0, 1, 2))
    expected_std = x.astype(np.float64).std(axis=(0, 1, 2))
    for data in (x, from_arrays(x, np.zeros(37, int), validation_size=0)):
        mean, std = channel_statistics(data, batch_size=8)
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-12)
        np.testing.assert_allclose(std, expected_std, rtol=1e-12)
    batches = tf.data.Dataset.from_tensor_slices((x, np.zeros(37))).batch(10)
    np.testing.assert_allclose(channel_statistics(batches)[0], expected_mean, rtol=1e-12)
