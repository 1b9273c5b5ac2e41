"""Keras 3 layers with learned weights that no built-in layer holds: for ViT and ConvNeXt.

- `ClassToken`: prepends one learned token to a token sequence (ViT's "cls" token).
- `PositionEmbedding`: adds learned position embeddings for a `grid` of patches (after
  `num_prefix` leading tokens). Loading weights stored for another grid (a model trained
  at 32x32 loaded into one built at 48x48) interpolates them bicubically, as timm and
  the ViT paper do, instead of failing on the shape: see `load_own_variables`.
- `LayerScale`: a learned per-channel scale, initialised small (ConvNeXt's 1e-6), that
  lets a deep residual stack start close to the identity.
- `gelu_tanh`: GELU in its tanh approximation (as BERT and GPT-2), the activation of
  the ViT and ConvNeXt MLPs. The exact GELU traces to TensorFlow's Erfc, which tf2onnx
  writes but ONNX Runtime rejects (no Erfc operator); the tanh form exports everywhere
  (TFLite float and INT8, ONNX) and differs from the exact one by < 1e-3.

The class token and position embeddings are named "class_token" and
"position_embedding": kerascls's optimizers keep weight decay off them, as DeiT does.

These are Keras 3 layers (registered as "kerascls>..."), so models that use them cannot
be rebuilt with tf_keras (`supports_tf_keras=False`).

Example:
    >>> import keras
    >>> tokens = keras.Input((16, 8))
    >>> x = PositionEmbedding(grid=(4, 4), num_prefix=1)(ClassToken()(tokens))
    >>> x.shape
    (None, 17, 8)
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerascls.errors import ModelError


@keras.saving.register_keras_serializable(package="kerascls")
def gelu_tanh(x: Any) -> Any:
    """GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.

    Example:
        >>> round(float(gelu_tanh(keras.ops.convert_to_tensor(1.0))), 4)
        0.8412
    """
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="kerascls")
class ClassToken(keras.layers.Layer):
    """Prepend one learned token (zeros at first, like the ViT reference code)."""

    def build(self, input_shape: Any) -> None:
        shape = (1, 1, input_shape[-1])
        self.token = self.add_weight(shape=shape, initializer="zeros", name="class_token")

    def call(self, inputs: Any) -> Any:
        token = ops.cast(ops.tile(self.token, [ops.shape(inputs)[0], 1, 1]), inputs.dtype)
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


def resize_position_embedding(
    embedding: np.ndarray, grid: tuple[int, int], num_prefix: int = 0
) -> np.ndarray:
    """Resize position embeddings `(1, num_prefix + h0*w0, dim)` to `grid` (bicubic).

    The stored grid must be square (h0 = w0), since only its length is stored; the prefix
    (class) tokens are kept as they are.

    Example:
        >>> resize_position_embedding(np.zeros((1, 1 + 16, 8)), (6, 6), num_prefix=1).shape
        (1, 37, 8)
    """
    prefix, patches = embedding[:, :num_prefix], embedding[:, num_prefix:]
    side = math.isqrt(patches.shape[1])
    if side * side != patches.shape[1]:
        raise ModelError(
            f"cannot interpolate position embeddings of {patches.shape[1]} patches: only a "
            "square grid can be inferred from a stored embedding"
        )
    image = patches.reshape(1, side, side, -1)
    resized = ops.image.resize(image, grid, interpolation="bicubic", antialias=False)
    resized = ops.convert_to_numpy(resized).reshape(1, grid[0] * grid[1], -1)
    return np.concatenate([prefix, resized.astype(embedding.dtype)], axis=1)


@keras.saving.register_keras_serializable(package="kerascls")
class PositionEmbedding(keras.layers.Layer):
    """Add learned position embeddings for `num_prefix` tokens then a `grid` of patches.

    Args:
        grid: `(rows, cols)` of the patch grid this layer is built for.
        num_prefix: leading tokens (1 with a class token, else 0).
    """

    def __init__(self, grid: tuple[int, int], num_prefix: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_prefix = int(num_prefix)

    def build(self, input_shape: Any) -> None:
        length = self.num_prefix + self.grid[0] * self.grid[1]
        if input_shape[1] is not None and input_shape[1] != length:
            raise ModelError(
                f"{self.name}: {input_shape[1]} tokens given for a {self.grid} grid with "
                f"{self.num_prefix} prefix token(s) ({length} expected)"
            )
        self.embedding = self.add_weight(
            shape=(1, length, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="position_embedding",
        )

    def call(self, inputs: Any) -> Any:
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def load_own_variables(self, store: Any) -> None:
        # Weights saved for another input size (another grid) are interpolated, so that
        # `load_weights` of a ViT trained at 32x32 works in one built at 48x48.
        stored = np.asarray(store["0"])
        if stored.shape != tuple(self.embedding.shape):
            stored = resize_position_embedding(stored, self.grid, self.num_prefix)
        self.embedding.assign(stored)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "grid": self.grid, "num_prefix": self.num_prefix}


@keras.saving.register_keras_serializable(package="kerascls")
class LayerScale(keras.layers.Layer):
    """Multiply the last axis by a learned vector initialised to `init` (ConvNeXt, CaiT).

    Args:
        init: the initial value of every scale.
    """

    def __init__(self, init: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.init = float(init)

    def build(self, input_shape: Any) -> None:
        self.gamma = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init),
            name="gamma",
        )

    def call(self, inputs: Any) -> Any:
        return inputs * ops.cast(self.gamma, inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "init": self.init}
