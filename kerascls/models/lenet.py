"""LeNet-5 (LeCun et al. 1998) on 3-channel images, with the kerascls input and head.

C1: 6 5x5 convolutions, S2: 2x2 pooling, C3: 16 5x5 convolutions, S4: 2x2 pooling,
C5: 120 5x5 convolutions (a 1x1 map at 32x32, as in the paper), F6: 84 units
("head_prelogits"), then the logits. Convolutions are "valid" as in the paper, so the
input must be at least 32x32; larger inputs give a larger C5 map that "head_pool" averages.

Example:
    >>> from kerascls.models import create_model
    >>> create_model("lenet5", 10, (32, 32, 3)).count_params()
    62006
"""

from __future__ import annotations

from typing import Any

from kerascls.models._checks import check_choice, check_dropout, check_min_size
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import activation, classifier_head, image_input
from kerascls.models.registry import register_model


@register_model("lenet5", family="lenet")
def lenet5(
    spec: BuildSpec, *, activation_fn: str = "tanh", pooling: str = "avg", dropout: float = 0.0
) -> Any:
    """LeNet-5: three 5x5 convolution layers, two poolings, an 84-unit hidden layer.

    Args:
        spec: the build spec (given by `create_model`).
        activation_fn: "tanh" (the paper) or "relu".
        pooling: "avg" (the paper's subsampling) or "max".
        dropout: dropout rate before the logits (0 = off).

    Returns:
        A functional model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> create_model("lenet5", 10, activation_fn="relu").get_layer("c5_act").output.shape
        (None, 1, 1, 120)
    """
    check_choice(spec.name, "activation_fn", activation_fn, ("tanh", "relu"))
    check_choice(spec.name, "pooling", pooling, ("avg", "max"))
    dropout = check_dropout(spec.name, dropout)
    check_min_size(spec, 32, "three unpadded 5x5 convolutions and two 2x2 poolings")

    K = spec.keras
    pool = K.layers.AveragePooling2D if pooling == "avg" else K.layers.MaxPooling2D
    inputs, x = image_input(spec)
    for name, filters in (("c1", 6), ("c3", 16), ("c5", 120)):
        x = K.layers.Conv2D(filters, 5, name=f"{name}_conv")(x)
        x = activation(K, x, activation_fn, f"{name}_act")
        if name != "c5":
            x = pool(2, name=f"s{int(name[1]) + 1}_pool")(x)
    outputs = classifier_head(
        spec, x, dropout=dropout, hidden_units=84, hidden_activation=activation_fn
    )
    return K.Model(inputs, outputs, name=spec.name)
