"""MobileNetV3 Small and Large (Howard et al. 2019) with a width multiplier `alpha`.

A 3x3 stride-2 stem with hard-swish ("stem_*"), inverted-residual blocks ("block{i}_*":
1x1 expansion, depthwise convolution, optional squeeze-and-excitation with a hard-sigmoid
gate, linear 1x1 projection, identity shortcut where the shape allows), a 1x1 convolution
to 6x the last block's width ("last_conv/bn/act"), then the head: global pooling, a
hidden Dense layer with hard-swish ("head_prelogits", 1024 or 1280 units), dropout and the
logits. The block table is the paper's (and torchvision's); parameter counts at 1000
classes match torchvision's. Hard-sigmoid and hard-swish are built from plain layers (see
`layers.activations`) so that the model means the same in Keras 3 and tf_keras.

`small_input=True` makes the stem and the first stride-2 block stride 1: total stride 8
instead of 32, so a 32x32 image ends in a 4x4 map rather than 1x1. `small_input=None`
(default) picks it when min(height, width) < 64.

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("mobilenetv3_small", 10, (32, 32, 3))
    >>> model.get_layer("last_act").output.shape
    (None, 4, 4, 576)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kerascls.errors import ModelError
from kerascls.models._checks import (
    check_choice,
    check_dropout,
    check_min_size,
    is_real,
    make_divisible,
    resolve_small_input,
)
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import classifier_head, conv_bn_act, image_input, squeeze_excite
from kerascls.models.registry import register_model

# (kernel, expanded channels, output channels, squeeze-excite, activation, stride)
_SMALL = (
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hard_swish", 2),
    (5, 240, 40, True, "hard_swish", 1),
    (5, 240, 40, True, "hard_swish", 1),
    (5, 120, 48, True, "hard_swish", 1),
    (5, 144, 48, True, "hard_swish", 1),
    (5, 288, 96, True, "hard_swish", 2),
    (5, 576, 96, True, "hard_swish", 1),
    (5, 576, 96, True, "hard_swish", 1),
)
_LARGE = (
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hard_swish", 2),
    (3, 200, 80, False, "hard_swish", 1),
    (3, 184, 80, False, "hard_swish", 1),
    (3, 184, 80, False, "hard_swish", 1),
    (3, 480, 112, True, "hard_swish", 1),
    (3, 672, 112, True, "hard_swish", 1),
    (5, 672, 160, True, "hard_swish", 2),
    (5, 960, 160, True, "hard_swish", 1),
    (5, 960, 160, True, "hard_swish", 1),
)
# variant -> (block table, width of the hidden head layer)
_VARIANTS = {"small": (_SMALL, 1024), "large": (_LARGE, 1280)}


def _inverted_residual(
    K: ModuleType,
    x: Any,
    config: tuple[int, int, int, bool, str, int],
    *,
    alpha: float,
    strides: int,
    prefix: str,
) -> Any:
    """One MobileNetV3 block; `strides` overrides the table's (for small inputs)."""
    kernel, expanded, out, use_se, act, _ = config
    in_channels = x.shape[-1]
    expanded, out = make_divisible(expanded * alpha), make_divisible(out * alpha)
    y = x
    if expanded != in_channels:
        y = conv_bn_act(K, y, expanded, 1, activation=act, prefix=f"{prefix}expand_")
    y = conv_bn_act(
        K, y, 0, kernel, strides=strides, activation=act, prefix=f"{prefix}dw_", depthwise=True
    )
    if use_se:
        units = make_divisible(expanded // 4)
        y = squeeze_excite(K, y, units=units, prefix=prefix, gate="hard_sigmoid")
    y = conv_bn_act(K, y, out, 1, activation=None, prefix=f"{prefix}project_")
    if strides == 1 and in_channels == out:
        y = K.layers.Add(name=f"{prefix}add")([x, y])
    return y


@register_model("mobilenetv3_small", family="mobilenetv3", variant="small")
@register_model("mobilenetv3_large", family="mobilenetv3", variant="large")
def mobilenetv3(
    spec: BuildSpec,
    *,
    variant: str = "small",
    alpha: float = 1.0,
    small_input: bool | None = None,
    dropout: float = 0.2,
) -> Any:
    """MobileNetV3 Small or Large with width multiplier `alpha` and a small-input option.

    Args:
        spec: the build spec (given by `create_model`).
        variant: "small" or "large".
        alpha: width multiplier for every convolution (channels rounded to multiples of
            8); the hidden head layer widens with it only when alpha > 1, as in Keras.
        small_input: True to make the stem and the first stride-2 block stride 1 (total
            stride 8), False for the paper's total stride 32, None to pick True when
            min(height, width) < 64.
        dropout: dropout rate before the logits (0.2 in the paper).

    Returns:
        A functional model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("mobilenetv3_large", 10, (64, 64, 3), alpha=0.75)
        >>> model.get_layer("last_act").output.shape
        (None, 2, 2, 720)
    """
    check_choice(spec.name, "variant", variant, tuple(_VARIANTS))
    if not (is_real(alpha) and alpha > 0):
        raise ModelError(f"alpha of model {spec.name!r} must be a number > 0, got {alpha!r}")
    small = resolve_small_input(spec, small_input)
    dropout = check_dropout(spec.name, dropout)
    check_min_size(spec, 8 if small else 32, f"total stride {8 if small else 32}")

    K = spec.keras
    table, hidden = _VARIANTS[variant]
    inputs, x = image_input(spec)
    x = conv_bn_act(
        K, x, make_divisible(16 * alpha), 3, strides=1 if small else 2,
        activation="hard_swish", prefix="stem_",
    )  # fmt: skip
    first_downsample = next(i for i, config in enumerate(table) if config[-1] == 2)
    for i, config in enumerate(table):
        strides = 1 if small and i == first_downsample else config[-1]
        x = _inverted_residual(K, x, config, alpha=alpha, strides=strides, prefix=f"block{i + 1}_")
    x = conv_bn_act(
        K, x, make_divisible(6 * x.shape[-1]), 1, activation="hard_swish", prefix="last_"
    )
    hidden_units = make_divisible(hidden * alpha) if alpha > 1 else hidden
    outputs = classifier_head(
        spec, x, dropout=dropout, hidden_units=hidden_units, hidden_activation="hard_swish"
    )
    return K.Model(inputs, outputs, name=spec.name)
