"""Model-agnostic explanations: vanilla gradient saliency and occlusion sensitivity.

Saliency (Simonyan et al., 2014): the gradient of the class score with respect to the input
pixels, its absolute value maximised over the colour channels. It needs no convolutional
layer, so it works for any differentiable model; it is noisy, and a few pixels can have
gradients far above the rest, so maps are scaled by their 99th percentile (and clipped)
rather than by their maximum, which would leave everything else black.

Occlusion (Zeiler & Fergus, 2014): slide a square of the image's mean colour over the
image and record how much the class probability drops where it covers. It needs only
forward passes (any model, even a non-differentiable one) and is slower: one forward pass
per position, run in batches.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
    >>> image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3))
    >>> Saliency(model)(image).heatmaps.shape
    (1, 16, 16)
    >>> float(Occlusion(model, patch=4, stride=2)(image).heatmaps.max()) <= 1.0
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from kerascls.errors import KerasclsError
from kerascls.viz.explanation import Explainer
from kerascls.viz.graph import probe_model
from kerascls.viz.images import model_image_size


class Saliency(Explainer):
    """Vanilla gradient saliency maps of a classifier, for batches of images.

    Args:
        model: a Keras 3 classifier taking 0-255 RGB pixels.
        percentile: the percentile of each map that is scaled to 1 (higher values clip).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
        >>> Saliency(model)(np.zeros((3, 16, 16, 3))).class_indices.shape
        (3,)
    """

    method = "saliency"

    def __init__(self, model: Any, percentile: float = 99.0):
        self.model = model
        self.percentile = percentile
        self.size = model_image_size(model)
        self._probe = probe_model(model)
        self._maps = tf.function(self._compute, reduce_retracing=True)

    def _explain(self, batch: np.ndarray, targets: np.ndarray) -> tuple[Any, ...]:
        maps, chosen, probabilities = self._maps(tf.constant(batch), tf.constant(targets))
        maps = np.asarray(maps)
        scale = np.percentile(maps.reshape(len(maps), -1), self.percentile, axis=1)
        maps = np.minimum(maps / np.maximum(scale, 1e-12)[:, None, None], 1.0)
        return maps, chosen, probabilities

    def _compute(self, images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, ...]:
        with tf.GradientTape() as tape:
            tape.watch(images)
            scores, probabilities = self._probe(images, training=False)
            top = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            chosen = tf.where(targets < 0, top, targets)
            score = tf.gather(tf.cast(scores, tf.float32), chosen, batch_dims=1)
        grads = tape.gradient(score, images)
        return tf.reduce_max(tf.abs(grads), axis=-1), chosen, tf.cast(probabilities, tf.float32)


class Occlusion(Explainer):
    """Occlusion-sensitivity maps: the drop in class probability where a patch hides the image.

    Args:
        model: a Keras 3 classifier taking 0-255 RGB pixels.
        patch: side of the square patch in input pixels; default 1/8 of the shorter side
            (at least 2).
        stride: step between patch positions; default half the patch.
        batch_size: occluded images per forward pass.

    Raises:
        KerasclsError: a patch or stride below 1, or a patch larger than the image.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
        >>> Occlusion(model, patch=8, stride=8)(np.zeros((16, 16, 3))).heatmaps.shape
        (1, 16, 16)
    """

    method = "occlusion"

    def __init__(
        self, model: Any, patch: int | None = None, stride: int | None = None, batch_size: int = 64
    ):
        self.model = model
        self.size = model_image_size(model)
        self.patch, self.stride, self.batch_size = patch, stride, batch_size
        self._predict = tf.function(
            lambda x: tf.cast(model(x, training=False), tf.float32), reduce_retracing=True
        )

    def _geometry(self, height: int, width: int) -> tuple[int, int]:
        patch = self.patch or max(2, min(height, width) // 8)
        stride = self.stride or max(1, patch // 2)
        if patch < 1 or stride < 1 or patch > min(height, width):
            raise KerasclsError(
                f"occlusion patch {patch} and stride {stride} do not fit a {height}x{width} "
                "image: use 1 <= patch <= the image side and stride >= 1"
            )
        return patch, stride

    def _explain(self, batch: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
        probabilities = np.asarray(self._predict(tf.constant(batch)))
        chosen = np.where(targets < 0, probabilities.argmax(axis=-1), targets)
        maps = np.stack(
            [
                self._sensitivity(image, int(c), float(p[c]))
                for image, c, p in zip(batch, chosen, probabilities, strict=True)
            ]
        )
        return maps, chosen, probabilities

    def _sensitivity(self, image: np.ndarray, target: int, baseline: float) -> np.ndarray:
        height, width = image.shape[:2]
        patch, stride = self._geometry(height, width)
        # The last position is flush with the edge, so every pixel is covered at least once.
        rows = sorted({*range(0, height - patch + 1, stride), height - patch})
        cols = sorted({*range(0, width - patch + 1, stride), width - patch})
        positions = [(r, c) for r in rows for c in cols]
        fill = image.mean(axis=(0, 1))  # the mean colour adds no edges or colours of its own
        drops = []
        for start in range(0, len(positions), self.batch_size):
            chunk = positions[start : start + self.batch_size]
            occluded = np.repeat(image[None], len(chunk), axis=0)
            for i, (r, c) in enumerate(chunk):
                occluded[i, r : r + patch, c : c + patch] = fill
            drops.append(baseline - np.asarray(self._predict(tf.constant(occluded)))[:, target])
        drops = np.concatenate(drops)
        total = np.zeros((height, width), np.float64)
        count = np.zeros((height, width), np.float64)
        for (r, c), drop in zip(positions, drops, strict=True):
            total[r : r + patch, c : c + patch] += drop
            count[r : r + patch, c : c + patch] += 1
        # Only drops are evidence for the class; a rise means the patch hid counter-evidence.
        return np.maximum(total / count, 0.0).astype(np.float32)
