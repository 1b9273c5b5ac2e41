"""The explanation methods by name: the registry (METHODS), dispatch, one call per image.

`gradcam(model, image)` returns the heatmap array and is the quickest way to look at one
image. For many images, build an explainer once with `make_explainer` and call it on each
image or batch: the probe model and the traced gradient function are then built once.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
    >>> image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3))
    >>> gradcam(model, image).shape
    (16, 16)
    >>> explain(model, image, method="gradcam++").layer
    'stage2_act2'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.viz.cam import GradCAM
from kerascls.viz.explanation import Explainer, Explanation
from kerascls.viz.pixel_attribution import Occlusion, Saliency
from kerascls.viz.rollout import AttentionRollout

METHODS = ("gradcam", "gradcam++", "saliency", "occlusion")
# Methods for Vision Transformers only (kept out of METHODS, which every model supports).
TRANSFORMER_METHODS = ("attention_rollout",)


def make_explainer(
    model: Any, method: str = "gradcam", layer: str | None = None, **options: Any
) -> Explainer:
    """An explainer for `model`, to call on images: `explainer(images, class_index)`.

    Args:
        model: a Keras 3 classifier taking raw 0-255 RGB pixels.
        method: one of METHODS, or "attention_rollout" for ViTs (TRANSFORMER_METHODS).
        layer: the layer Grad-CAM/Grad-CAM++ explain (default: the last conv layer);
            not accepted by the other methods.
        **options: passed to the explainer: `percentile` (saliency), `patch`, `stride`,
            `batch_size` (occlusion), `residual` (attention_rollout).

    Raises:
        KerasclsError: an unknown method, or a layer given to a method that takes none.
        ModelError: an unknown layer (the message lists the valid ones).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> explainer = make_explainer(model, "occlusion", patch=4)
        >>> explainer(np.zeros((16, 16, 3))).method
        'occlusion'
    """
    if method not in METHODS + TRANSFORMER_METHODS:
        choices = ", ".join(METHODS + TRANSFORMER_METHODS)
        raise KerasclsError(f"unknown method {method!r}; choose one of {choices}")
    if method in ("gradcam", "gradcam++"):
        return GradCAM(model, layer=layer, plus_plus=method == "gradcam++", **options)
    if layer is not None:
        raise KerasclsError(
            f"method {method!r} looks at the input pixels and takes no layer; "
            "a layer is for gradcam and gradcam++"
        )
    if method == "attention_rollout":
        return AttentionRollout(model, **options)
    return Saliency(model, **options) if method == "saliency" else Occlusion(model, **options)


def explain(
    model: Any,
    image: np.ndarray,
    method: str = "gradcam",
    class_index: int | Sequence[int] | None = None,
    layer: str | None = None,
    **options: Any,
) -> Explanation:
    """Explain one image (H, W, 3) or a batch (N, H, W, 3) of 0-255 RGB pixels.

    Args:
        model: a Keras 3 classifier.
        image: raw pixels, resized to the model's input if needed.
        method: one of METHODS.
        class_index: the class to explain; None: the top class of each image.
        layer: Grad-CAM's layer (default: the last conv layer).
        **options: see `make_explainer`.

    Returns:
        An `Explanation`: heatmaps, explained classes, probabilities.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> explain(model, np.zeros((16, 16, 3)), "saliency", class_index=2).class_indices
        array([2], dtype=int32)
    """
    return make_explainer(model, method, layer, **options)(image, class_index)


def _heatmaps(explanation: Explanation, image: np.ndarray) -> np.ndarray:
    # One image in, one (H, W) map out; a batch in, (N, H, W) out.
    return explanation.heatmaps[0] if np.ndim(image) == 3 else explanation.heatmaps


def gradcam(
    model: Any,
    image: np.ndarray,
    class_index: int | Sequence[int] | None = None,
    layer: str | None = None,
) -> np.ndarray:
    """Grad-CAM heatmap(s) in [0, 1] at the model's input resolution.

    Args:
        model: a Keras 3 classifier.
        image: one image (H, W, 3) or a batch (N, H, W, 3) of 0-255 RGB pixels.
        class_index: the class to explain; None: the top class.
        layer: the conv layer (name or "backbone/name"); default the last one.

    Returns:
        float32 (H, W) for one image, (N, H, W) for a batch.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> gradcam(model, np.zeros((2, 16, 16, 3)), layer="stage1_act1").shape
        (2, 16, 16)
    """
    return _heatmaps(explain(model, image, "gradcam", class_index, layer), image)


def gradcam_plus_plus(
    model: Any,
    image: np.ndarray,
    class_index: int | Sequence[int] | None = None,
    layer: str | None = None,
) -> np.ndarray:
    """Grad-CAM++ heatmap(s); arguments and result as `gradcam`.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> gradcam_plus_plus(model, np.zeros((16, 16, 3))).shape
        (16, 16)
    """
    return _heatmaps(explain(model, image, "gradcam++", class_index, layer), image)


def saliency(
    model: Any, image: np.ndarray, class_index: int | Sequence[int] | None = None
) -> np.ndarray:
    """Vanilla-gradient saliency map(s); arguments and result as `gradcam` (no layer).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> saliency(model, np.zeros((16, 16, 3))).dtype
        dtype('float32')
    """
    return _heatmaps(explain(model, image, "saliency", class_index), image)


def occlusion(
    model: Any,
    image: np.ndarray,
    class_index: int | Sequence[int] | None = None,
    patch: int | None = None,
    stride: int | None = None,
) -> np.ndarray:
    """Occlusion-sensitivity map(s); `patch` and `stride` in input pixels (see `Occlusion`).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> occlusion(model, np.zeros((16, 16, 3)), patch=4).shape
        (16, 16)
    """
    explanation = explain(model, image, "occlusion", class_index, patch=patch, stride=stride)
    return _heatmaps(explanation, image)
