"""Squeeze-and-excitation (Hu et al. 2018): reweight channels by a gate computed from them.

Global average pool (kept 4-D), a 1x1 convolution down to `units` with ReLU, a 1x1
convolution back up, a sigmoid (or hard-sigmoid, as in MobileNetV3) gate, and a channel-wise
product. 1x1 convolutions on the kept-dims pool avoid Reshape layers and match the
reference MobileNetV3 implementations weight for weight.

Example:
    >>> import keras
    >>> from kerascls.models.layers import se_units, squeeze_excite
    >>> x = keras.Input((8, 8, 64))
    >>> y = squeeze_excite(keras, x, units=se_units(64, 0.25), prefix="stage1_block1_")
    >>> y.shape
    (None, 8, 8, 64)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kerascls.models.layers.activations import activation


def se_units(channels: int, se_ratio: float) -> int:
    """Squeeze width for `channels` at `se_ratio` (a fraction of the channels), at least 1.

    Example:
        >>> se_units(64, 0.25)
        16
    """
    return max(1, int(channels * se_ratio))


def squeeze_excite(K: ModuleType, x: Any, *, units: int, prefix: str, gate: str = "sigmoid") -> Any:
    """Apply a squeeze-and-excitation block; layers are named `{prefix}se_*`.

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: a 4-D input tensor.
        units: channels of the squeeze (bottleneck) convolution.
        prefix: start of every layer name, e.g. "stage2_block1_".
        gate: "sigmoid" (Hu et al.) or "hard_sigmoid" (MobileNetV3).

    Returns:
        `x` scaled channel-wise, output of the Multiply layer `{prefix}se_excite`.

    Example:
        >>> import keras
        >>> x = keras.Input((4, 4, 32))
        >>> squeeze_excite(keras, x, units=8, prefix="b1_", gate="hard_sigmoid").shape
        (None, 4, 4, 32)
    """
    channels = x.shape[-1]
    s = K.layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}se_pool")(x)
    s = K.layers.Conv2D(units, 1, name=f"{prefix}se_reduce")(s)
    s = K.layers.ReLU(name=f"{prefix}se_relu")(s)
    s = K.layers.Conv2D(channels, 1, name=f"{prefix}se_expand")(s)
    s = activation(K, s, gate, f"{prefix}se_gate")
    return K.layers.Multiply(name=f"{prefix}se_excite")([x, s])
