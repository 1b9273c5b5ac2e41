"""Attention rollout (Abnar & Zuidema 2020) for kerascls's Vision Transformers.

Each block's attention, averaged over heads, is mixed half-and-half with the identity
(the residual connection carries the token itself) and renormalised per row; the
product over the blocks, first block rightmost, says how much each output token draws on
each input patch. The map is that relevance of the patches for the token the head reads:
the class token's row (`pool="token"`), or the mean of the patch rows (`pool="avg"`,
since the head averages the patch tokens). It is upsampled to the image like Grad-CAM's.

Rollout is class-agnostic: `class_index` only sets which class the returned Explanation
names. For a class-specific map of a ViT use Grad-CAM, whose default layer on
`pool="avg"` ViTs is "patch_grid" (the last block's tokens as the patch grid).

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("vit_tiny", 3, (32, 32, 3), depth=2)
    >>> AttentionRollout(model)(np.zeros((32, 32, 3))).heatmaps.shape
    (1, 32, 32)
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kerascls.errors import ModelError
from kerascls.models.layers.tokens import PositionEmbedding
from kerascls.viz.explanation import Explainer
from kerascls.viz.images import model_image_size


class AttentionRollout(Explainer):
    """Attention-rollout maps of a ViT, for batches of images.

    Args:
        model: a Keras 3 model with `keras.layers.MultiHeadAttention` self-attention
            layers over patch tokens (the "vit_*" models).
        residual: weight of the identity mixed into each block's attention (0.5 in the
            paper).

    Raises:
        ModelError: the model has no self-attention layers.
    """

    method = "attention_rollout"

    def __init__(self, model: Any, residual: float = 0.5):
        attention = [
            layer for layer in model.layers if isinstance(layer, keras.layers.MultiHeadAttention)
        ]
        if not attention:
            raise ModelError(
                f"model {model.name!r} has no MultiHeadAttention layers; attention rollout "
                "needs a Vision Transformer (use gradcam for convolutional models)"
            )
        self.model = model
        self.residual = float(residual)
        self.size = model_image_size(model)
        self._attention = attention
        # The query each attention layer was called on; its scores are recomputed from it.
        queries = [layer._inbound_nodes[0].input_tensors[0] for layer in attention]
        self._probe = keras.Model(model.inputs[0], [*queries, model.outputs[0]])
        tokens = int(queries[0].shape[1])
        self._grid, self._prefix = self._patch_grid(model, tokens)
        self._maps = tf.function(self._compute, reduce_retracing=True)

    @staticmethod
    def _patch_grid(model: Any, tokens: int) -> tuple[tuple[int, int], int]:
        for layer in model.layers:
            if isinstance(layer, PositionEmbedding):
                return layer.grid, layer.num_prefix
        side = math.isqrt(tokens)  # no PositionEmbedding: a square grid, no prefix token
        return (side, side), tokens - side * side

    def _explain(self, batch: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
        maps, probabilities = self._maps(tf.constant(batch))
        probabilities = np.asarray(probabilities, np.float32)
        chosen = np.where(targets < 0, probabilities.argmax(1), targets)
        return np.asarray(maps), chosen, probabilities

    def _compute(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        *queries, probabilities = self._probe(images, training=False)
        rollout = None
        for layer, query in zip(self._attention, queries, strict=True):
            _, scores = layer(query, query, return_attention_scores=True, training=False)
            weights = tf.reduce_mean(tf.cast(scores, tf.float32), axis=1)  # over heads
            eye = tf.eye(tf.shape(weights)[-1], dtype=tf.float32)
            weights = self.residual * eye + (1.0 - self.residual) * weights
            weights /= tf.reduce_sum(weights, axis=-1, keepdims=True)
            rollout = weights if rollout is None else tf.matmul(weights, rollout)
        # the class token's row (it is what the head reads), else the mean of the patch
        # rows (the head averages the patch tokens)
        p = self._prefix
        relevance = rollout[:, 0, p:] if p else tf.reduce_mean(rollout, axis=1)
        maps = tf.reshape(relevance, [-1, self._grid[0], self._grid[1]])
        return maps, tf.cast(probabilities, tf.float32)
