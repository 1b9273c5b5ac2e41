"""Progressive resizing: the first part of a run trains on smaller images, the rest at full size.

A step at half the side costs about a quarter of a full-size one, and what a network learns
on small images carries over to large ones: fast.ai's DAWNBench ImageNet runs went from 128
to 224 to 288 px, and FixRes (Touvron et al., 2019) showed that a network is best finished
at the size it is tested at. `Recipe(low_res_scale=0.5, low_res_share=0.5)` trains the first
half of the run's steps on images of half the side, then the rest at full size.

How, in Keras 3, whose functional models take one input size:
- `any_size_view(model)` is the same layers, and so the same variables, under an input of
  any height and width. Training fits the view; checkpoints, exports and the final
  evaluation use the model at its own size, which the view trains in place.
- The training pipeline downscales each batch while a flag is set
  (`kerascls.data.LowResolution`), and `ResolutionSwitch` clears the flag once the share
  of the run's steps is done (the planned steps, which a time budget keeps up to date).

Only networks that end in global pooling take any size (`takes_any_size`); a ViT's position
embeddings and a keras.applications backbone's fixed input do not, and train at one size.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 2, (32, 32, 3), filters=(4,), convs_per_stage=1)
    >>> view = any_size_view(model)
    >>> view(np.zeros((1, 16, 16, 3))).shape, view.weights[0] is model.weights[0]
    (TensorShape([1, 2]), True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import keras
import tensorflow as tf

from kerascls.models import get_model_info

log = logging.getLogger(__name__)

# Model families whose networks end in global pooling, so that any input size works
# (tests/test_resolution.py builds the view of every registered model of these families).
# ("cnn" holds airbench, the default, beside the plain and SE CNNs)
ANY_SIZE_FAMILIES = frozenset({"cnn", "resnet", "resnet_cifar", "mobilenetv3", "convnext"})


def takes_any_size(model_name: str) -> bool:
    """Whether the registered model `model_name` can be trained on several image sizes."""
    return get_model_info(model_name).family in ANY_SIZE_FAMILIES


def low_resolution_size(image_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The image size of the low-resolution phase: each side times `scale`, at least 1."""
    return tuple(max(round(side * scale), 1) for side in image_size)  # type: ignore[return-value]


def any_size_view(model: keras.Model) -> keras.Model:
    """The functional `model`'s layers under an input of any height and width.

    Every layer is the model's own (no copy), so training the view trains the model.
    """
    shape = model.inputs[0].shape
    inputs = keras.Input((None, None, shape[-1]), name=model.inputs[0].name)
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda x: x)


class ResolutionSwitch(keras.callbacks.Callback):
    """Clear `low_resolution` (the pipeline's flag) once `share` of the run's steps are done.

    Args:
        low_resolution: the flag the training pipeline reads (True: downscale batches).
        share: the fraction of the run's planned steps trained at low resolution.
        total_steps: the run's planned steps: an int, or the variable a time budget sets.
        on_switch: called with the step of the switch (the run records it; a time budget
            re-measures its speed, since full-size steps cost more).

    A resumed run past its switch goes on at full size from its first step. The batches
    the pipeline has already prepared (a few) still come at low resolution.
    """

    def __init__(
        self,
        low_resolution: tf.Variable,
        share: float,
        total_steps: int | keras.Variable,
        on_switch: Callable[[int], None] | None = None,
    ):
        super().__init__()
        self.low_resolution = low_resolution
        self.share = float(share)
        self.total_steps = total_steps
        self.on_switch = on_switch
        self.switched_at: int | None = None
        self._first_batch = True

    def switch_step(self) -> int:
        total = int(keras.ops.convert_to_numpy(self.total_steps))
        return int(self.share * max(total, 0))

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        first, self._first_batch = self._first_batch, False
        if not bool(self.low_resolution.numpy()):
            return
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step >= self.switch_step():
            self.low_resolution.assign(False)
            if first and step > self.switch_step():
                return  # a resumed run past its switch: already recorded when it happened
            self.switched_at = step
            log.info("full resolution from step %d", step)
            if self.on_switch is not None:
                self.on_switch(step)
