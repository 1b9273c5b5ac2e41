"""BatchNormalization that runs TensorFlow's fused kernel on 4-D NHWC inputs.

Keras 3 computes batch normalization from separate moment, subtract, multiply and add
ops. On CPU that made ResNet-20 training much slower than the same network in
tf_keras, whose BatchNormalization calls the fused (oneDNN-accelerated) kernel
(benchmarks/README.md, "Training throughput"). This subclass
keeps Keras 3's variables, config and semantics and only swaps the computation for
`FusedBatchNormV3` where it applies (TensorFlow backend, 4-D input, channels last, no
mask, no renorm); elsewhere it is the stock layer.

Example:
    >>> import keras, numpy as np
    >>> bn = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    >>> y = bn(np.random.rand(2, 4, 4, 3).astype("float32"), training=True)
    >>> tuple(y.shape)
    (2, 4, 4, 3)
"""

from __future__ import annotations

import keras
from keras import ops

_KERNEL_DTYPES = ("float32", "bfloat16", "float16")


@keras.saving.register_keras_serializable(package="kerascls")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by TensorFlow's fused kernel when it can."""

    def _can_fuse(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # The fused kernel takes bf16/fp16 input and keeps its statistics and arithmetic in
        # float32 (Keras' precision rule), so mixed precision needs no casts around it;
        # casting a bf16 activation to float32 and back doubled the layer's time.
        x = inputs if inputs.dtype in _KERNEL_DTYPES else ops.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels])
        beta = self.beta if self.center else tf.zeros([channels])
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
            )
            # The fused kernel returns the unbiased batch variance (n / (n - 1) times
            # Keras' biased one); over n = batch x height x width values the difference is
            # far below BatchNormalization's own noise.
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1 - self.momentum)
            )
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                gamma,
                beta,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return ops.cast(y, self.compute_dtype)
