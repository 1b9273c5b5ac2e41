"""A gallery of the model's most confident mistakes, with their true and predicted labels.

Confident mistakes are the instructive ones: mislabelled data, classes that look alike,
or a shortcut the model learnt (a background, a watermark). Low-confidence mistakes are
mostly hard images. Each cell shows the image as the dataset holds it.

Example:
    >>> import numpy as np
    >>> labels = np.array([0, 1, 1])
    >>> probabilities = np.array([[0.9, 0.1], [0.95, 0.05], [0.6, 0.4]])
    >>> most_confident_errors(labels, probabilities).tolist()
    [1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kerascls.viz.files import new_figure


def most_confident_errors(
    labels: np.ndarray, probabilities: np.ndarray, count: int | None = None
) -> np.ndarray:
    """Indices of the wrong predictions, most confident (highest top probability) first.

    Args:
        labels: int (N,) true classes.
        probabilities: (N, classes) predicted probabilities.
        count: keep at most this many; None keeps all.

    Example:
        >>> most_confident_errors(np.array([1]), np.array([[0.7, 0.3]]), count=5).tolist()
        [0]
    """
    probabilities = np.asarray(probabilities)
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != np.asarray(labels))
    order = wrong[np.argsort(-probabilities[wrong].max(axis=1), kind="stable")]
    return order if count is None else order[:count]


def split_images(split: Any, indices: Sequence[int]) -> list[np.ndarray]:
    """uint8 RGB images of a `kerascls.data.Split` at `indices`: from memory, or read from
    their files at full resolution."""
    if split.in_memory:
        return [np.asarray(split.images[i]) for i in indices]
    from kerascls.data.images import read_image

    return [read_image(split.paths[i]) for i in indices]


def plot_errors(
    images: Sequence[np.ndarray],
    labels: Sequence[int],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
) -> Figure:
    """A grid of images titled "true: X / pred: Y (p)".

    Args:
        images: uint8 RGB images (any sizes).
        labels: their true classes.
        probabilities: (len(images), classes) predicted probabilities.
        class_names: names of the classes.
        title: a title above the grid; with no images, the figure says there are none.

    Returns:
        A matplotlib Figure (save it with `kerascls.viz.save_figure`).

    Example:
        >>> figure = plot_errors([np.zeros((8, 8, 3), np.uint8)], [0],
        ...                      np.array([[0.2, 0.8]]), ["cat", "dog"])
        >>> figure.axes[0].get_title()
        'true: cat\\npred: dog (0.80)'
    """
    if len(images) == 0:
        figure = new_figure(5, 2)
        figure.text(0.5, 0.5, title or "no mistakes", ha="center", va="center")
        figure.text(0.5, 0.25, "no mistakes to show", ha="center", va="center", fontsize=9)
        return figure
    columns = min(len(images), max(4, math.ceil(math.sqrt(len(images)))))
    rows = math.ceil(len(images) / columns)
    figure = new_figure(2.1 * columns, 2.4 * rows + 0.4)
    for i, (image, label, probs) in enumerate(zip(images, labels, probabilities, strict=True)):
        predicted = int(np.argmax(probs))
        ax = figure.add_subplot(rows, columns, i + 1)
        ax.imshow(np.asarray(image, np.uint8), interpolation="nearest")
        ax.set_title(
            f"true: {class_names[int(label)]}\npred: {class_names[predicted]} "
            f"({probs[predicted]:.2f})",
            fontsize=8,
            color="firebrick",
        )
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def plot_holdout_errors(
    dataset: Any,
    predictions: Any,
    class_names: Sequence[str],
    count: int = 16,
    *,
    title_prefix: str = "",
    images_noun: str = "images",
) -> tuple[Figure, int]:
    """The gallery of a run's most confident mistakes on its held-out (validation) split.

    The one builder behind kerascls-viz errors and the report's errors section.

    Args:
        dataset: the run's `ImageDataset`; its held-out split is what `predictions` cover.
        predictions: a `kerascls.viz.Predictions` of that split (checked: `check_matches`).
        class_names: names of the classes.
        count: how many mistakes to show, most confident first.
        title_prefix: put before the title, e.g. the run's name and ": ".
        images_noun: what the title calls the images ("images", "validation images").

    Returns:
        The Figure, titled "<prefix>the K most confident of W mistakes on N <noun>", and W,
        the number of mistakes.

    Raises:
        KerasclsError: the predictions are not of the split as it is now.
    """
    from kerascls.data import holdout_split
    from kerascls.viz.predictions import check_matches

    split = holdout_split(dataset)
    check_matches(predictions, split)
    chosen = most_confident_errors(predictions.labels, predictions.probabilities, count)
    wrong = int((predictions.predicted != predictions.labels).sum())
    title = (
        f"{title_prefix}the {len(chosen)} most confident of {wrong} mistakes on "
        f"{len(predictions.labels)} {images_noun}"
    )
    figure = plot_errors(
        split_images(split, chosen),
        predictions.labels[chosen],
        predictions.probabilities[chosen],
        class_names,
        title,
    )
    return figure, wrong
