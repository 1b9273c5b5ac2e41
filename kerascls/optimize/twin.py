"""The tf_keras twin of a Keras 3 kerascls model, and weight copies between the two.

tensorflow-model-optimization 0.8 (QAT, pruning) works only on tf_keras models. Every
registry model can be rebuilt with `create_model(..., backend="tf_keras")` with the same
layer names and order, so a trained Keras 3 model gets a tf_keras twin with its weights,
and the twin's fine-tuned weights come back the same way. Copies go layer by layer, by
name: tfmot's wrappers ("quant_<name>", "prune_low_magnitude_<name>") add variables of
their own (quantizer ranges, masks), so a flat `set_weights(get_weights())` works only
between unwrapped models.

Example:
    >>> from kerascls.models import create_model
    >>> from kerascls.optimize.twin import tf_keras_twin
    >>> model = create_model("resnet20", 10, (32, 32, 3), mean=(125.3, 123.0, 113.9),
    ...                      std=(63.0, 62.1, 66.7))
    >>> twin = tf_keras_twin(model)
    >>> type(twin).__module__.split(".")[0], twin.count_params() == model.count_params()
    ('tf_keras', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerascls.errors import ModelError

# Name prefixes tfmot gives the layers it wraps.
WRAPPER_PREFIXES = ("quant_", "prune_low_magnitude_")


@dataclass(frozen=True)
class ModelRecipe:
    """Everything `create_model` needs to rebuild a kerascls model.

    Args:
        name: the registry name.
        num_classes: number of classes.
        input_shape: (height, width, 3).
        mean / std: per-channel statistics on the 0-255 scale, or None (x / 255).
        kwargs: the builder's own options (e.g. `{"filters": (8, 16)}`).

    Example:
        >>> recipe = ModelRecipe("cnn", 3, (16, 16, 3), kwargs={"filters": (8, 16)})
        >>> recipe.build().name
        'cnn'
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def build(self, backend: str = "keras") -> Any:
        """A fresh (untrained) model: Keras 3, or tf_keras with backend="tf_keras"."""
        from kerascls.models import create_model, get_model_info

        if backend == "tf_keras" and not get_model_info(self.name).supports_tf_keras:
            raise ModelError(
                f"model {self.name!r} cannot be rebuilt with tf_keras (a keras.applications "
                "backbone or Keras 3-only layers), so tensorflow-model-optimization cannot "
                "quantize or prune it; "
                "distill it into a registry model instead (kerascls-optimize --distill RUN)"
            )
        return create_model(
            self.name,
            self.num_classes,
            self.input_shape,
            mean=self.mean,
            std=self.std,
            backend=backend,
            **dict(self.kwargs),
        )

    @classmethod
    def from_run(cls, run: Any) -> ModelRecipe:
        """The recipe recorded in a run folder's run.json."""
        info = run.info
        stats = info.normalization
        return cls(
            name=info.model.name,
            num_classes=len(info.class_names),
            input_shape=tuple(info.input_shape),
            mean=_tuple(stats.mean if stats else None),
            std=_tuple(stats.std if stats else None),
            kwargs=dict(info.model.kwargs or {}),
        )

    @classmethod
    def from_model(cls, model: Any, kwargs: Mapping[str, Any] | None = None) -> ModelRecipe:
        """Read the recipe off a Keras 3 kerascls model (its name, shapes and statistics).

        The builder options cannot be read from a model: pass them as `kwargs` when they
        are not the registry defaults (a mismatch is caught when the weights are copied).
        """
        from kerascls.models import get_model_info

        get_model_info(model.name)  # a clear error for a model that is not from the registry
        mean = std = None
        try:
            standardize = model.get_layer("standardize")
        except ValueError:
            raise ModelError(
                f"model {model.name!r} has no 'standardize' layer; only kerascls registry "
                "models can be rebuilt for tensorflow-model-optimization"
            ) from None
        if type(standardize).__name__ == "Normalization":
            mean = _tuple(np.ravel(standardize.input_mean))
            std = _tuple(np.sqrt(np.ravel(standardize.input_variance)))
        return cls(
            name=model.name,
            num_classes=int(model.outputs[0].shape[-1]),
            input_shape=tuple(int(d) for d in model.inputs[0].shape[1:]),
            mean=mean,
            std=std,
            kwargs=dict(kwargs or {}),
        )


def _tuple(values: Any) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


def _layer_variables(layer: Any) -> tuple[str, list[Any]]:
    """The original name and weight variables of a layer, seen through tfmot's wrappers.

    A QuantizeWrapper takes the quantized kernel out of the inner layer's own weight list,
    so the inner layer cannot be asked; the wrapper's weights are the inner layer's (in
    their original order) plus the wrapper's own, whose names start with the wrapper's name
    (quantizer ranges, pruning masks, step counters).
    """
    inner = getattr(layer, "layer", None)
    if inner is None or not any(layer.name.startswith(p) for p in WRAPPER_PREFIXES):
        return layer.name, list(layer.weights)
    own = f"{layer.name}/"
    return inner.name, [w for w in layer.weights if not w.name.startswith(own)]


def copy_weights(source: Any, target: Any) -> None:
    """Copy every layer's weights from `source` to the same-named layer of `target`.

    Works across Keras 3 and tf_keras and through tfmot's wrappers on either side (their
    own quantizer and mask variables are left alone). Both must be the same architecture.

    Raises:
        ModelError: a layer of `target` with weights is missing from `source`, or holds
            weights of other shapes (the two were built with different options).
    """
    sources = dict(_layer_variables(layer) for layer in source.layers)
    for layer in target.layers:
        name, variables = _layer_variables(layer)
        if not variables:
            continue
        values = sources.get(name)
        if values is None:
            raise ModelError(
                f"cannot copy weights: {source.name!r} has no layer {name!r}; the two "
                "models are not the same architecture (built with other options?)"
            )
        got = [tuple(v.shape) for v in values]
        want = [tuple(v.shape) for v in variables]
        if got != want:
            raise ModelError(
                f"cannot copy weights of layer {name!r}: shapes {got} vs {want}; was the "
                "model built with other options (model_kwargs) than the ones given?"
            )
        for variable, value in zip(variables, values, strict=True):
            variable.assign(np.asarray(value))


def tf_keras_twin(model: Any, recipe: ModelRecipe | None = None) -> Any:
    """Rebuild a Keras 3 kerascls model with tf_keras and copy its weights into it.

    Args:
        model: a Keras 3 model built by `create_model` (or loaded from a run).
        recipe: how it was built; default: read off the model (registry defaults for its
            builder options: give the recipe when they differ).

    Returns:
        A tf_keras functional model with the same layers, names and weights.

    Raises:
        ModelError: a model that tf_keras cannot build (transfer models), or a recipe that
            does not match the model's weights.
    """
    recipe = recipe or ModelRecipe.from_model(model)
    twin = recipe.build("tf_keras")
    copy_weights(model, twin)
    return twin


def keras_model_like(tf_keras_model: Any, recipe: ModelRecipe) -> Any:
    """The Keras 3 model of `recipe` holding the weights of a (possibly wrapped) tf_keras one."""
    model = recipe.build("keras")
    copy_weights(tf_keras_model, model)
    return model
