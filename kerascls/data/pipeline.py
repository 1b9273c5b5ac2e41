"""A dataset split -> a tf.data pipeline of (images, labels) batches.

Training:   files -> decode (parallel) -> cache uint8 -> shuffle -> [oversample] -> batch
            -> augment (parallel, on batches) -> [downscale] -> prefetch
Evaluation: files -> decode (parallel) -> cache uint8 -> batch -> prefetch

Images come out float32 on the 0-255 scale: models standardize in their first layer, so
the pipeline does not normalize. Labels are int32 class indices, or float32 one-hot rows
with `one_hot=True` (required by MixUp/CutMix, which mix them).

Decoded images are cached as uint8 (4x smaller than float32) so only the first epoch pays
for reading and decoding files; augmentation comes after the cache, so every epoch gets new
random transforms. In-memory splits need no cache. Files that fail to decode despite the
up-front check are dropped (`ignore_errors`), never ending an epoch.

Example:
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> ds = from_arrays(np.zeros((40, 8, 8, 3), np.uint8), np.arange(40) % 2)
    >>> train = make_pipeline(ds, 16, training=True, augment="cifar")
    >>> images, labels = next(iter(train))
    >>> images.shape, images.dtype, labels.dtype
    (TensorShape([16, 8, 8, 3]), tf.float32, tf.int32)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from kerascls.data.augment_config import AugmentConfig, resolve_augment
from kerascls.data.augmenter import Augmenter
from kerascls.data.dataset import ImageDataset, Split
from kerascls.data.decode import decode_image
from kerascls.data.imbalance import oversampling_acceptance

# The shuffle buffer holds decoded images on top of the cache: bound its memory, while
# keeping a full shuffle for small images (all of CIFAR-10 fits in ~150 MB).
_SHUFFLE_BUFFER_BYTES = 512 * 2**20
_MIN_SHUFFLE_BUFFER = 1024


@dataclass(frozen=True)
class LowResolution:
    """Training batches downscaled to `size` while the flag `active` holds True.

    The flag is a variable read at every batch, so a run can switch to full size while
    the pipeline runs (kerascls/train/resolution.py: progressive resizing). Batches come
    out at either size, so the pipeline's images have no fixed height and width.
    """

    size: tuple[int, int]
    active: tf.Variable

    def __call__(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        smaller = tf.cond(
            self.active,
            lambda: tf.image.resize(images, self.size, antialias=True),
            lambda: images,
        )
        return smaller, labels


def make_pipeline(
    data: ImageDataset | Split,
    batch_size: int,
    *,
    training: bool,
    augment: AugmentConfig | str | Mapping[str, Any] | None = None,
    seed: int = 0,
    one_hot: bool = False,
    oversample: bool = False,
    cache: bool | str | os.PathLike[str] = True,
    repeat: bool = False,
    low_resolution: LowResolution | None = None,
) -> tf.data.Dataset:
    """Build the tf.data pipeline of (images, labels) batches for one split.

    Args:
        data: a `Split` (e.g. `dataset.validation`), or an `ImageDataset` for its train
            split (only with training=True).
        batch_size: images per batch. The last, smaller batch is kept.
        training: True: shuffle (seeded, a new order each epoch), oversample and augment.
            False: files in order, no augmentation, `augment`/`oversample` ignored.
        augment: an `AugmentConfig`, a preset name ("none", "cifar", "standard",
            "strong") or a dict of its fields; None: no augmentation.
        seed: seed of the shuffle, the oversampling and the augmentation; the same seed
            gives the same batches, epoch by epoch.
        one_hot: labels as float32 one-hot rows instead of int32 indices; a split with
            `soft_targets` (distillation) gives those rows instead (and its int labels
            without one_hot).
        oversample: draw each class about equally often (an epoch keeps its usual length);
            a seeded rejection sampler over the cached examples.
        cache: True: cache decoded images in memory; a file path: cache there (for data
            larger than memory; delete the files when the data change); False: no cache.
        repeat: repeat the epochs without end (as `fit` trains, with steps_per_epoch);
            each batch then knows its epoch, which alternating flips need.
        low_resolution: downscale training batches (after augmentation) while its flag
            is set; None: every batch at the split's size.

    Returns:
        A `tf.data.Dataset` of (float32 images (n, h, w, 3) in 0-255, labels).

    Raises:
        ValueError: MixUp/CutMix without one_hot=True, or an ImageDataset for evaluation.
    """
    split = _as_split(data, training)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    config = _augment_config(augment if training else None, one_hot)
    if split.soft_targets is not None and one_hot and training and oversample:
        raise ValueError("a split with soft targets cannot be oversampled: it draws by label")
    ds = _batches(split, batch_size, training, seed, cache, oversample, one_hot)
    if repeat:
        ds = ds.repeat()
    if training and not config.is_identity:
        ds = _augmented(ds, Augmenter(config), seed, split, batch_size if repeat else None)
    if training and low_resolution is not None:
        ds = ds.map(low_resolution, num_parallel_calls=tf.data.AUTOTUNE)
    return _without_autotuner(ds.prefetch(tf.data.AUTOTUNE))


def _augment_config(augment: Any, one_hot: bool) -> AugmentConfig:
    config = resolve_augment(augment)
    if config.soft_labels and not one_hot:
        raise ValueError(
            "MixUp/CutMix produce mixed (soft) labels: pass one_hot=True and train with a "
            "loss that takes one-hot targets (e.g. CategoricalCrossentropy)"
        )
    return config


def _batches(
    split: Split,
    batch_size: int,
    training: bool,
    seed: int,
    cache: Any,
    oversample: bool,
    one_hot: bool,
) -> tf.data.Dataset:
    """Batches of (float32 images, labels), shuffled and oversampled when training."""
    ds = _decoded(split, training, seed, cache, soft=one_hot and split.soft_targets is not None)
    if training:
        ds = ds.shuffle(_shuffle_buffer(split), seed=seed, reshuffle_each_iteration=True)
        if oversample:
            ds = _oversample(ds, split, seed)
    ds = ds.batch(batch_size, drop_remainder=False)
    num_classes = split.num_classes

    def finish(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if one_hot and labels.dtype.is_integer:  # soft targets arrive as float rows
            labels = tf.one_hot(labels, num_classes, dtype=tf.float32)
        return tf.cast(images, tf.float32), labels

    return ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE)


def _augmented(
    ds: tf.data.Dataset,
    augmenter: Augmenter,
    seed: int,
    split: Split,
    repeated_batch_size: int | None,
) -> tf.data.Dataset:
    """The batches augmented; with `repeated_batch_size` (a repeating pipeline's batch
    size), each batch is told its epoch."""
    # One fresh seed per batch, a new sequence each epoch, reproducible for a seed.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    if repeated_batch_size is None:
        return tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, batch_seed: augmenter(*batch, batch_seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    # The epoch of each batch: batches are counted across the repeated epochs (each one
    # len(split) examples, oversampled or not).
    batches_per_epoch = max(-(-len(split) // repeated_batch_size), 1)
    epochs = tf.data.Dataset.counter().map(lambda i: i // batches_per_epoch)
    return tf.data.Dataset.zip(ds, seeds, epochs).map(
        lambda batch, batch_seed, epoch: augmenter(*batch, batch_seed, epoch=epoch),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _without_autotuner(ds: tf.data.Dataset) -> tf.data.Dataset:
    # With tf.data's tuner on, dropping an unfinished iterator waits for the tuning
    # thread, which sleeps longer and longer between rounds (up to a minute): Keras drops
    # a validation iterator unfinished after every epoch, and the repeating training
    # iterator is dropped at the end, at the process's exit; each costs seconds
    # (benchmarks/README.md). Without the tuner, AUTOTUNE still maps with one call per
    # core and prefetch still sizes its own buffer.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _as_split(data: ImageDataset | Split, training: bool) -> Split:
    if isinstance(data, Split):
        return data
    if isinstance(data, ImageDataset):
        if not training:
            raise ValueError(
                "for evaluation pass the split itself, e.g. make_pipeline(dataset.validation, "
                "..., training=False)"
            )
        return data.train
    raise TypeError(f"expected an ImageDataset or a Split, got {type(data).__name__}")


def _decoded(
    split: Split, training: bool, seed: int, cache: Any, soft: bool = False
) -> tf.data.Dataset:
    """(uint8 image, int32 label) elements, or with `soft` (uint8 image, float32 row of
    the split's soft targets); files decoded and cached."""
    labels = split.soft_targets.astype(np.float32) if soft else split.labels.astype(np.int32)
    if split.in_memory:
        return tf.data.Dataset.from_tensor_slices((split.images, labels))

    paths = split.paths
    use_pil = split.needs_pil if split.needs_pil is not None else np.zeros(len(split), bool)
    if training:
        # Cache in a mixed class order (files are listed class by class), so a shuffle
        # buffer smaller than the split still mixes classes well.
        order = np.random.default_rng(seed).permutation(len(split))
        paths, labels, use_pil = paths[order], labels[order], use_pil[order]
    size = split.image_size
    if use_pil.any():
        ds = tf.data.Dataset.from_tensor_slices((paths, labels, use_pil))
        ds = ds.map(
            lambda path, label, pil: (decode_image(path, size, pil), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:  # keep Pillow (and the GIL) out of the graph altogether
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        ds = ds.map(
            lambda path, label: (decode_image(path, size), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    ds = ds.ignore_errors(log_warning=True)
    if cache is True:
        ds = ds.cache()
    elif cache:
        ds = ds.cache(os.fspath(cache))
    return ds


def _shuffle_buffer(split: Split) -> int:
    height, width = split.image_size
    fits = _SHUFFLE_BUFFER_BYTES // (height * width * 3)
    return int(min(len(split), max(_MIN_SHUFFLE_BUFFER, fits)))


def _oversample(ds: tf.data.Dataset, split: Split, seed: int) -> tf.data.Dataset:
    # Keep each example with probability min_count / count[label] while cycling through the
    # (cached, reshuffled) data: every class then arrives equally often. The epoch keeps
    # its usual length; an epoch reads about len / (classes * min_count) passes of the cache.
    accept = tf.constant(oversampling_acceptance(split.labels, split.num_classes), tf.float32)
    coins = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)

    def keep(element: tuple[tf.Tensor, tf.Tensor], coin: tf.Tensor) -> tf.Tensor:
        uniform = tf.cast(tf.bitwise.bitwise_and(coin, 0xFFFFFF), tf.float32) / float(2**24)
        return uniform < tf.gather(accept, element[1])

    ds = tf.data.Dataset.zip(ds.repeat(), coins).filter(keep)
    return ds.map(lambda element, coin: element).take(len(split))
