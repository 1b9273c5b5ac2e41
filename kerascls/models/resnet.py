"""ImageNet-style ResNets (He et al. 2016): ResNet-18/34 (basic), 50/101/152 (bottleneck).

Standard stem: 7x7 stride-2 convolution ("stem_conv/bn/act") and a 3x3 stride-2 max-pool
("stem_pool"), total stride 32. Small-input stem (`small_input=True`): a 3x3 stride-1
convolution and no max-pool, total stride 8, the usual way to run these networks on
32x32 images (a 4x4 final map instead of 1x1). `small_input=None` (the default) picks the
small stem when min(height, width) < 64. Parameter counts at 1000 classes match
torchvision's; the bottleneck strides in its 3x3 convolution (v1.5), as torchvision does.

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("resnet18", 10, (32, 32, 3))  # small stem: 32 < 64
    >>> model.get_layer("stage4_block2_out").output.shape
    (None, 4, 4, 512)
"""

from __future__ import annotations

from typing import Any

from kerascls.models._checks import (
    check_choice,
    check_dropout,
    check_fraction,
    check_min_size,
    resolve_small_input,
)
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import (
    basic_block,
    bottleneck_block,
    classifier_head,
    conv_bn_act,
    image_input,
)
from kerascls.models.registry import register_model

# depth -> (block kind, blocks per stage)
_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


@register_model("resnet18", family="resnet", depth=18)
@register_model("resnet34", family="resnet", depth=34)
@register_model("resnet50", family="resnet", depth=50)
@register_model("se_resnet18", family="resnet", depth=18, se_ratio=0.25)
@register_model("se_resnet34", family="resnet", depth=34, se_ratio=0.25)
@register_model("se_resnet50", family="resnet", depth=50, se_ratio=0.25)
def resnet(
    spec: BuildSpec,
    *,
    depth: int = 18,
    small_input: bool | None = None,
    se_ratio: float = 0.0,
    dropout: float = 0.0,
) -> Any:
    """ImageNet ResNet-18/34/50/101/152 with an optional small-input stem and SE.

    Args:
        spec: the build spec (given by `create_model`).
        depth: 18, 34, 50, 101 or 152.
        small_input: True for the 3x3 stride-1 stem without max-pool (total stride 8),
            False for the ImageNet stem (total stride 32), None to pick True when
            min(height, width) < 64.
        se_ratio: squeeze-and-excitation width as a fraction of each block's output
            channels (0 = off; the "se_" names use 0.25; Hu et al. used 1/16).
        dropout: dropout rate before the logits (0 = off).

    Returns:
        A functional model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("resnet50", 1000, (224, 224, 3))
        >>> model.get_layer("stem_pool").output.shape
        (None, 56, 56, 64)
    """
    check_choice(spec.name, "depth", depth, tuple(_DEPTHS))
    small = resolve_small_input(spec, small_input)
    se_ratio = check_fraction(spec.name, "se_ratio", se_ratio)
    dropout = check_dropout(spec.name, dropout)
    check_min_size(spec, 8 if small else 32, f"total stride {8 if small else 32}")

    K = spec.keras
    kind, stage_blocks = _DEPTHS[depth]
    block = basic_block if kind == "basic" else bottleneck_block
    inputs, x = image_input(spec)
    if small:
        x = conv_bn_act(K, x, 64, 3, prefix="stem_")
    else:
        x = conv_bn_act(K, x, 64, 7, strides=2, prefix="stem_")
        x = K.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, (filters, blocks) in enumerate(zip((64, 128, 256, 512), stage_blocks, strict=True), 1):
        for b in range(1, blocks + 1):
            strides = 2 if s > 1 and b == 1 else 1
            x = block(
                K, x, filters, strides=strides, prefix=f"stage{s}_block{b}_", se_ratio=se_ratio
            )
    outputs = classifier_head(spec, x, dropout=dropout)
    return K.Model(inputs, outputs, name=spec.name)
