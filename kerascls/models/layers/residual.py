"""Residual blocks of He et al. (2016): the basic block and the bottleneck block.

Both use a 1x1 convolution + BN projection shortcut where the shape changes (stride or
width) and an identity shortcut otherwise, optional squeeze-and-excitation on the residual
branch before the addition (Hu et al. 2018), and name their layers
`{prefix}conv1`, `{prefix}bn1`, `{prefix}act1`, ..., `{prefix}shortcut_conv`,
`{prefix}shortcut_bn`, `{prefix}add` and `{prefix}out` (the block's output activation).
The bottleneck strides in its 3x3 convolution ("ResNet v1.5", as torchvision).

Example:
    >>> import keras
    >>> from kerascls.models.layers import basic_block
    >>> x = keras.Input((32, 32, 16))
    >>> basic_block(keras, x, 32, strides=2, prefix="stage2_block1_").shape
    (None, 16, 16, 32)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kerascls.models.layers.conv_bn_act import conv_bn_act
from kerascls.models.layers.squeeze_excite import se_units, squeeze_excite


def _finish(
    K: ModuleType, x: Any, residual: Any, filters: int, strides: int, prefix: str, se_ratio: float
) -> Any:
    """Add SE to the residual branch, add the (projected) shortcut, apply ReLU."""
    if se_ratio > 0:
        residual = squeeze_excite(K, residual, units=se_units(filters, se_ratio), prefix=prefix)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn_act(
            K, x, filters, 1, strides=strides, activation=None, prefix=f"{prefix}shortcut_"
        )
    x = K.layers.Add(name=f"{prefix}add")([residual, shortcut])
    return K.layers.ReLU(name=f"{prefix}out")(x)


def basic_block(
    K: ModuleType, x: Any, filters: int, *, strides: int = 1, prefix: str, se_ratio: float = 0.0
) -> Any:
    """Two 3x3 convolutions with a shortcut (ResNet-18/34 and the CIFAR ResNets).

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: a 4-D input tensor.
        filters: output channels.
        strides: stride of the first convolution (and of the projection shortcut).
        prefix: start of every layer name, e.g. "stage2_block1_".
        se_ratio: squeeze-and-excitation width as a fraction of `filters` (0 = no SE).

    Example:
        >>> import keras
        >>> x = keras.Input((8, 8, 64))
        >>> basic_block(keras, x, 64, prefix="stage1_block1_", se_ratio=0.25).shape
        (None, 8, 8, 64)
    """
    y = conv_bn_act(K, x, filters, 3, strides=strides, prefix=prefix, suffix="1")
    y = conv_bn_act(K, y, filters, 3, activation=None, prefix=prefix, suffix="2")
    return _finish(K, x, y, filters, strides, prefix, se_ratio)


def bottleneck_block(
    K: ModuleType,
    x: Any,
    filters: int,
    *,
    strides: int = 1,
    prefix: str,
    se_ratio: float = 0.0,
    expansion: int = 4,
) -> Any:
    """1x1 reduce, 3x3 (strided), 1x1 expand to `filters * expansion` (ResNet-50 and up).

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: a 4-D input tensor.
        filters: width of the 3x3 convolution; the block outputs `filters * expansion`.
        strides: stride of the 3x3 convolution (and of the projection shortcut).
        prefix: start of every layer name, e.g. "stage2_block1_".
        se_ratio: squeeze-and-excitation width as a fraction of the output channels.
        expansion: output channels per `filters`.

    Example:
        >>> import keras
        >>> x = keras.Input((8, 8, 64))
        >>> bottleneck_block(keras, x, 64, prefix="stage1_block1_").shape
        (None, 8, 8, 256)
    """
    out = filters * expansion
    y = conv_bn_act(K, x, filters, 1, prefix=prefix, suffix="1")
    y = conv_bn_act(K, y, filters, 3, strides=strides, prefix=prefix, suffix="2")
    y = conv_bn_act(K, y, out, 1, activation=None, prefix=prefix, suffix="3")
    return _finish(K, x, y, out, strides, prefix, se_ratio)
