"""`BuildSpec`: what every model builder is given besides its own keyword arguments.

The registry (registry.py) makes one from the arguments of `create_model` once they are
checked; builders, the shared layers (layers/) and the argument checks (_checks.py) read
it. It lives apart from the registry so that the checks can name it without importing
the registry that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class BuildSpec:
    """What every builder is given besides its own keyword arguments.

    Args:
        name: registry name; builders use it as the Keras model name.
        num_classes: number of output classes (>= 2).
        input_shape: `(height, width, 3)` of the raw 0-255 images.
        mean: per-channel mean on the 0-255 scale, or None for plain `1/255` rescaling.
        std: per-channel standard deviation on the 0-255 scale, or None.
        keras: the Keras namespace to build with: the `keras` module, or `tf_keras` when
            the model must be rebuilt for tensorflow-model-optimization.

    Example:
        >>> import keras
        >>> spec = BuildSpec("cnn", 10, (32, 32, 3), None, None, keras)
        >>> spec.height, spec.width, spec.keras.__name__
        (32, 32, 'keras')
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    keras: ModuleType

    @property
    def height(self) -> int:
        return self.input_shape[0]

    @property
    def width(self) -> int:
        return self.input_shape[1]
