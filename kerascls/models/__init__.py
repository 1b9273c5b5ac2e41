"""Image-classification models for kerascls, behind one registry.

Every model takes raw 0-255 float32 pixels (input "image"), standardizes them in its first
layer ("standardize") and outputs float32 class probabilities ("predictions"). Build one
with `create_model(name, num_classes, input_shape, mean=..., std=..., **options)`; see
`list_models()` for the names and `get_model_info(name)` for each one's family, default
options and whether it can be rebuilt with tf_keras (`backend="tf_keras"`, for
tensorflow-model-optimization). tf_keras is imported only when asked for.

Example:
    >>> from kerascls.models import create_model, find_last_conv_layer, list_models
    >>> "mobilenetv3_small" in list_models()
    True
    >>> model = create_model("se_resnet20", 10, (32, 32, 3))
    >>> find_last_conv_layer(model)
    'stage3_block3_out'
"""

from kerascls.models import (  # importing registers the models
    airbench,
    cnn,
    convnext,
    efficientnet,
    lenet,
    mobilenetv3,
    resnet,
    resnet_cifar,
    transfer,
    vit,
)
from kerascls.models.build_spec import BuildSpec
from kerascls.models.introspect import conv_layer_names, find_last_conv_layer, get_layer_by_path
from kerascls.models.registry import (
    ModelInfo,
    create_model,
    get_model_info,
    list_models,
    register_model,
)
from kerascls.models.saving import as_float32, in_precision, load_model, portable_model
from kerascls.models.transfer import unfreeze_top_layers

__all__ = [
    "BuildSpec",
    "ModelInfo",
    "airbench",
    "as_float32",
    "cnn",
    "conv_layer_names",
    "convnext",
    "create_model",
    "efficientnet",
    "find_last_conv_layer",
    "get_layer_by_path",
    "get_model_info",
    "in_precision",
    "lenet",
    "list_models",
    "load_model",
    "mobilenetv3",
    "portable_model",
    "register_model",
    "resnet",
    "resnet_cifar",
    "transfer",
    "unfreeze_top_layers",
    "vit",
]
