"""Exact GELU whose training pass is two compiled loops instead of a dozen kernels.

TensorFlow computes `gelu(x) = x * (1 + erf(x / sqrt(2))) / 2` as separate element-wise
kernels, and its gradient as as many again; each reads and writes the whole activation,
and in bfloat16 each converts every element on its own. On a CPU that made GELU the
largest cost of an airbench training step, ahead of every convolution, and far more
than the two XLA-compiled functions below take (benchmarks/README.md, "Where the step's
time went").

`Gelu` is `keras.layers.Activation("gelu")` with that training path: the same config
and no variables, so a portable file names the stock layer and loads without kerascls.
Float32 inference and export trace the stock activation (the fused path is taken in
training and for bf16/fp16 inputs, i.e. fit's validation under mixed precision), so
exporters and converters see the ops they always did.

Example:
    >>> import keras, numpy as np
    >>> x = np.linspace(-3, 3, 7, dtype="float32")
    >>> trained = Gelu()(x, training=True)
    >>> bool(np.allclose(trained, keras.activations.gelu(x, approximate=False), atol=1e-6))
    True
"""

from __future__ import annotations

import functools
import math
from typing import Any

import keras

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOW_PRECISION = ("bfloat16", "float16")


@functools.cache
def _gelu_with_compiled_gradient() -> Any:
    """GELU as a `tf.custom_gradient` of two loops that XLA compiles once per shape and
    dtype: the forward and the gradient.

    Both compute in float32 whatever the input dtype (as PyTorch's bf16 GELU does), so a
    bf16 activation is rounded once, on the way out.
    """
    import tensorflow as tf

    @tf.function(jit_compile=True, autograph=False)
    def forward(x):
        xf = tf.cast(x, tf.float32)
        return tf.cast(xf * (0.5 + 0.5 * tf.math.erf(xf * _INV_SQRT2)), x.dtype)

    @tf.function(jit_compile=True, autograph=False)
    def backward(x, dy):
        xf = tf.cast(x, tf.float32)
        cdf = 0.5 + 0.5 * tf.math.erf(xf * _INV_SQRT2)
        pdf = tf.exp(-0.5 * xf * xf) * _INV_SQRT_2PI
        return tf.cast(tf.cast(dy, tf.float32) * (cdf + xf * pdf), x.dtype)

    @tf.custom_gradient
    def gelu(x):
        return forward(x), lambda dy: backward(x, dy)

    return gelu


def fused_gelu(x: Any) -> Any:
    """Exact (erf) GELU of a TensorFlow tensor, with a compiled forward and gradient.

    Example:
        >>> import tensorflow as tf
        >>> round(float(fused_gelu(tf.constant(1.0))), 4)
        0.8413
    """
    return _gelu_with_compiled_gradient()(x)


@keras.saving.register_keras_serializable(package="kerascls")
class Gelu(keras.layers.Activation):
    """`Activation("gelu")` (exact) that trains through `fused_gelu` on TensorFlow.

    Args:
        **kwargs: layer arguments (name, dtype); an `activation` entry from a saved
            config must be "gelu".

    Example:
        >>> import keras
        >>> x = keras.Input((8, 8, 4))
        >>> Gelu(name="block1_act1")(x).shape
        (None, 8, 8, 4)
    """

    def __init__(self, **kwargs):
        activation = kwargs.pop("activation", "gelu")
        if activation != "gelu":
            raise ValueError(f"Gelu's activation is 'gelu', got {activation!r}")
        super().__init__("gelu", **kwargs)

    def call(self, inputs, training=None):
        # Training, and mixed-precision inference (the validation pass inside fit): saved
        # models always load as float32 (models.saving), so an exported graph never
        # takes this path and keeps the stock ops.
        fused = training or keras.backend.standardize_dtype(inputs.dtype) in _LOW_PRECISION
        if fused and keras.backend.backend() == "tensorflow":
            return fused_gelu(inputs)
        return super().call(inputs)
