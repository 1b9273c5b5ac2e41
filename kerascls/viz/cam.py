"""Grad-CAM and Grad-CAM++: which regions of an image a convolutional layer's evidence for
a class comes from.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a feature map A (h, w, k) by the
mean gradient of the class score over its positions and keeps the positive part of the
weighted sum. Grad-CAM++ (Chattopadhay et al., 2018) weights each position's gradient by
alpha = g^2 / (2 g^2 + sum(A) g^3) before summing, which gives several instances of a
class (or a large object) their full share instead of the single strongest one.

The class score is the logit (see `kerascls.viz.graph`); gradients are taken in one
`tf.function` for a whole batch, never through `model.predict` (whose per-call overhead
on a CPU is more than the explanation itself).

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
    >>> cam = GradCAM(model)
    >>> cam.layer
    'stage2_act2'
    >>> explanation = cam(np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)))
    >>> explanation.heatmaps.shape, explanation.class_indices.shape
    ((2, 16, 16), (2,))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from kerascls.models import find_last_conv_layer
from kerascls.viz.explanation import Explainer
from kerascls.viz.graph import probe_model
from kerascls.viz.images import model_image_size


class GradCAM(Explainer):
    """Grad-CAM (or Grad-CAM++) heatmaps of a classifier, for batches of images.

    Building the probe model and tracing the gradient function cost more than one
    explanation, so an instance is meant to be reused for many images.

    Args:
        model: a Keras 3 classifier (functional, Sequential, or with a nested backbone).
        layer: the layer to explain, a name or "backbone/name" path; default the last
            layer with a spatial output (`kerascls.models.find_last_conv_layer`).
        plus_plus: compute Grad-CAM++ instead of Grad-CAM.

    Raises:
        ModelError: `layer` does not exist or has no spatial output (the message lists
            the layers that do).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> image = np.full((16, 16, 3), 128.0, np.float32)
        >>> GradCAM(model, layer="stage1_act2", plus_plus=True)(image).heatmaps.shape
        (1, 16, 16)
    """

    def __init__(self, model: Any, layer: str | None = None, plus_plus: bool = False):
        self.model = model
        self.layer = layer or find_last_conv_layer(model)
        self.plus_plus = plus_plus
        self.method = "gradcam++" if plus_plus else "gradcam"
        self.size = model_image_size(model)
        self._probe = probe_model(model, [self.layer])
        self._maps = tf.function(self._compute, reduce_retracing=True)

    def _explain(self, batch: np.ndarray, targets: np.ndarray) -> tuple[tf.Tensor, ...]:
        return self._maps(tf.constant(batch), tf.constant(targets))

    def _compute(self, images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, ...]:
        with tf.GradientTape() as tape:
            features, scores, probabilities = self._probe(images, training=False)
            top = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            chosen = tf.where(targets < 0, top, targets)
            # Images are independent (inference mode), so the gradient of the sum is each
            # image's own gradient.
            score = tf.gather(tf.cast(scores, tf.float32), chosen, batch_dims=1)
        grads = tf.cast(tape.gradient(score, features), tf.float32)
        features = tf.cast(features, tf.float32)  # mixed precision: bf16/fp16 maps
        if self.plus_plus:
            grads2 = tf.square(grads)
            total = tf.reduce_sum(features, axis=(1, 2), keepdims=True)
            denominator = 2.0 * grads2 + total * grads2 * grads
            alpha = grads2 / tf.where(denominator != 0.0, denominator, tf.ones_like(denominator))
            weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2))
        else:
            weights = tf.reduce_mean(grads, axis=(1, 2))
        maps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))
        return maps, chosen, tf.cast(probabilities, tf.float32)
