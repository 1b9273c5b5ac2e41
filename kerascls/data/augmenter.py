"""Apply an `AugmentConfig` to a batch of images, seeded, inside tf.data.

Everything works on whole batches (float32 pixels 0-255), drawing per-image parameters:
in tf.data this is far faster than mapping over single images.

What runs where:
- Keras 3 preprocessing layers where their meaning is the one we want: RandomFlip,
  RandAugment, RandomErasing, MixUp, CutMix.
- tf ops where a layer's meaning differs: ImageDataGenerator's rotation/shift/shear/zoom are
  one combined affine transform resampled once (IDG's own composition; chaining four Keras
  layers would resample, and blur, four times, with other units), pad-and-crop draws one
  window per image (Keras' RandomCrop draws one per batch), and brightness is
  multiplicative.

Seeding. Each call takes a seed (an int or a [2] int tensor); the same seed and batch give
the same output. The pipeline passes a fresh seed per batch from `tf.data.Dataset.random`,
which is reproducible with parallel map calls, where a shared random state would not be.
Keras layers take their randomness from a `SeedGenerator` object, so each one gets an
`_InjectedSeed` that hands out seeds derived from the call's seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from kerascls.data.augment_config import AugmentConfig, resolve_augment

# One fixed stream number per operation, so switching one operation on or off does not
# change the random draws of the others.
_CROP, _AFFINE, _CHANNEL, _HFLIP, _VFLIP, _BRIGHT, _RANDAUG, _CUTOUT, _ERASE, _MIX = range(10)
_MID_GREY = 127.5


class _InjectedSeed(keras.random.SeedGenerator):
    """A SeedGenerator whose seeds come from the seed of the current call, not a variable."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self._base: tf.Tensor | None = None
        self._draws = 0

    def start(self, seed: tf.Tensor) -> None:
        self._base, self._draws = seed, 0

    def next(self, ordered: bool = True) -> tf.Tensor:
        # Every draw of a layer needs a distinct seed: fold in a counter.
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._base, self._draws)


def _seeded(layer: keras.layers.Layer) -> tuple[keras.layers.Layer, _InjectedSeed]:
    generator = _InjectedSeed()
    layer.generator = generator
    # With a non-TensorFlow Keras backend, a layer inside tf.data looks its generator up here.
    object.__setattr__(layer, "_backend_generators", {"tensorflow": generator})
    return layer, generator


def as_seed(seed: int | tf.Tensor) -> tf.Tensor:
    """A stateless-RNG seed: an int becomes [seed, 0]; a [2] tensor is used as is (int64)."""
    if isinstance(seed, int):
        return tf.constant([seed, 0], tf.int64)
    return tf.cast(seed, tf.int64)


def _stream(seed: tf.Tensor, number: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, number)


def _uniform(shape: Any, seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, low, high, dtype=tf.float32)


def _transform(
    images: tf.Tensor, transforms: tf.Tensor, fill_mode: str, cval: float, interpolation: str
) -> tf.Tensor:
    # transforms: [n, 8] rows (a0, a1, a2, b0, b1, b2, 0, 0) mapping an output pixel (x, y)
    # to the input point (a0 x + a1 y + a2, b0 x + b1 y + b2); pixel centres are integers.
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.cast(cval, tf.float32),
        interpolation=interpolation,
        fill_mode=fill_mode.upper(),
    )
    # Keep the static shape: some Keras layers (RandomErasing) fail on unknown height/width.
    out.set_shape(images.shape)
    return out


def idg_affine_transforms(
    theta: tf.Tensor,
    tx: tf.Tensor,
    ty: tf.Tensor,
    shear: tf.Tensor,
    zx: tf.Tensor,
    zy: tf.Tensor,
    height: tf.Tensor,
    width: tf.Tensor,
) -> tf.Tensor:
    """ImageDataGenerator's affine transform as [n, 8] ImageProjectiveTransform rows.

    IDG composes rotation @ shift @ shear @ zoom in (row, column) coordinates about the
    image centre and maps output pixels to input pixels; this is the same matrix, written
    in TensorFlow's (x=column, y=row) order.

    Args:
        theta: [n] rotation angles in radians.
        tx: [n] row shifts in pixels (IDG's `tx`, from height_shift_range).
        ty: [n] column shifts in pixels (IDG's `ty`, from width_shift_range).
        shear: [n] shear angles in radians.
        zx: [n] row zoom factors (> 1 zooms out).
        zy: [n] column zoom factors.
        height: image height (scalar float).
        width: image width (scalar float).
    """
    cos, sin = tf.cos(theta), tf.sin(theta)
    zeros, ones = tf.zeros_like(theta), tf.ones_like(theta)

    def matrix(rows: list[list[tf.Tensor]]) -> tf.Tensor:
        return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)  # [n, 3, 3]

    rotation = matrix([[cos, -sin, zeros], [sin, cos, zeros], [zeros, zeros, ones]])
    shift = matrix([[ones, zeros, tx], [zeros, ones, ty], [zeros, zeros, ones]])
    shearing = matrix(
        [[ones, -tf.sin(shear), zeros], [zeros, tf.cos(shear), zeros], [zeros, zeros, ones]]
    )
    zoom = matrix([[zx, zeros, zeros], [zeros, zy, zeros], [zeros, zeros, ones]])
    m = rotation @ shift @ shearing @ zoom
    # About the centre: offset @ m @ reset, with o = size / 2 - 0.5 as IDG.
    o_row, o_col = height / 2 - 0.5, width / 2 - 0.5
    row_offset = o_row - m[:, 0, 0] * o_row - m[:, 0, 1] * o_col + m[:, 0, 2]
    col_offset = o_col - m[:, 1, 0] * o_row - m[:, 1, 1] * o_col + m[:, 1, 2]
    return tf.stack(
        [m[:, 1, 1], m[:, 1, 0], col_offset, m[:, 0, 1], m[:, 0, 0], row_offset, zeros, zeros],
        axis=-1,
    )


