"""The classifier head every model ends with, written once.

"head_pool" (global average pooling), optionally "head_prelogits" (a hidden Dense layer,
used by MobileNetV3 and LeNet-5) with its activation "head_prelogits_act", optionally
"head_dropout", then "head_dense" (logits) and "predictions", a softmax computed in float32
so that the probabilities stay float32 under a mixed-precision policy.

Example:
    >>> import keras
    >>> from kerascls.models.layers import classifier_head
    >>> from kerascls.models.build_spec import BuildSpec
    >>> spec = BuildSpec("cnn", 10, (32, 32, 3), None, None, keras)
    >>> classifier_head(spec, keras.Input((4, 4, 64)), dropout=0.2).shape
    (None, 10)
"""

from __future__ import annotations

from typing import Any

from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers.activations import activation


def classifier_head(
    spec: BuildSpec,
    x: Any,
    *,
    dropout: float = 0.0,
    hidden_units: int | None = None,
    hidden_activation: str = "relu",
) -> Any:
    """Pool a 4-D feature map and map it to `spec.num_classes` probabilities.

    Args:
        spec: the build spec (number of classes and Keras namespace).
        x: the final 4-D feature map; the layer that produced it is what Grad-CAM uses.
        dropout: dropout rate before the logits (0 = no Dropout layer).
        hidden_units: width of an optional hidden Dense layer after pooling.
        hidden_activation: activation of that hidden layer (see `layers.ACTIVATIONS`).

    Returns:
        The "predictions" tensor, float32 probabilities of shape (batch, num_classes).

    Example:
        >>> import keras
        >>> spec = BuildSpec("lenet5", 10, (32, 32, 3), None, None, keras)
        >>> classifier_head(spec, keras.Input((1, 1, 120)), hidden_units=84).dtype
        'float32'
    """
    K = spec.keras
    x = K.layers.GlobalAveragePooling2D(name="head_pool")(x)
    if hidden_units:
        x = K.layers.Dense(hidden_units, name="head_prelogits")(x)
        x = activation(K, x, hidden_activation, "head_prelogits_act")
    if dropout > 0:
        x = K.layers.Dropout(dropout, name="head_dropout")(x)
    x = K.layers.Dense(spec.num_classes, name="head_dense")(x)
    return K.layers.Activation("softmax", dtype="float32", name="predictions")(x)
