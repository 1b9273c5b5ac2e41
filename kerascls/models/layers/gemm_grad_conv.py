"""Conv2D whose kernel gradient is nine matrix products, for wide layers on small maps.

TensorFlow computes a convolution's kernel gradient with oneDNN's backward-weights
kernel. For airbench's 256-channel layers on 7x7 and 3x3 maps that kernel was the most
expensive op of the training step on a CPU in bf16, far slower than the forward
convolution of the same size. Written as one matrix product per kernel position, shifted
input (channels x positions) times output gradient (positions x filters), the same
gradient is faster there. On narrow layers with large maps the matrix products are the
slower way (figures in benchmarks/README.md, "Where the step's time went"), so
`GemmGradConv2D` takes that path only where it was measured to pay: bf16 on a CPU,
stride 1, "same" padding, at least 128 channels in and out, and maps of at most 8x8
positions. Elsewhere, and outside training, it is the stock layer.

Example:
    >>> import keras, numpy as np
    >>> conv = GemmGradConv2D(128, 3, padding="same", use_bias=False, dtype="mixed_bfloat16")
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 4, 128)).astype("float32")
    >>> bool(np.allclose(conv(x, training=True), conv(x, training=False), atol=1e-2))
    True
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

MIN_CHANNELS = 128  # in and out: below this the matrix products are too thin to pay
MAX_POSITIONS = 64  # height x width: 8x8 and smaller


def conv2d_gemm_kernel_grad(x: Any, kernel: Any) -> Any:
    """`tf.nn.conv2d(x, kernel, 1, "SAME")` whose kernel gradient is computed as
    kh * kw matrix products; the input gradient stays oneDNN's.

    Args:
        x: a (batch, height, width, in_channels) tensor with static height and width.
        kernel: a (kh, kw, in_channels, filters) tensor of the same dtype, kh and kw odd.

    Example:
        >>> import tensorflow as tf
        >>> x, k = tf.ones((1, 3, 3, 2)), tf.ones((3, 3, 2, 4))
        >>> float(conv2d_gemm_kernel_grad(x, k)[0, 1, 1, 0])
        18.0
    """
    import tensorflow as tf

    @tf.custom_gradient
    def conv(x, kernel):
        y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")

        def grad(dy):
            dx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x),
                filter=kernel,
                out_backprop=dy,
                strides=[1, 1, 1, 1],
                padding="SAME",
            )
            return dx, _kernel_gradient(x, dy, kernel.shape)

        return y, grad

    return conv(x, kernel)


def _kernel_gradient(x: Any, dy: Any, kernel_shape: Any) -> Any:
    """d(loss)/d(kernel)[i, j] = (x shifted by (i, j))^T . dy, over all batch positions."""
    import tensorflow as tf

    kh, kw, channels, filters = (int(n) for n in kernel_shape)
    height, width = int(x.shape[1]), int(x.shape[2])
    padded = tf.pad(x, [[0, 0], [kh // 2, kh // 2], [kw // 2, kw // 2], [0, 0]])
    gradient = tf.reshape(dy, [-1, filters])
    products = [
        tf.matmul(
            tf.reshape(padded[:, i : i + height, j : j + width, :], [-1, channels]),
            gradient,
            transpose_a=True,
        )
        for i in range(kh)
        for j in range(kw)
    ]
    return tf.reshape(tf.stack(products), [kh, kw, channels, filters])


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@keras.saving.register_keras_serializable(package="kerascls")
class GemmGradConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` that trains wide, small-map layers through
    `conv2d_gemm_kernel_grad`; the same config and variables as the stock layer.

    Args:
        *args, **kwargs: those of `keras.layers.Conv2D`.

    Example:
        >>> import keras
        >>> x = keras.Input((7, 7, 256))
        >>> GemmGradConv2D(256, 3, padding="same", name="block3_conv1")(x).shape
        (None, 7, 7, 256)
    """

    def _gemm_pays(self, inputs: Any) -> bool:
        height, width = inputs.shape[1], inputs.shape[2]
        return (
            keras.backend.backend() == "tensorflow"
            # it pays on CPUs in bf16 only: in float32 the products were slower
            # (benchmarks/README.md), and GPUs have cuDNN's kernel
            and keras.backend.standardize_dtype(inputs.dtype) == "bfloat16"
            and not _has_gpu()
            and len(inputs.shape) == 4
            and self.data_format == "channels_last"
            and self.padding == "same"
            and tuple(self.strides) == (1, 1)
            and tuple(self.dilation_rate) == (1, 1)
            and self.groups == 1
            and all(k % 2 == 1 for k in self.kernel_size)
            and height is not None
            and width is not None
            and height * width <= MAX_POSITIONS
            and min(int(inputs.shape[-1]), self.filters) >= MIN_CHANNELS
        )

    def call(self, inputs, training=None):
        if not (training and self._gemm_pays(inputs)):
            return super().call(inputs)
        outputs = conv2d_gemm_kernel_grad(inputs, ops.cast(self.kernel, self.compute_dtype))
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, self.compute_dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
