"""Activations by name, with hard-sigmoid and hard-swish spelled out in plain layers.

Keras 3 defines `hard_sigmoid` as relu6(x + 3) / 6 while Keras 2 (tf_keras) used
clip(0.2 * x + 0.5, 0, 1), so neither built-in can be used if a model must mean the same in
both. Here hard_sigmoid(x) = min(max(x / 6 + 0.5, 0), 1) = relu6(x + 3) / 6, as in the
MobileNetV3 paper, from a `Rescaling` and a capped `ReLU`; hard_swish(x) = x * hard_sigmoid(x).

Example:
    >>> import keras
    >>> from kerascls.models.layers import activation
    >>> x = keras.Input((4, 4, 8))
    >>> y = activation(keras, x, "hard_swish", name="stem_act")
    >>> y.shape
    (None, 4, 4, 8)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kerascls.errors import ModelError

ACTIVATIONS = ("relu", "relu6", "hard_sigmoid", "hard_swish", "sigmoid", "tanh", "gelu")


def hard_sigmoid(K: ModuleType, x: Any, name: str) -> Any:
    """Apply relu6(x + 3) / 6; the last layer is called `name`.

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: input tensor.
        name: name of the output layer; the affine step is `{name}_affine`.

    Example:
        >>> import keras, numpy as np
        >>> inputs = keras.Input((3,))
        >>> model = keras.Model(inputs, hard_sigmoid(keras, inputs, "hsig"))
        >>> model(np.array([[-4.0, 0.0, 4.0]])).numpy().tolist()
        [[0.0, 0.5, 1.0]]
    """
    x = K.layers.Rescaling(1.0 / 6.0, offset=0.5, name=f"{name}_affine")(x)
    return K.layers.ReLU(max_value=1.0, name=name)(x)


def hard_swish(K: ModuleType, x: Any, name: str) -> Any:
    """Apply x * relu6(x + 3) / 6; the output layer (a Multiply) is called `name`.

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: input tensor.
        name: name of the output layer; the gate is `{name}_gate`.

    Example:
        >>> import keras, numpy as np
        >>> inputs = keras.Input((3,))
        >>> model = keras.Model(inputs, hard_swish(keras, inputs, "hswish"))
        >>> model(np.array([[-4.0, 0.0, 4.0]])).numpy().tolist()
        [[-0.0, 0.0, 4.0]]
    """
    gate = hard_sigmoid(K, x, f"{name}_gate")
    return K.layers.Multiply(name=name)([x, gate])


def activation(K: ModuleType, x: Any, kind: str | None, name: str) -> Any:
    """Apply the activation `kind` (one of ACTIVATIONS, or None for none).

    Args:
        K: the Keras namespace (`keras` or `tf_keras`).
        x: input tensor.
        kind: "relu", "relu6", "hard_sigmoid", "hard_swish", "sigmoid", "tanh", "gelu"
            (exact, erf-based, the same in Keras 3 and tf_keras) or None.
        name: name of the output layer.

    Example:
        >>> import keras
        >>> x = keras.Input((4,))
        >>> activation(keras, x, "relu6", "act").shape
        (None, 4)
    """
    if kind is None:
        return x
    if kind == "relu":
        return K.layers.ReLU(name=name)(x)
    if kind == "relu6":
        return K.layers.ReLU(max_value=6.0, name=name)(x)
    if kind == "hard_sigmoid":
        return hard_sigmoid(K, x, name)
    if kind == "hard_swish":
        return hard_swish(K, x, name)
    if kind == "gelu" and K.__name__ == "keras":
        # the same exact GELU, trained through two compiled loops (layers.fused_gelu)
        from kerascls.models.layers.fused_gelu import Gelu

        return Gelu(name=name)(x)
    if kind in ("sigmoid", "tanh", "gelu"):
        return K.layers.Activation(kind, name=name)(x)
    raise ModelError(f"activation must be one of {ACTIVATIONS} or None, got {kind!r}")
