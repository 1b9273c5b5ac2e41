"""Channel-wise mean and standard deviation of the training images, on the 0-255 scale.

The model's first layer (keras.layers.Normalization) standardizes with these, so exported
models take raw pixels. They are measured in one streamed pass over batches: each batch is
reduced inside tf.data to (count, mean, M2) in float64, and the per-batch figures are merged
with Chan et al.'s parallel variance formula, which stays accurate where a running sum of
squares would cancel. Memory use is one batch, whatever the dataset size.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerascls.data.dataset import ImageDataset, Split
from kerascls.data.pipeline import make_pipeline


def channel_statistics(
    data: ImageDataset | Split | tf.data.Dataset | np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) standard deviation of the pixels, 0-255 scale.

    Args:
        data: an `ImageDataset` (its train split is measured), a `Split`, a uint8/float
            array (N, H, W, 3), or a tf.data.Dataset of image batches or (images, labels)
            batches.
        batch_size: images per streamed batch (for splits and arrays).

    Returns:
        (mean, std): two float64 arrays of shape (3,). Feed the model's Normalization
        layer mean=mean and variance=std**2.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
        >>> mean, std = channel_statistics(x)
        >>> np.allclose(mean, x.mean(axis=(0, 1, 2))), np.allclose(std, x.std(axis=(0, 1, 2)))
        (True, True)
    """
    if isinstance(data, ImageDataset):
        data = data.train
    if isinstance(data, Split):
        # No cache: statistics are measured once, and caching would hold the whole split.
        ds = make_pipeline(data, batch_size, training=False, cache=False)
    elif isinstance(data, np.ndarray):
        ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    elif isinstance(data, tf.data.Dataset):
        ds = data
    else:
        raise TypeError(f"cannot measure statistics of a {type(data).__name__}")

    def reduce(*batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        images = tf.cast(batch[0], tf.float64)
        pixels = tf.reshape(images, [-1, tf.shape(images)[-1]])
        count = tf.cast(tf.shape(pixels)[0], tf.float64)
        mean = tf.reduce_mean(pixels, axis=0)
        m2 = tf.reduce_sum(tf.square(pixels - mean), axis=0)
        return count, mean, m2

    total, mean, m2 = 0.0, np.zeros(3), np.zeros(3)
    for count, batch_mean, batch_m2 in ds.map(reduce, num_parallel_calls=tf.data.AUTOTUNE):
        count, batch_mean, batch_m2 = float(count), batch_mean.numpy(), batch_m2.numpy()
        if count == 0:
            continue
        delta = batch_mean - mean
        merged = total + count
        mean = mean + delta * (count / merged)
        m2 = m2 + batch_m2 + delta**2 * (total * count / merged)
        total = merged
    if total == 0:
        raise ValueError("no images to measure statistics on")
    return mean, np.sqrt(m2 / total)
