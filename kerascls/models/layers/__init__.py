"""Building blocks shared by the kerascls architectures, one idea per module.

Every helper takes the Keras namespace `K` (the `keras` module, or `tf_keras`) or a
`BuildSpec` that carries it as `spec.keras`, so the same code builds a Keras 3 model and
its tf_keras twin with the same layer order.

Example:
    >>> import keras
    >>> from kerascls.models.layers import conv_bn_act
    >>> x = keras.Input((8, 8, 3))
    >>> conv_bn_act(keras, x, 4, 3, prefix="stem_").shape
    (None, 8, 8, 4)
"""

from kerascls.models.layers.activations import ACTIVATIONS, activation, hard_sigmoid, hard_swish
from kerascls.models.layers.conv_bn_act import BN_EPSILON, BN_MOMENTUM, conv_bn_act
from kerascls.models.layers.head import classifier_head
from kerascls.models.layers.residual import basic_block, bottleneck_block
from kerascls.models.layers.squeeze_excite import se_units, squeeze_excite
from kerascls.models.layers.stem import image_input

__all__ = [
    "ACTIVATIONS",
    "BN_EPSILON",
    "BN_MOMENTUM",
    "activation",
    "basic_block",
    "bottleneck_block",
    "classifier_head",
    "conv_bn_act",
    "hard_sigmoid",
    "hard_swish",
    "image_input",
    "se_units",
    "squeeze_excite",
]
