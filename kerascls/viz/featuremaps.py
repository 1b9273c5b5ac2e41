"""Feature maps: what the channels of a model's convolutional layers respond to in an image.

By default one layer per stage is shown: the last layer at each spatial resolution (just
before the network downsamples), which is where a stage's output is. Preprocessing layers
(standardize, rescaling, resize) and 1x1 maps (nothing spatial to see) are left out.

Example:
    >>> import numpy as np
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
    >>> default_feature_layers(model)
    ['stage1_act2', 'stage2_act2']
    >>> maps = feature_maps(model, np.zeros((16, 16, 3)))
    >>> maps["stage2_act2"].shape
    (8, 8, 16)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kerascls.models import conv_layer_names, get_layer_by_path
from kerascls.viz.explanation import as_batch
from kerascls.viz.files import new_figure
from kerascls.viz.graph import check_conv_layer, layer_outputs_model
from kerascls.viz.images import model_image_size

# Layers that only rescale or resize pixels: their "feature maps" are the image itself.
_PREPROCESSING = {"Normalization", "Rescaling", "Resizing", "Identity", "CenterCrop"}


def default_feature_layers(model: Any) -> list[str]:
    """One layer per stage: the last one at each spatial resolution, in network order.

    Args:
        model: a Keras 3 convolutional model.

    Returns:
        Layer names (or "backbone/name" paths).

    Example:
        >>> from kerascls.models import create_model
        >>> default_feature_layers(create_model("resnet20", 10))
        ['stage1_block3_out', 'stage2_block3_out', 'stage3_block3_out']
    """
    chosen: list[str] = []
    previous: tuple[int, int] | None = None
    for path in conv_layer_names(model):
        layer = get_layer_by_path(model, path)
        if type(layer).__name__ in _PREPROCESSING:
            continue
        spatial = tuple(layer.output.shape[1:3])
        if spatial == previous:
            chosen[-1] = path  # same stage: keep its last layer
        else:
            chosen.append(path)
        previous = spatial
    spatial_ones = [
        p for p in chosen if tuple(get_layer_by_path(model, p).output.shape[1:3]) != (1, 1)
    ]
    return spatial_ones or chosen


def feature_maps(
    model: Any, image: np.ndarray, layers: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The activations of `layers` for one image.

    Args:
        model: a Keras 3 convolutional model taking 0-255 RGB pixels.
        image: one image (H, W, 3), resized to the model's input if needed.
        layers: layer names or "backbone/name" paths; default `default_feature_layers`.

    Returns:
        Layer -> float32 (h, w, channels), in the order of `layers`.

    Raises:
        ModelError: a layer that does not exist or has no 4-D output (the message lists
            the layers that do).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> list(feature_maps(model, np.zeros((16, 16, 3)), ["stage1_conv1"]))
        ['stage1_conv1']
    """
    layers = list(layers) if layers else default_feature_layers(model)
    for layer in layers:
        check_conv_layer(model, layer)
    batch, _ = as_batch(image, model_image_size(model))
    # one image: a direct call
    outputs = layer_outputs_model(model, layers)(batch[:1], training=False)
    return {
        layer: np.asarray(output, dtype=np.float32)[0]
        for layer, output in zip(layers, outputs[:-1], strict=True)
    }


def plot_feature_maps(
    activations: np.ndarray,
    title: str = "",
    channels: int = 16,
    image: np.ndarray | None = None,
) -> Figure:
    """A grid of the most active channels of one layer's activations.

    Channels are ranked by mean activation (a ReLU network leaves many channels dark for a
    given image; the active ones are what the image triggered), and each one is scaled to
    its own range.

    Args:
        activations: float (h, w, channels) for one image.
        title: the figure title, e.g. the layer name.
        channels: how many channels to show.
        image: the input image (uint8 RGB), shown first for reference.

    Returns:
        A matplotlib Figure (save it with `kerascls.viz.save_figure`).

    Example:
        >>> figure = plot_feature_maps(np.random.rand(8, 8, 32), "stage2", channels=4)
        >>> len(figure.axes)
        4
    """
    activations = np.asarray(activations, np.float32)
    if activations.ndim != 3:
        raise ValueError(f"expected activations (h, w, channels), got {activations.shape}")
    count = max(1, min(channels, activations.shape[-1]))
    order = np.argsort(-activations.mean(axis=(0, 1)), kind="stable")[:count]
    cells = count + (image is not None)
    columns = math.ceil(math.sqrt(cells))
    rows = math.ceil(cells / columns)
    figure = new_figure(1.7 * columns, 1.8 * rows + 0.5)
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(cells)]
    if image is not None:
        axes[0].imshow(np.asarray(image, np.uint8))
        axes[0].set_title("input", fontsize=8)
    for ax, channel in zip(axes[cells - count :], order, strict=True):
        ax.imshow(activations[..., channel], cmap="viridis")  # scaled per channel
        ax.set_title(f"channel {channel}", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    height, width, depth = activations.shape
    figure.suptitle(
        f"{title}  ({height}x{width}x{depth}; {count} most active channels)", fontsize=10
    )
    return figure
