"""EfficientNet-B0 (Tan & Le 2019) from scratch: keras.applications' network, kerascls's ends.

"standardize" -> "backbone" (keras.applications.EfficientNetB0, weights=None, no top)
-> the shared head. Unlike "transfer_efficientnetb0", which keeps the backbone's own
preprocessing for its ImageNet weights, this model is trained from scratch: the
backbone's first layers, Rescaling(1/255) and an (unadapted, identity) Normalization, are
cut off, so pixels are standardized once, by "standardize" (the training set's
mean/std, or 1/255). The cut is a functional clone from "stem_conv_pad"'s input onward.

Its BatchNormalization layers get kerascls's momentum, 0.9 (PyTorch's 0.1, timm's), not
keras.applications' 0.99: from scratch, with a few hundred steps, 0.99's moving statistics
still hold most of their initial zeros and ones when the run is evaluated. On a small
photo folder with 0.99 the network had learned but its inference statistics had not: high
training accuracy, near-chance test accuracy (benchmarks/README.md, "Architectures at one
time budget").

The network keeps its total stride of 32: a 32x32 image ends in a 1x1 map, so Grad-CAM
at that size says little; use 64x64 or more for explanations.

Parameter count at 1000 classes, 224x224: 5,330,564 (the paper's 5.3M;
keras.applications.EfficientNetB0's 5,330,571 less its 7 normalization statistics).

Example:
    >>> from kerascls.models import create_model, find_last_conv_layer
    >>> model = create_model("efficientnet_b0", 10, (32, 32, 3))
    >>> find_last_conv_layer(model)
    'backbone/top_activation'
"""

from __future__ import annotations

from typing import Any

from kerascls.models._checks import check_dropout, check_min_size
from kerascls.models.build_spec import BuildSpec
from kerascls.models.layers import classifier_head, image_input
from kerascls.models.layers.conv_bn_act import BN_MOMENTUM
from kerascls.models.registry import register_model

_FIRST_KEPT = "stem_conv_pad"  # the layers before it are the backbone's preprocessing


@register_model("efficientnet_b0", family="efficientnet", supports_tf_keras=False)
def efficientnet_b0(spec: BuildSpec, *, dropout: float = 0.2) -> Any:
    """EfficientNet-B0 from scratch, standardized once and ending in the shared head.

    Args:
        spec: the build spec (given by `create_model`); backend "keras" only.
        dropout: dropout rate before the logits (0.2 in the paper).

    Returns:
        A functional Keras 3 model named `spec.name` with a nested "backbone".

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("efficientnet_b0", 10, (32, 32, 3), dropout=0.0)
        >>> [layer.name for layer in model.layers]
        ['image', 'standardize', 'backbone', 'head_pool', 'head_dense', 'predictions']
    """
    dropout = check_dropout(spec.name, dropout)
    check_min_size(spec, 32, "total stride 32")
    import keras

    full = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=spec.input_shape
    )
    # Re-root the graph after the preprocessing layers, then clone it onto a fresh Input:
    # the re-rooted model's layers still belong to `full`'s graph, where Grad-CAM's
    # inner-layer taps would not reach the new input.
    cut = keras.Model(full.get_layer(_FIRST_KEPT).input, full.output)
    fresh = keras.Input(spec.input_shape, name="backbone_input")
    clone = keras.models.clone_model(cut, input_tensors=fresh)
    backbone = keras.Model(clone.input, clone.output, name="backbone")
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM  # see the module docstring
    inputs, x = image_input(spec)
    x = backbone(x)
    outputs = classifier_head(spec, x, dropout=dropout)
    return keras.Model(inputs, outputs, name=spec.name)
