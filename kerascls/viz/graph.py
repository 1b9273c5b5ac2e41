"""Probe models: a model's own layers, rewired to also output inner feature maps and a
class score, for Grad-CAM, saliency and feature-map plots.

`probe_model(model, ["stage3_act2"])` returns a Keras model that shares every layer and
weight with `model` (so it follows a model that is still training) and outputs
`[stage3_act2 feature map, class scores, probabilities]`. It is built on
`layer_outputs_model(model, paths)`, which outputs `[*tensors at paths, model output]`
(the feature-map plots use it directly).

The class score is what the explanations differentiate. kerascls models end in logits
("head_dense") followed by a float32 softmax ("predictions"): the logit is the score,
because a softmax output saturates (its gradient vanishes for a confident prediction) and
mixes in every other class. A model without "head_dense" (say a user's Sequential model)
that ends in a softmax gets the log of the probability (the logit minus a term shared by
all classes); any other model gets its raw output.

Layers inside a nested model (a transfer backbone) are named by path, "backbone/conv_1".
Their tensors are not reachable from the outer model's graph, so the outer graph is
re-traced with the nested model swapped for a copy of it that also outputs the inner
layer: `keras.models.clone_model` with a `call_function` for functional models, a plain
layer-by-layer chain for Sequential ones (which are chains by definition). Layers are
reused, not copied.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
    >>> probe = probe_model(model, ["stage2_act2"])
    >>> [tuple(t.shape) for t in probe(np.zeros((1, 16, 16, 3), "float32"))]
    [(1, 8, 8, 16), (1, 3), (1, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from kerascls.errors import ModelError
from kerascls.models import conv_layer_names, get_layer_by_path

LOGITS_LAYER = "head_dense"
# how probe_model's score output was made, for messages and tests
SCORE_LOGITS, SCORE_LOG_PROBABILITY, SCORE_OUTPUT = "logits", "log_probability", "output"


def check_conv_layer(model: Any, path: str) -> Any:
    """Return the layer at `path` if it has a 4-D output (height, width, channels).

    Raises:
        ModelError: no such layer, or one without a spatial output; the message lists the
            layers that qualify.
    """
    layer = get_layer_by_path(model, path)  # raises, listing the choices, if it is missing
    choices = conv_layer_names(model)
    if path not in choices:
        raise ModelError(
            f"layer {path!r} of model {model.name!r} has no 4-D (height, width, channels) "
            f"output; layers with 4-D outputs: {', '.join(choices)}"
        )
    return layer


def score_kind(model: Any) -> str:
    """Which class score `probe_model` explains: logits, log-probability or the output."""
    if any(layer.name == LOGITS_LAYER for layer in model.layers):
        return SCORE_LOGITS
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or getattr(activation, "__name__", "") == "softmax":
        return SCORE_LOG_PROBABILITY
    return SCORE_OUTPUT


def probe_model(model: Any, layer_paths: Sequence[str] = ()) -> keras.Model:
    """A model sharing `model`'s layers that outputs [*feature maps, scores, probabilities].

    Args:
        model: a built Keras 3 functional or Sequential classifier with one image input
            and one output.
        layer_paths: layers with 4-D outputs, by name or "nested/name" path (see
            `kerascls.models.conv_layer_names`).

    Returns:
        A functional model; its outputs are the feature maps in the order given, the
        class scores (N, classes) (see `score_kind`) and the model's output (N, classes).

    Raises:
        ModelError: a layer that does not exist or has no 4-D output, or a model with
            several inputs or outputs.

    Example:
        >>> from kerascls.models import create_model, find_last_conv_layer
        >>> model = create_model("resnet20", 10)
        >>> len(probe_model(model, [find_last_conv_layer(model)]).outputs)
        3
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(
            f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; explanations need one image input and one class output"
        )
    for path in layer_paths:
        check_conv_layer(model, path)
    kind = score_kind(model)
    wanted = [*layer_paths, LOGITS_LAYER] if kind == SCORE_LOGITS else list(layer_paths)
    wired = layer_outputs_model(model, wanted)
    inputs, tensors = wired.inputs[0], list(wired.outputs)
    probabilities = tensors[-1]
    if kind == SCORE_LOGITS:
        scores = tensors[len(layer_paths)]
    elif kind == SCORE_LOG_PROBABILITY:
        # the floor keeps log finite when float32 softmax underflows to 0
        scores = keras.ops.log(keras.ops.maximum(keras.ops.cast(probabilities, "float32"), 1e-30))
    else:
        scores = probabilities
    return keras.Model(inputs, [*tensors[: len(layer_paths)], scores, probabilities])


def layer_outputs_model(model: Any, paths: Sequence[str]) -> keras.Model:
    """A model sharing `model`'s layers with outputs [*tensors at `paths`, model output]."""
    nested: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, []).append(rest)
    if not nested:
        # Every tensor is in this graph already: no new layer calls, no new graph nodes.
        outputs = [model.get_layer(path).output for path in paths]
        return keras.Model(model.inputs[0], [*outputs, model.outputs[0]])

    # A copy of each nested model that also outputs its inner layers (recursively).
    copies = {
        name: layer_outputs_model(model.get_layer(name), inner) for name, inner in nested.items()
    }
    found: dict[str, Any] = {}

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if layer.name not in copies:
            output = layer(*args, **kwargs)
            found[layer.name] = output
            return output
        *inner, output = copies[layer.name](*args, **kwargs)
        for rest, tensor in zip(nested[layer.name], inner, strict=True):
            found[f"{layer.name}/{rest}"] = tensor
        found[layer.name] = output
        return output

    if isinstance(model, keras.Sequential):
        source = model.inputs[0]
        inputs = keras.Input(shape=tuple(source.shape[1:]), dtype=source.dtype)
        output = inputs
        for layer in model.layers:
            output = call(layer, output)
    else:
        clone = keras.models.clone_model(
            model, clone_function=lambda layer: layer, call_function=call
        )
        inputs, output = clone.inputs[0], clone.outputs[0]
    return keras.Model(inputs, [*(found[path] for path in paths), output])
