"""The input end shared by every model: a raw-pixel "image" input and "standardize".

Models take raw 0-255 pixels so that exported files cannot be fed the wrong
preprocessing. "standardize" is `Normalization(mean, variance=std**2)` when training-set
statistics (0-255 scale) are given, else `Rescaling(1/255)`.

Example:
    >>> import keras
    >>> from kerascls.models.layers import image_input
    >>> from kerascls.models.build_spec import BuildSpec
    >>> spec = BuildSpec("cnn", 10, (32, 32, 3), (120.0, 115.0, 100.0), (60.0, 60.0, 60.0), keras)
    >>> inputs, x = image_input(spec)
    >>> inputs.name, x.shape
    ('image', (None, 32, 32, 3))
"""

from __future__ import annotations

from typing import Any

from kerascls.models.build_spec import BuildSpec


def image_input(spec: BuildSpec) -> tuple[Any, Any]:
    """Create the "image" input and the "standardize" layer after it.

    Args:
        spec: the build spec (input shape, statistics and Keras namespace).

    Returns:
        `(inputs, x)`: the Input tensor and the standardized tensor.

    Example:
        >>> import keras
        >>> spec = BuildSpec("cnn", 10, (32, 32, 3), None, None, keras)
        >>> type(keras.Model(*image_input(spec)).get_layer("standardize")).__name__
        'Rescaling'
    """
    K = spec.keras
    inputs = K.Input(shape=spec.input_shape, dtype="float32", name="image")
    if spec.mean is None or spec.std is None:
        x = K.layers.Rescaling(1.0 / 255.0, name="standardize")(inputs)
    else:
        variance = [s * s for s in spec.std]
        x = K.layers.Normalization(
            axis=-1, mean=list(spec.mean), variance=variance, name="standardize"
        )(inputs)
    return inputs, x
