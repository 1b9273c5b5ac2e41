"""CIFAR ResNets of He et al. (2016, section 4.2): 6n+2 layers, widths 16/32/64.

A 3x3 stem ("stem_conv/bn/act") then three stages of n basic blocks
("stage{s}_block{b}_*"), the first block of stages 2 and 3 halving the resolution. Where
the shape changes the shortcut is a 1x1 convolution + BN projection (option B, as in our
PyTorch peer benchmark) rather than the paper's zero-padding (option A); ResNet-20 then
has about 0.27M parameters for 10 classes. The final map is a quarter of the input size
(8x8 at 32x32).

Example:
    >>> from kerascls.models import create_model
    >>> model = create_model("resnet20", 10, (32, 32, 3))
    >>> model.get_layer("stage3_block3_out").output.shape
    (None, 8, 8, 64)
"""

from __future__ import annotations

from typing import Any

from kerascls.errors import ModelError
from kerascls.models._checks import check_dropout, check_fraction, check_min_size, is_int
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import basic_block, classifier_head, conv_bn_act, image_input
from kerascls.models.registry import register_model


@register_model("resnet20", family="resnet_cifar", depth=20)
@register_model("resnet32", family="resnet_cifar", depth=32)
@register_model("resnet44", family="resnet_cifar", depth=44)
@register_model("resnet56", family="resnet_cifar", depth=56)
@register_model("resnet110", family="resnet_cifar", depth=110)
@register_model("se_resnet20", family="resnet_cifar", depth=20, se_ratio=0.25)
@register_model("se_resnet32", family="resnet_cifar", depth=32, se_ratio=0.25)
@register_model("se_resnet44", family="resnet_cifar", depth=44, se_ratio=0.25)
@register_model("se_resnet56", family="resnet_cifar", depth=56, se_ratio=0.25)
@register_model("se_resnet110", family="resnet_cifar", depth=110, se_ratio=0.25)
def resnet_cifar(
    spec: BuildSpec,
    *,
    depth: int = 20,
    width: int = 16,
    se_ratio: float = 0.0,
    dropout: float = 0.0,
) -> Any:
    """CIFAR ResNet with 6n+2 layers (20, 32, 44, 56, 110, ...), optionally with SE.

    Args:
        spec: the build spec (given by `create_model`).
        depth: number of weighted layers, 6n+2 with n >= 1 (n basic blocks per stage).
        width: channels of the first stage; stages 2 and 3 use 2x and 4x.
        se_ratio: squeeze-and-excitation width as a fraction of each block's channels
            (0 = off; the "se_" names use 0.25).
        dropout: dropout rate before the logits (0 = off).

    Returns:
        A functional model named `spec.name`.

    Example:
        >>> from kerascls.models import create_model
        >>> create_model("resnet20", 10, depth=8).get_layer("stage3_block1_out").name
        'stage3_block1_out'
    """
    if not (is_int(depth) and depth >= 8) or (depth - 2) % 6:
        raise ModelError(
            f"depth of model {spec.name!r} must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, "
            f"110, ...), got {depth!r}"
        )
    if not is_int(width) or width < 1:
        raise ModelError(f"width of model {spec.name!r} must be a positive int, got {width!r}")
    se_ratio = check_fraction(spec.name, "se_ratio", se_ratio)
    dropout = check_dropout(spec.name, dropout)
    check_min_size(spec, 4, "two stride-2 stages")

    K = spec.keras
    blocks = (int(depth) - 2) // 6
    inputs, x = image_input(spec)
    x = conv_bn_act(K, x, width, 3, prefix="stem_")
    for s, multiplier in enumerate((1, 2, 4), start=1):
        for b in range(1, blocks + 1):
            strides = 2 if s > 1 and b == 1 else 1
            prefix = f"stage{s}_block{b}_"
            x = basic_block(
                K, x, int(width) * multiplier, strides=strides, prefix=prefix, se_ratio=se_ratio
            )
    outputs = classifier_head(spec, x, dropout=dropout)
    return K.Model(inputs, outputs, name=spec.name)
