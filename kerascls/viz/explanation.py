"""What every explanation method returns, and the base class they share.

An explainer (`GradCAM`, `Saliency`, `Occlusion`, `AttentionRollout`, each an `Explainer`)
takes a batch of images and returns an `Explanation`: one heatmap per image, scaled to
[0, 1] at the model's input resolution, the class each heatmap explains, and the predicted
probabilities, computed in the same forward pass (so the CLI can print the top classes
without a second model call). `Explainer.__call__` does the part they share: the images to
a batch at the model's size, the class indices checked, the maps scaled, the result built.

Example:
    >>> import numpy as np
    >>> explanation = Explanation(
    ...     heatmaps=np.zeros((1, 4, 4), np.float32), class_indices=np.array([1]),
    ...     probabilities=np.array([[0.2, 0.7, 0.1]]), method="gradcam", layer="conv")
    >>> explanation.top_k(2)
    [[(1, 0.7), (0, 0.2)]]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerascls.errors import DataError, KerasclsError
from kerascls.evaluate.ranking import top_k_indices


@dataclass(frozen=True)
class Explanation:
    """Heatmaps of a batch of images, with the classes they explain.

    Args:
        heatmaps: float32 (N, H, W) in [0, 1] at the model's input resolution; 1 is the
            most important pixel of that image.
        class_indices: int (N,), the class each heatmap explains.
        probabilities: float32 (N, classes), the model's output for each image.
        method: "gradcam", "gradcam++", "saliency" or "occlusion".
        layer: the layer Grad-CAM used, None for the other methods.
    """

    heatmaps: np.ndarray
    class_indices: np.ndarray
    probabilities: np.ndarray
    method: str
    layer: str | None = None

    def top_k(self, k: int = 5) -> list[list[tuple[int, float]]]:
        """Per image, the k most probable classes as (index, probability), best first;
        equal probabilities in class-index order (`top_k_indices`)."""
        order = top_k_indices(self.probabilities, k)
        return [
            [(int(i), float(row[i])) for i in indices]
            for indices, row in zip(order, self.probabilities, strict=True)
        ]


class Explainer(ABC):
    """Base of the explanation methods: images and the classes to explain in, an
    `Explanation` out.

    A subclass sets `model`, `size` (`kerascls.viz.images.model_image_size`) and `method`
    (`layer` too if it explains one), and implements `_explain(batch, targets)`:
    float32 (N, h, w, 3) images at `size` and int32 (N,) classes (-1: the top class) to
    non-negative maps (N, h', w'), the class each map explains and the probabilities.
    """

    model: Any
    size: tuple[int, int] | None
    method: str
    layer: str | None = None

    def __call__(
        self, images: np.ndarray, class_index: int | Sequence[int] | None = None
    ) -> Explanation:
        """Explain one image (H, W, 3) or a batch (N, H, W, 3) of 0-255 RGB pixels.

        Args:
            images: raw pixels, uint8 or float; resized to the model's input if needed.
            class_index: the class to explain, one per image or one for all; None: each
                image's top class.

        Returns:
            An `Explanation` of the batch (a batch of one for a single image).
        """
        batch, _ = as_batch(images, self.size)
        num_classes = int(self.model.outputs[0].shape[-1])
        targets = class_index_array(class_index, len(batch), num_classes)
        maps, chosen, probabilities = self._explain(batch, targets)
        return Explanation(
            heatmaps=normalize_maps(maps, batch.shape[1:3]),
            class_indices=np.asarray(chosen).astype(np.int32, copy=False),
            probabilities=np.asarray(probabilities, np.float32),
            method=self.method,
            layer=self.layer,
        )

    @abstractmethod
    def _explain(self, batch: np.ndarray, targets: np.ndarray) -> tuple[Any, Any, Any]:
        """(maps, chosen class indices, probabilities) of `batch` for `targets`: what each
        method computes; `__call__` does the rest."""


def as_batch(images: Any, size: tuple[int, int] | None) -> tuple[np.ndarray, bool]:
    """float32 (N, h, w, 3) 0-255 images at the model's input `size`, and whether one
    image (H, W, 3) was given rather than a batch.

    Raises:
        DataError: not an RGB image or batch of them.
    """
    batch = np.asarray(images)
    single = batch.ndim == 3
    if single:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise DataError(
            f"expected an RGB image (H, W, 3) or a batch (N, H, W, 3), got shape {batch.shape}"
        )
    if size is not None and tuple(batch.shape[1:3]) != tuple(size):
        from kerascls.viz.images import resize_image

        # the pipeline's resize takes uint8 (it rounds like training does)
        pixels = np.clip(np.round(batch), 0, 255).astype(np.uint8)
        batch = np.stack([resize_image(image, size) for image in pixels])
    return batch.astype(np.float32, copy=False), single


def class_index_array(
    class_index: int | Sequence[int] | None, count: int, num_classes: int
) -> np.ndarray:
    """int32 (count,) class indices; -1 means "the top class of that image".

    Raises:
        KerasclsError: an index outside 0..num_classes-1, or a sequence of the wrong length.
    """
    if class_index is None:
        return np.full(count, -1, np.int32)
    indices = np.asarray(class_index, dtype=np.int64).reshape(-1)
    if indices.size == 1:
        indices = np.repeat(indices, count)
    if indices.size != count:
        raise KerasclsError(f"{indices.size} class indices given for {count} images")
    bad = indices[(indices < 0) | (indices >= num_classes)]
    if bad.size:
        raise KerasclsError(
            f"class index {int(bad[0])} is out of range: the model has {num_classes} classes "
            f"(0..{num_classes - 1})"
        )
    return indices.astype(np.int32)


def normalize_maps(maps: Any, size: tuple[int, int]) -> np.ndarray:
    """Resize non-negative maps (N, h, w) to `size` (bilinear) and min-max scale each to
    [0, 1].

    A constant map (nothing singles out a region) becomes zero everywhere.
    """
    import tensorflow as tf

    maps = tf.convert_to_tensor(maps, tf.float32)
    if tuple(maps.shape[1:3]) != tuple(size):
        maps = tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]
    maps = np.maximum(np.asarray(maps), 0.0)
    # Min-max scaling: evidence spread evenly over the image (a class's bias, a uniform
    # background) says nothing about where the object is; subtracting the minimum keeps
    # the overlay on what varies.
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
