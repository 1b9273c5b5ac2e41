"""Convolution, batch normalization, activation: the unit every CNN here is made of.

Layer names follow one pattern, `{prefix}conv{suffix}`, `{prefix}bn{suffix}` and
`{prefix}act{suffix}`, so prefix "stage2_block1_" and suffix "1" give
"stage2_block1_conv1", "stage2_block1_bn1", "stage2_block1_act1", and prefix "stem_" gives
"stem_conv", "stem_bn", "stem_act".

Example:
    >>> import keras
    >>> from kerascls.models.layers import conv_bn_act
    >>> x = keras.Input((32, 32, 3))
    >>> y = conv_bn_act(keras, x, 16, 3, strides=2, prefix="stage1_block1_", suffix="1")
    >>> y.shape
    (None, 16, 16, 16)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kerascls.models.layers.activations import activation as apply_activation

# PyTorch's defaults (momentum 0.1 there), as in our PyTorch peer benchmark. Keras' own
# momentum of 0.99 makes the moving statistics lag badly in short CIFAR runs.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def batch_normalization(K: ModuleType, name: str) -> Any:
    """A BatchNormalization layer: tf_keras' own (already fused) or, on Keras 3, the
    subclass that calls TensorFlow's fused kernel (same variables, a third faster on CPU)."""
    if K.__name__ == "keras":
        from kerascls.models.layers.fused_batchnorm import FusedBatchNormalization

        return FusedBatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)
    return K.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def conv_bn_act(
    K: ModuleType,
    x: Any,
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    activation: str | None = "relu",
    prefix: str,
    suffix: str = "",
    batchnorm: bool = True,
    depthwise: bool = False,
) -> Any:
    """Apply a "same"-padded convolution, batch normalization and an activation.

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: a 4-D input tensor.
        filters: output channels (ignored when `depthwise`, which keeps the channels).
        kernel_size: square kernel size.
        strides: convolution stride.
        activation: a name from `layers.ACTIVATIONS`, or None for no activation.
        prefix: start of every layer name, e.g. "stage2_block1_".
        suffix: end of every layer name, e.g. "1".
        batchnorm: add BatchNormalization (the convolution then has no bias).
        depthwise: use a DepthwiseConv2D instead of a Conv2D.

    Example:
        >>> import keras
        >>> x = keras.Input((8, 8, 16))
        >>> conv_bn_act(keras, x, 0, 3, depthwise=True, prefix="block1_dw_").shape
        (None, 8, 8, 16)
    """
    conv_name = f"{prefix}conv{suffix}"
    if depthwise:
        x = K.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding="same", use_bias=not batchnorm, name=conv_name
        )(x)
    else:
        x = K.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=not batchnorm,
            kernel_initializer="he_normal",
            name=conv_name,
        )(x)
    if batchnorm:
        x = batch_normalization(K, f"{prefix}bn{suffix}")(x)
    return apply_activation(K, x, activation, f"{prefix}act{suffix}")