def _alternating_flip_mask(images: tf.Tensor, epoch: Any) -> tf.Tensor:
    """[n] bools: mirror image i in this epoch? airbench's alternating flips: a fixed coin
    per image, inverted every epoch. The coin is the parity of the image's pixel sum (exact
    in float32 for 0-255 integers up to 2^24 / 255 pixels), so no index has to travel with
    the image through the cache and the shuffle.

    Example:
        >>> images = tf.constant([[[[1.0, 0.0, 0.0]]], [[[2.0, 0.0, 0.0]]]])
        >>> [_alternating_flip_mask(images, e).numpy().tolist() for e in (0, 1)]
        [[True, False], [False, True]]
    """
    coin = tf.math.floormod(tf.reduce_sum(images, axis=[1, 2, 3]), 2.0)
    parity = tf.cast(tf.math.floormod(tf.cast(epoch, tf.int64), 2), tf.float32)
    return tf.not_equal(coin, parity)


class Augmenter:
    """Applies an `AugmentConfig` to batches: `(images, labels, seed) -> (images, labels)`.

    Images are a float or uint8 batch (n, h, w, 3) on the 0-255 scale and come back float32,
    clipped to [0, 255]. Labels pass through unchanged except with MixUp/CutMix, which need
    one-hot labels and return mixed ones. With `training=False` the batch is returned as is
    (cast to float32): augmentation is for training only.

    Args:
        config: an `AugmentConfig`, a preset name ("none", "cifar", "standard", "strong") or
            a dict of fields.

    Example:
        >>> import numpy as np
        >>> augment = Augmenter("cifar")
        >>> images = np.zeros((4, 32, 32, 3), np.uint8)
        >>> out, labels = augment(images, np.arange(4), seed=0)
        >>> out.shape, out.dtype
        (TensorShape([4, 32, 32, 3]), tf.float32)
    """

    def __init__(self, config: AugmentConfig | str | Mapping[str, Any] | None = None) -> None:
        self.config = resolve_augment(config)
        c = self.config
        self._layers: dict[int, tuple[keras.layers.Layer, _InjectedSeed]] = {}
        if c.horizontal_flip:
            self._layers[_HFLIP] = _seeded(keras.layers.RandomFlip("horizontal"))
        if c.vertical_flip:
            self._layers[_VFLIP] = _seeded(keras.layers.RandomFlip("vertical"))
        if c.randaugment_ops:
            self._layers[_RANDAUG] = _seeded(
                keras.layers.RandAugment(
                    value_range=(0, 255),
                    num_ops=c.randaugment_ops,
                    factor=c.randaugment_magnitude,
                )
            )
        if c.random_erasing:
            p = c.random_erasing
            self._layers[_ERASE] = _seeded(
                keras.layers.RandomErasing(factor=(p, p), value_range=(0, 255))
            )
        self._mixers = []
        if c.mixup_alpha:
            self._mixers.append(_seeded(keras.layers.MixUp(alpha=c.mixup_alpha)))
        if c.cutmix_alpha:
            alpha = c.cutmix_alpha  # Keras draws alpha uniformly from (low, high): pin it
            self._mixers.append(_seeded(keras.layers.CutMix(factor=(alpha, alpha))))

    def __call__(
        self,
        images: Any,
        labels: Any,
        seed: int | tf.Tensor = 0,
        training: bool = True,
        epoch: int | tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Augment one batch; `epoch` (the pipeline's epoch number) drives alternating
        flips, which fall back to random ones without it."""
        images = tf.cast(images, tf.float32)
        labels = tf.convert_to_tensor(labels)
        if not training or self.config.is_identity:
            return images, labels
        if self.config.soft_labels and (labels.shape.rank != 2 or not labels.dtype.is_floating):
            raise ValueError(
                "MixUp/CutMix mix labels and need one-hot float labels of shape (n, classes); "
                "build the pipeline with make_pipeline(..., one_hot=True)"
            )
        seed = as_seed(seed)
        c = self.config
        alternate = c.alternating_flip and epoch is not None
        if alternate:
            # the coin is read before any transform changes the pixels
            flip = _alternating_flip_mask(images, epoch)
        if c.crop_padding:
            images = self._pad_and_crop(images, _stream(seed, _CROP))
        if c.has_affine:
            images = self._affine(images, _stream(seed, _AFFINE))
        if c.channel_shift_range:
            r = c.channel_shift_range
            images = images + _uniform(
                [tf.shape(images)[0], 1, 1, 3], _stream(seed, _CHANNEL), -r, r
            )
        if alternate:
            images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
        else:
            images = self._layer(_HFLIP, images, seed)
        images = self._layer(_VFLIP, images, seed)
        if c.brightness_range is not None:
            low, high = c.brightness_range
            images = images * _uniform(
                [tf.shape(images)[0], 1, 1, 1], _stream(seed, _BRIGHT), low, high
            )
        images = tf.clip_by_value(images, 0.0, 255.0)
        images = self._layer(_RANDAUG, images, seed)
        if c.cutout:
            images = self._cutout(images, _stream(seed, _CUTOUT))
        images = self._layer(_ERASE, images, seed)
        if self._mixers:
            images, labels = self._mix(images, tf.cast(labels, tf.float32), _stream(seed, _MIX))
        return tf.clip_by_value(images, 0.0, 255.0), labels

    def _layer(self, number: int, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        if number not in self._layers:
            return images
        layer, generator = self._layers[number]
        generator.start(_stream(seed, number))
        return tf.cast(layer(images, training=True), tf.float32)

    def _pad_and_crop(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        # Padding by p then cropping at offset (p + dy, p + dx) is a shift by whole pixels
        # with zero (or mirrored) fill: one nearest-neighbour transform, no padded copy.
        p = self.config.crop_padding
        n = tf.shape(images)[0]
        shifts = tf.random.stateless_uniform([n, 2], seed, -p, p + 1, dtype=tf.int32)
        shifts = tf.cast(shifts, tf.float32)
        zeros, ones = tf.zeros([n]), tf.ones([n])
        transforms = tf.stack(
            [ones, zeros, shifts[:, 0], zeros, ones, shifts[:, 1], zeros, zeros], axis=-1
        )
        return _transform(images, transforms, self.config.crop_fill, 0.0, "NEAREST")

    def _affine(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        c = self.config
        n = tf.shape(images)[0]
        height = tf.cast(tf.shape(images)[1], tf.float32)
        width = tf.cast(tf.shape(images)[2], tf.float32)
        seeds = tf.random.experimental.stateless_split(seed, 6)

        def draw(i: int, r: float) -> tf.Tensor:
            return _uniform([n], seeds[i], -r, r) if r else tf.zeros([n])

        # Shift ranges below 1 are fractions of the size, as in IDG; >= 1 are pixels.
        tx = draw(1, c.height_shift_range) * (height if c.height_shift_range < 1 else 1.0)
        ty = draw(2, c.width_shift_range) * (width if c.width_shift_range < 1 else 1.0)
        low, high = c.zoom_bounds
        transforms = idg_affine_transforms(
            theta=draw(0, c.rotation_range) * (math.pi / 180),
            tx=tx,
            ty=ty,
            shear=draw(3, c.shear_range) * (math.pi / 180),
            zx=_uniform([n], seeds[4], low, high),
            zy=_uniform([n], seeds[5], low, high),
            height=height,
            width=width,
        )
        return _transform(images, transforms, c.fill_mode, c.cval, "BILINEAR")

    def _cutout(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        side = self.config.cutout
        shape = tf.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        seeds = tf.random.experimental.stateless_split(seed, 2)
        # Centre anywhere in the image; the square is clipped at the borders (as the paper).
        cy = tf.random.stateless_uniform([n, 1, 1, 1], seeds[0], 0, height, dtype=tf.int32)
        cx = tf.random.stateless_uniform([n, 1, 1, 1], seeds[1], 0, width, dtype=tf.int32)
        rows = tf.range(height)[None, :, None, None]
        cols = tf.range(width)[None, None, :, None]
        half = side // 2
        inside = (
            (rows >= cy - half)
            & (rows < cy - half + side)
            & (cols >= cx - half)
            & (cols < cx - half + side)
        )
        return tf.where(inside, tf.constant(_MID_GREY, tf.float32), images)

    def _mix(
        self, images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        def run(index: int) -> tuple[tf.Tensor, tf.Tensor]:
            layer, generator = self._mixers[index]
            generator.start(_stream(seed, index))
            out = layer({"images": images, "labels": labels}, training=True)
            return tf.cast(out["images"], tf.float32), tf.cast(out["labels"], tf.float32)

        if len(self._mixers) == 1:
            return run(0)
        # MixUp and CutMix both on: one of them per batch, each half of the time (as timm).
        use_cutmix = _uniform([], _stream(seed, len(self._mixers)), 0.0, 1.0) < 0.5
        return tf.cond(use_cutmix, lambda: run(1), lambda: run(0))
