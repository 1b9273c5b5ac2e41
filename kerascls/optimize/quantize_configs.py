"""QuantizeConfigs for the kerascls layers that tfmot's default 8-bit scheme does not know.

tfmot 0.8 quantizes Conv2D, DepthwiseConv2D, Dense, BatchNormalization after a
convolution, ReLU, Add, pooling and softmax/sigmoid Activations out of the box. The
tf_keras builds of kerascls models also contain three layers it refuses ("Layer ... is not
supported"):

- Normalization: the "standardize" input layer, (x - mean) / std;
- Rescaling: the affine step of hard-sigmoid (x / 6 + 0.5), in hard-swish and in
  MobileNetV3's squeeze-and-excitation gate;
- Multiply: hard-swish's x * gate and the squeeze-and-excitation product;
- BatchNormalization that follows a pooling layer, not a convolution (airbench).

None of them has weights to quantize (Normalization's mean and variance are constants that
the converter folds), so one config covers them all: quantize the output tensor with the
same moving-average 8-bit quantizer tfmot uses for ReLU and Add. The INT8 TFLite file then
gets the scale and zero point learned during QAT for every tensor instead of guessing.
The tf_keras builds have no FusedBatchNormalization (that subclass exists only on Keras 3;
tf_keras' own BatchNormalization is already fused), so it needs no config.

Importing this module imports tensorflow_model_optimization, which sets
TF_USE_LEGACY_KERAS=1 for the process: import it only inside functions that quantize.

Example:
    >>> import tf_keras
    >>> from kerascls.models import create_model
    >>> from kerascls.optimize.quantize_configs import quantize_tf_keras_model
    >>> twin = create_model("se_resnet20", 10, backend="tf_keras")
    >>> qat_model = quantize_tf_keras_model(twin)
    >>> qat_model.get_layer("quant_stage1_block1_se_excite").__class__.__name__
    'QuantizeWrapperV2'
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot
import tf_keras

from kerascls.errors import ModelError

_quantize = tfmot.quantization.keras
_MovingAverageQuantizer = _quantize.quantizers.MovingAverageQuantizer

# Layer types that get OutputQuantizeConfig (class names, as tf_keras spells them).
OUTPUT_ONLY_LAYERS = ("Normalization", "Rescaling", "Multiply")


class OutputQuantizeConfig(_quantize.QuantizeConfig):
    """Quantize a weight-free layer's output to 8 bits (asymmetric, per tensor).

    Example:
        >>> import tf_keras
        >>> layer = tf_keras.layers.Multiply()
        >>> len(OutputQuantizeConfig().get_output_quantizers(layer))
        1
    """

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return []

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        pass

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        # The settings of tfmot's own activation quantizer (default_8bit registry).
        return [
            _MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)
        ]

    def get_config(self) -> dict:
        return {}


def quantize_scope() -> Any:
    """The tfmot scope that deserializes kerascls's QuantizeConfig (for cloning and loading)."""
    return _quantize.quantize_scope({"OutputQuantizeConfig": OutputQuantizeConfig})


def _follows_a_convolution(layer: Any) -> bool:
    nodes = getattr(layer, "_inbound_nodes", None) or []
    inbound = nodes[0].inbound_layers if nodes else None
    first = inbound[0] if isinstance(inbound, list) and inbound else inbound
    return type(first).__name__ in ("Conv2D", "DepthwiseConv2D")


def _annotate(layer: Any) -> Any:
    """clone_model's clone_function: annotate every layer, ours with OutputQuantizeConfig.

    A BatchNormalization that does not follow a convolution (airbench's, after a pooling
    layer) has nothing to fold into, and tfmot refuses it; it stays a float affine step in
    training and gets its output quantized like the weight-free layers. tfmot's own
    conv + BatchNorm folding is left alone.
    """
    name = type(layer).__name__
    standalone_norm = name == "BatchNormalization" and not _follows_a_convolution(layer)
    if name in OUTPUT_ONLY_LAYERS or standalone_norm:
        return _quantize.quantize_annotate_layer(layer, quantize_config=OutputQuantizeConfig())
    return _quantize.quantize_annotate_layer(layer)


def quantize_tf_keras_model(model: Any) -> Any:
    """Return the quantization-aware (fake-quant) version of a tf_keras kerascls model.

    Weights are carried over; the result trains like any tf_keras model and converts to a
    full-INT8 TFLite file.

    Args:
        model: a functional tf_keras model, e.g. `create_model(..., backend="tf_keras")`.

    Raises:
        ModelError: `model` is not a functional tf_keras model, or holds a layer that
            neither tfmot nor kerascls knows how to quantize (named in the message).
    """
    functional = (
        isinstance(model, tf_keras.Model)
        and not isinstance(model, tf_keras.Sequential)
        and getattr(model, "_is_graph_network", False)
    )
    if not functional:
        raise ModelError(
            f"quantization-aware training needs a functional tf_keras model, got "
            f"{type(model).__module__}.{type(model).__name__}; rebuild it with "
            "kerascls.optimize.tf_keras_twin(model)"
        )
    try:
        # Annotating wraps the layers themselves (no copy); quantize_apply then clones them
        # with their weights into the fake-quant model.
        annotated = tf_keras.models.clone_model(model, clone_function=_annotate)
        with quantize_scope():
            return _quantize.quantize_apply(annotated)
    except (RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0]
        raise ModelError(f"cannot make {model.name!r} quantization-aware: {first}") from None
