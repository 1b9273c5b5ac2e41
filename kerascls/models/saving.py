"""Loading saved kerascls models with Keras safe mode on.

A .keras file names kerascls's registered layers (FusedBatchNormalization) by their
registered names; they must be imported before Keras deserializes the file. This is the
one place that knows which modules those are. Loading is for inference (`compile=False`):
the optimizer and its learning-rate schedule are training objects, and kerascls.models
never imports kerascls.train (see docs/architecture.md).

Models trained with mixed precision (bf16 or fp16 compute, float32 weights) load for
inference as float32 models: exporters, Grad-CAM and evaluation then see the float32
graph that every runtime supports, and the figures match the exported files.

Run folders hold portable files instead (`portable_model`): best.keras and last.keras
name stock Keras layers only (FusedBatchNormalization, Gelu and GemmGradConv2D become
BatchNormalization, Activation("gelu") and Conv2D: they change only how training
computes) and carry no optimizer, so a colleague without kerascls loads them with plain
`keras.saving.load_model(path)`. Not so for the ViT and ConvNeXt
models: their position embeddings, class token, LayerScale and tanh GELU
(`layers.tokens`) have no stock Keras layer, so their files need kerascls's `load_model`.

Example:
    >>> import tempfile
    >>> from kerascls.models import create_model, load_model
    >>> model = create_model("resnet20", 10)
    >>> path = tempfile.mkdtemp() + "/resnet20.keras"
    >>> model.save(path)
    >>> load_model(path).count_params() == model.count_params()
    True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def register_custom_objects() -> None:
    """Import every module that registers Keras objects that kerascls models may hold."""
    import kerascls.models.layers.fused_batchnorm
    import kerascls.models.layers.fused_gelu
    import kerascls.models.layers.gemm_grad_conv
    import kerascls.models.layers.tokens  # noqa: F401


def load_model(path: str | os.PathLike, compile: bool = False) -> Any:
    """Load a .keras model file with safe mode on (no arbitrary code runs).

    With `compile=True` the optimizer is restored too, in the model's own precision; a
    file whose optimizer uses a kerascls schedule then needs `import kerascls.train` first.
    """
    import keras

    from kerascls.errors import ModelError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist")
    register_custom_objects()
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, OSError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load {path} as a Keras model: {first_line}") from None
    return model if compile else as_float32(model)


_LOW_PRECISION = {"float16", "bfloat16"}

# kerascls layers -> the stock layer with the same config and variables
_STOCK_EQUIVALENTS = {
    "kerascls>FusedBatchNormalization": {
        "module": "keras.layers",
        "class_name": "BatchNormalization",
        "registered_name": None,
    },
    # Gelu is Activation("gelu") with a compiled training path: same config, no variables
    # GemmGradConv2D is Conv2D with another kernel-gradient computation
    "kerascls>GemmGradConv2D": {
        "module": "keras.layers",
        "class_name": "Conv2D",
        "registered_name": None,
    },
    "kerascls>Gelu": {
        "module": "keras.layers",
        "class_name": "Activation",
        "registered_name": None,
    },
}


def portable_model(model: Any) -> Any:
    """The same network, weights and outputs, as a file that loads without kerascls.

    kerascls layers become the stock Keras layers they specialise (FusedBatchNormalization
    is BatchNormalization with a faster training kernel: same config, same variables),
    mixed precision becomes float32, and the copy is not compiled, so the saved file names
    no optimizer or learning-rate schedule either. Saved, it loads with
    `keras.saving.load_model(path)` in a process that never imported kerascls.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("airbench", 10)
        >>> copy = portable_model(model)
        >>> {type(layer).__name__ for layer in copy.layers} >= {"BatchNormalization"}
        True
        >>> any(type(layer).__module__.startswith("kerascls") for layer in copy.layers)
        False
    """
    config = _float32_config(_stock_config(model.get_config()))
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _stock_config(value: Any) -> Any:
    if isinstance(value, list):
        return [_stock_config(item) for item in value]
    if not isinstance(value, dict):
        return value
    stock = _STOCK_EQUIVALENTS.get(value.get("registered_name"))
    value = {key: _stock_config(item) for key, item in value.items()}
    return {**value, **stock} if stock else value


def as_float32(model: Any) -> Any:
    """The same model computing in float32, or `model` itself if it already does.

    Mixed-precision layers keep float32 weights, so the copy has exactly the same
    weights; only the compute dtype of each layer changes.

    Example:
        >>> import keras
        >>> from kerascls.models import create_model
        >>> keras.mixed_precision.set_global_policy("mixed_bfloat16")
        >>> mixed = create_model("cnn", 10)
        >>> keras.mixed_precision.set_global_policy("float32")
        >>> as_float32(mixed).layers[1].compute_dtype
        'float32'
    """
    import keras

    if not any(layer.compute_dtype in _LOW_PRECISION for layer in _all_layers(model)):
        return model
    config = _float32_config(model.get_config())
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy if isinstance(copy, keras.Model) else model


@contextlib.contextmanager
def global_dtype_policy(policy: str) -> Iterator[None]:
    """Keras's global dtype policy set to `policy` inside the block, restored after: what
    a layer built without a dtype computes in."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def in_precision(model: Any, policy: str) -> Any:
    """The same weights computing under the dtype policy `policy` ("mixed_bfloat16"), as a
    run trains: each layer in it but the input and the output layers (the softmax stays
    float32, as the builders make it). `model` itself when `policy` is "float32" and it
    already computes in float32.

    A saved model computes in float32 (best.keras is exported so), which on a CPU with
    AMX runs its convolutions several times slower than bf16: teachers predicting
    thousands of images (kerascls/train/teacher_targets.py) run in the run's precision.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 10, input_shape=(16, 16, 3))
        >>> mixed = in_precision(model, "mixed_bfloat16")
        >>> mixed.layers[1].compute_dtype, mixed.layers[-1].compute_dtype
        ('bfloat16', 'float32')
    """
    if policy == "float32":
        return as_float32(model)
    config = model.get_config()
    if "layers" not in config:  # not a functional model: nothing to rewrite
        return model
    entries = config.get("output_layers", [])
    if entries and isinstance(entries[0], str):  # one output: [name, node, tensor]
        entries = [entries]
    outputs = {entry[0] for entry in entries}
    for layer in config["layers"]:
        if layer["class_name"] != "InputLayer" and layer["config"]["name"] not in outputs:
            layer["config"]["dtype"] = policy
    with global_dtype_policy(policy):  # for sub-layers built without a dtype
        copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _all_layers(model: Any) -> list[Any]:
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        layers.extend(_all_layers(layer))
    return layers


def _float32_config(value: Any) -> Any:
    """`value` (a Keras config) with every mixed dtype policy and low-precision tensor
    dtype replaced by float32."""
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "DTypePolicy" and str(
        value.get("config", {}).get("name", "")
    ).startswith("mixed_"):
        return "float32"
    return {
        key: "float32"
        if key == "dtype" and isinstance(item, str) and item in _LOW_PRECISION
        else _float32_config(item)
        for key, item in value.items()
    }
