"""The model registry: one front door (`create_model`) to every architecture kerascls ships.

A model is one builder function decorated with `register_model`. The builder receives a
`BuildSpec` (build_spec.py: the arguments every model shares: classes, input shape,
normalization statistics and the Keras namespace to build with) plus its own keyword
arguments, and
returns a functional model. `create_model` validates the shared arguments once, so
builders only check what is specific to them.

Example:
    >>> from kerascls.models import create_model, get_model_info, list_models
    >>> "resnet20" in list_models()
    True
    >>> get_model_info("se_resnet20").default_kwargs["se_ratio"]
    0.25
    >>> model = create_model("resnet20", num_classes=10, input_shape=(32, 32, 3))
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

from kerascls.errors import ModelError
from kerascls.models._checks import is_int, is_real
from kerascls.models.build_spec import BuildSpec

BACKENDS = ("keras", "tf_keras")


@dataclass(frozen=True)
class ModelInfo:
    """Registration metadata of one model name.

    Args:
        name: the registry name.
        family: the architecture family, e.g. "resnet_cifar" or "transfer".
        builder: the decorated builder function.
        supports_tf_keras: whether `create_model(..., backend="tf_keras")` can build it.
        default_kwargs: keyword arguments this name passes to the builder by default.
        description: the first line of the builder's docstring.

    Example:
        >>> from kerascls.models import get_model_info
        >>> info = get_model_info("resnet56")
        >>> info.family, info.supports_tf_keras, dict(info.default_kwargs)
        ('resnet_cifar', True, {'depth': 56})
    """

    name: str
    family: str
    builder: Callable[..., Any]
    supports_tf_keras: bool
    default_kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, ModelInfo] = {}


def _unknown_kwargs(builder: Callable[..., Any], given: Any) -> tuple[list[str], list[str]]:
    """The names in `given` that `builder` does not take (none when it takes **kwargs),
    sorted, and the keyword arguments it accepts after the spec."""
    params = list(inspect.signature(builder).parameters.values())[1:]
    accepted = [p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return ([] if open_ended else sorted(set(given) - set(accepted))), accepted


def register_model(
    name: str | None = None,
    *,
    family: str | None = None,
    supports_tf_keras: bool = True,
    **default_kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a builder under `name`; stack the decorator to register variants.

    The builder's first parameter is a `BuildSpec`; its other parameters are keyword
    arguments users may pass to `create_model`. It returns a functional model that
    follows the kerascls conventions (input "image", "standardize" layer, head ending in
    a float32 "predictions" softmax); `kerascls.models.layers` has helpers for both ends.

    Args:
        name: registry name; defaults to the function's name.
        family: architecture family recorded in the metadata; defaults to the name of
            the module that defines the builder.
        supports_tf_keras: whether the builder only uses layers through `spec.keras`, so
            that it can be rebuilt with tf_keras.
        **default_kwargs: keyword arguments this name passes to the builder.

    Returns:
        A decorator that records the builder and returns it unchanged.

    Example:
        >>> from kerascls.models import create_model, register_model
        >>> from kerascls.models.layers import classifier_head, image_input
        >>> @register_model("tiny_doc_example", family="example", width=8)
        ... def tiny(spec, *, width=16):
        ...     '''A one-convolution example.'''
        ...     inputs, x = image_input(spec)
        ...     x = spec.keras.layers.Conv2D(width, 3, name="stem_conv")(x)
        ...     return spec.keras.Model(inputs, classifier_head(spec, x), name=spec.name)
        >>> create_model("tiny_doc_example", num_classes=3).count_params()
        251
    """

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        _add(name or builder.__name__, builder, family, supports_tf_keras, default_kwargs)
        return builder

    return decorator


def _add(
    key: str,
    builder: Callable[..., Any],
    family: str | None,
    supports_tf_keras: bool,
    default_kwargs: dict[str, Any],
) -> None:
    """Record one registration of `register_model`, refusing a name that is taken and
    default arguments the builder does not take."""
    if key in _REGISTRY:
        raise ModelError(f"model name {key!r} is already registered; choose another name")
    unknown, accepted = _unknown_kwargs(builder, default_kwargs)
    if unknown:
        raise ModelError(
            f"default argument(s) {unknown} of model {key!r} are not parameters of "
            f"{builder.__name__}(); it accepts: {', '.join(accepted)}"
        )
    doc = inspect.getdoc(builder) or ""
    _REGISTRY[key] = ModelInfo(
        name=key,
        family=family or builder.__module__.rsplit(".", 1)[-1],
        builder=builder,
        supports_tf_keras=supports_tf_keras,
        default_kwargs=MappingProxyType(dict(default_kwargs)),
        description=doc.splitlines()[0] if doc else "",
    )


