"""ConvNeXt (Liu et al. 2022): ConvNeXt-T and a small "nano" configuration, from scratch.

"standardize" -> stem: a p x p stride-p "patchify" convolution ("stem_conv") and
LayerNorm ("stem_norm") -> four stages "stage{s}_block{b}_*" (7x7 depthwise convolution,
LayerNorm, 1x1 expansion to 4x with GELU, 1x1 projection, LayerScale, residual), each
stage after the first entered through LayerNorm + 2x2 stride-2 convolution
("stage{s}_down_*") -> "final_norm" -> the shared head.

Choices, and why:
- Stem: patchify 4 (the paper's, total stride 32) for ImageNet-size inputs; 2 when
  `small_input` (None: min side < 64), so a 32x32 image ends in a 2x2 map, not 1x1.
- "final_norm" is applied to the last feature map before the shared head's pooling
  (the paper normalises after pooling); same parameter count, and Grad-CAM can target it.
- No stochastic depth yet (the paper uses 0.1 for ConvNeXt-T); the builder is our own
  rather than keras.applications.ConvNeXtTiny so that the stem can change and the layer
  names follow kerascls's conventions.

Parameter count at 1000 classes, 224x224: convnext_tiny 28,589,128, as the paper's 28.6M
(and keras.applications.ConvNeXtTiny's).

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("convnext_nano", 10, (32, 32, 3), depths=(1, 1, 1, 1))
    >>> model.get_layer("final_norm").output.shape
    (None, 2, 2, 640)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kerascls.errors import ModelError
from kerascls.models._checks import check_dropout, check_min_size, is_int, resolve_small_input
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import classifier_head, image_input
from kerascls.models.layers.tokens import LayerScale, gelu_tanh
from kerascls.models.registry import register_model

LN_EPSILON = 1e-6
LAYER_SCALE_INIT = 1e-6  # the paper's: each block starts as (nearly) the identity


def _four(model: str, label: str, value: Any) -> tuple[int, int, int, int]:
    values = list(value) if isinstance(value, Sequence) else []
    if len(values) != 4 or not all(is_int(v) and v > 0 for v in values):
        raise ModelError(f"{label} of model {model!r} must be 4 positive integers, got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def _block(K: Any, x: Any, dim: int, prefix: str) -> Any:
    y = K.layers.DepthwiseConv2D(7, padding="same", name=f"{prefix}dwconv")(x)
    y = K.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{prefix}norm")(y)
    y = K.layers.Dense(4 * dim, activation=gelu_tanh, name=f"{prefix}pwconv1")(y)
    y = K.layers.Dense(dim, name=f"{prefix}pwconv2")(y)
    y = LayerScale(LAYER_SCALE_INIT, name=f"{prefix}scale")(y)
    return K.layers.Add(name=f"{prefix}add")([x, y])


@register_model("convnext_tiny", family="convnext", supports_tf_keras=False)
@register_model(
    "convnext_nano", family="convnext", supports_tf_keras=False,
    depths=(2, 2, 6, 2), dims=(80, 160, 320, 640),
)  # fmt: skip
def convnext(
    spec: BuildSpec,
    *,
    depths: Sequence[int] = (3, 3, 9, 3),
    dims: Sequence[int] = (96, 192, 384, 768),
    small_input: bool | None = None,
    dropout: float = 0.0,
) -> Any:
    """ConvNeXt with configurable depths and widths and a small-input stem.

    Args:
        spec: the build spec (given by `create_model`).
        depths: blocks in each of the four stages ((3, 3, 9, 3) for ConvNeXt-T).
        dims: channels of each stage ((96, 192, 384, 768) for ConvNeXt-T).
        small_input: True for a 2x2 patchify stem (total stride 16), False for the
            paper's 4x4 (total stride 32), None to pick True when min(height, width) < 64.
        dropout: dropout rate before the logits (0 = off).

    Returns:
        A functional Keras 3 model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> create_model("convnext_nano", 10, (32, 32, 3)).get_layer("stem_conv").strides
        (2, 2)
    """
    depths = _four(spec.name, "depths", depths)
    dims = _four(spec.name, "dims", dims)
    small = resolve_small_input(spec, small_input)
    dropout = check_dropout(spec.name, dropout)
    patch = 2 if small else 4
    check_min_size(spec, 8 * patch, f"total stride {8 * patch}")

    K = spec.keras
    inputs, x = image_input(spec)
    x = K.layers.Conv2D(dims[0], patch, strides=patch, name="stem_conv")(x)
    x = K.layers.LayerNormalization(epsilon=LN_EPSILON, name="stem_norm")(x)
    for s, (depth, dim) in enumerate(zip(depths, dims, strict=True), start=1):
        if s > 1:
            x = K.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"stage{s}_down_norm")(x)
            x = K.layers.Conv2D(dim, 2, strides=2, name=f"stage{s}_down_conv")(x)
        for b in range(1, depth + 1):
            x = _block(K, x, dim, prefix=f"stage{s}_block{b}_")
    x = K.layers.LayerNormalization(epsilon=LN_EPSILON, name="final_norm")(x)
    outputs = classifier_head(spec, x, dropout=dropout)
    return K.Model(inputs, outputs, name=spec.name)
