"""Find the layers Grad-CAM and feature-map plots can use, in any Keras 3 model.

`find_last_conv_layer` returns the layer whose 4-D output the classifier pools: in a model
whose output is a 4-D map (a feature extractor), the layer that produces it; otherwise the
input of the last layer that turns a 4-D map into a vector (global pooling, Flatten).
Squeeze-and-excitation blocks also pool globally, but they come earlier in topological
order, so the last such layer is the head. A layer inside a nested model (a transfer
backbone) is named by its path, "backbone/conv5_block3_out". Works for functional and
Sequential models.

Example:
    >>> from kerascls.models import conv_layer_names, create_model, find_last_conv_layer
    >>> model = create_model("resnet20", 10)
    >>> find_last_conv_layer(model)
    'stage3_block3_out'
    >>> "stem_conv" in conv_layer_names(model)
    True
"""

from __future__ import annotations

from typing import Any

from kerascls.errors import ModelError


def _rank(tensor: Any) -> int | None:
    shape = getattr(tensor, "shape", None)
    return None if shape is None else len(shape)


def _output(layer: Any) -> Any:
    """The layer's output tensor, or None when it has none or several (a shared layer)."""
    try:
        return layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None


def _producer(tensor: Any) -> Any:
    """The layer that produced a symbolic tensor."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def _is_model(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _is_input(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.layers.InputLayer)


def _resolve(model: Any, layer: Any) -> str:
    """Name `layer`, descending into it when it is a nested model."""
    if _is_model(layer):
        return f"{layer.name}/{find_last_conv_layer(layer)}"
    return layer.name


def find_last_conv_layer(model: Any) -> str:
    """Return the name (or "nested/name" path) of the last 4-D feature layer before pooling.

    Args:
        model: a built Keras 3 functional or Sequential model.

    Returns:
        A layer name usable with `model.get_layer`, or a path "backbone/layer" whose parts
        are looked up in turn.

    Raises:
        ModelError: the model has no layer with a 4-D (spatial) output.

    Example:
        >>> import keras
        >>> conv = keras.layers.Conv2D(8, 3, name="features")
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), conv,
        ...                           keras.layers.Flatten(), keras.layers.Dense(2)])
        >>> find_last_conv_layer(model)
        'features'
    """
    layers = list(model.layers)
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) == 1 and _rank(outputs[0]) == 4:
        # A feature extractor (a transfer backbone): its output is the feature map. Do not
        # look for pooling inside: its squeeze-and-excitation blocks may pool to vectors.
        producer = _producer(outputs[0])
        if producer is not None and not _is_input(producer):
            return _resolve(model, producer)
    for layer in reversed(layers):
        output = _output(layer)
        inputs = getattr(layer, "input", None) if output is not None else None
        if _rank(inputs) == 4 and _rank(output) is not None and _rank(output) < 4:
            producer = _producer(inputs)
            if producer is not None and not _is_input(producer):
                return _resolve(model, producer)
            break
    # No pooling layer found: fall back to the last layer with a 4-D output.
    for layer in reversed(layers):
        if not _is_input(layer) and _rank(_output(layer)) == 4:
            return _resolve(model, layer)
    raise ModelError(
        f"model {model.name!r} has no layer with a 4-D (height, width, channels) output; "
        "Grad-CAM and feature maps need a convolutional model"
    )


def conv_layer_names(model: Any) -> list[str]:
    """List every layer with a 4-D output, in topological order, nested ones as paths.

    These are the layers Grad-CAM and feature-map plots accept; error messages list them
    when a user names a layer that does not exist.

    Args:
        model: a built Keras 3 functional or Sequential model.

    Returns:
        Layer names, with "nested/name" paths for layers inside nested models.

    Example:
        >>> from kerascls.models import create_model
        >>> conv_layer_names(create_model("lenet5", 10))[:3]
        ['standardize', 'c1_conv', 'c1_act']
    """
    names: list[str] = []
    for layer in model.layers:
        if _is_input(layer):
            continue
        if _is_model(layer):
            names.extend(f"{layer.name}/{inner}" for inner in conv_layer_names(layer))
        elif _rank(_output(layer)) == 4:
            names.append(layer.name)
    return names


def get_layer_by_path(model: Any, path: str) -> Any:
    """Return the layer at `path` ("name" or "nested/name"), as given by this module.

    Args:
        model: a Keras 3 model.
        path: a name from `find_last_conv_layer` or `conv_layer_names`.

    Raises:
        ModelError: no such layer (the message lists the valid choices).

    Example:
        >>> from kerascls.models import create_model
        >>> get_layer_by_path(create_model("cnn", 10), "stage3_act2").name
        'stage3_act2'
    """
    layer = model
    try:
        for part in path.split("/"):
            layer = layer.get_layer(part)
    except (ValueError, AttributeError) as error:
        choices = ", ".join(conv_layer_names(model))
        raise ModelError(
            f"model {model.name!r} has no layer {path!r}; layers with 4-D outputs: {choices}"
        ) from error
    return layer