def list_models() -> list[str]:
    """Return every registered model name, sorted.

    Example:
        >>> from kerascls.models import list_models
        >>> list_models()[:3]
        ['airbench', 'airbench_wide', 'cnn']
    """
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """Return the registration metadata of `name`.

    Args:
        name: a registered model name.

    Raises:
        ModelError: `name` is not registered (the message suggests close matches).

    Example:
        >>> from kerascls.models import get_model_info
        >>> get_model_info("transfer_resnet50").supports_tf_keras
        False
    """
    info = _REGISTRY.get(name) if isinstance(name, str) else None
    if info is None:
        names = list_models()
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
        raise ModelError(f"unknown model {name!r}; {hint}valid names: {', '.join(names)}")
    return info


def _check_num_classes(num_classes: Any) -> int:
    if not is_int(num_classes) or num_classes < 2:
        raise ModelError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return int(num_classes)


def _check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    ok = len(shape) == 3 and all(is_int(d) and d > 0 for d in shape)
    if not ok or shape[2] != 3:
        raise ModelError(
            f"input_shape must be (height, width, 3) with positive integers, got "
            f"{input_shape!r}; convert grayscale images to RGB"
        )
    return (int(shape[0]), int(shape[1]), int(shape[2]))


def _check_stats(mean: Any, std: Any) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Validate per-channel statistics; a scalar applies to all three channels."""
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ModelError(f"give both mean and std or neither, got mean={mean!r}, std={std!r}")

    def three(label: str, value: Any) -> tuple[float, float, float]:
        try:
            values = [float(value)] * 3 if is_real(value) else list(value)
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            values = []
        if len(values) != 3:
            raise ModelError(f"{label} must be one number or 3 (one per channel), got {value!r}")
        return tuple(values)  # type: ignore[return-value]

    m, s = three("mean", mean), three("std", std)
    if min(s) <= 0:
        raise ModelError(f"std must be positive in every channel, got {std!r}")
    # A 0-255 image with mean <= 1 and std <= 1 is all but black: these are 0-1 statistics.
    if max(m) <= 1.0 and max(s) <= 1.0:
        raise ModelError(
            f"mean={mean!r} and std={std!r} look like 0-1 scale statistics; kerascls models "
            "take raw 0-255 pixels, so give them on that scale (multiply by 255)"
        )
    return m, s


def _namespace(backend: Any) -> ModuleType:
    """Import the Keras namespace to build with; tf_keras only when asked for."""
    if backend not in BACKENDS:
        raise ModelError(f"backend must be one of {BACKENDS}, got {backend!r}")
    try:
        return importlib.import_module(backend)
    except ImportError as error:
        raise ModelError(
            f"backend={backend!r} needs the {backend} package ({error}); "
            "install it with: pip install tf_keras"
        ) from error


def create_model(
    name: str,
    num_classes: int,
    input_shape: Sequence[int] = (32, 32, 3),
    *,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    backend: str = "keras",
    **kwargs: Any,
) -> Any:
    """Build a registered model.

    Every model takes raw 0-255 float32 pixels on an input named "image"; its first layer,
    "standardize", applies `(x - mean) / std` when `mean`/`std` are given and `x / 255`
    otherwise (transfer models apply their backbone's own preprocessing and ignore both).
    The output "predictions" holds float32 class probabilities.

    Args:
        name: a name from `list_models()`.
        num_classes: number of classes (>= 2).
        input_shape: `(height, width, 3)`.
        mean: per-channel mean of the training images on the 0-255 scale (or one number).
        std: per-channel standard deviation on the 0-255 scale (or one number).
        backend: "keras" (Keras 3) or "tf_keras" (Keras 2, for tensorflow-model-optimization;
            only for models whose `get_model_info(name).supports_tf_keras` is True). The
            layer order is the same, so `set_weights(get_weights())` copies across.
        **kwargs: model-specific options; see the builder's docstring
            (`get_model_info(name).builder`) and the defaults in `default_kwargs`.

    Returns:
        A functional `keras.Model` (a `tf_keras.Model` for backend="tf_keras").

    Raises:
        ModelError: an unknown name, an unknown option, or a bad value (quoted).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 10, (32, 32, 3), mean=(125.3, 123.0, 113.9),
        ...                      std=(63.0, 62.1, 66.7), filters=(16, 32), dropout=0.1)
        >>> model.get_layer("standardize").__class__.__name__
        'Normalization'
    """
    info = get_model_info(name)
    spec_mean, spec_std = _check_stats(mean, std)
    _check_options(info, backend, kwargs)
    spec = BuildSpec(
        name=name,
        num_classes=_check_num_classes(num_classes),
        input_shape=_check_input_shape(input_shape),
        mean=spec_mean,
        std=spec_std,
        keras=_namespace(backend),
    )
    return info.builder(spec, **{**info.default_kwargs, **kwargs})


def _check_options(info: ModelInfo, backend: str, kwargs: dict[str, Any]) -> None:
    """Refuse a backend the model cannot be built with, and options its builder lacks."""
    if backend == "tf_keras" and not info.supports_tf_keras:
        raise ModelError(
            f"model {info.name!r} cannot be built with backend='tf_keras'; use 'keras'"
        )
    unknown, accepted = _unknown_kwargs(info.builder, kwargs)
    if unknown:
        raise ModelError(
            f"unknown argument(s) {unknown} for model {info.name!r}; it accepts: "
            f"{', '.join(accepted)}"
        )
