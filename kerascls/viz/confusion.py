"""Confusion matrices: counted, and drawn as raw and row-normalised heatmaps.

Rows are true classes and columns predicted ones (scikit-learn's convention). The raw
counts show where the examples are; the row-normalised matrix (each row divided by its
class's size) shows each class's recall on the diagonal and where its errors go, and is
the one to read when classes have different sizes.

Example:
    >>> import numpy as np
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_classes=3).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    >>> figure = plot_confusion_matrix([[5, 1], [2, 4]], ["cat", "dog"])
    >>> len(figure.axes) >= 2
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from kerascls.errors import KerasclsError
from kerascls.viz.files import new_figure

# Above this many classes, numbers in the cells are unreadable: colours only.
_MAX_ANNOTATED = 20


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Count (true, predicted) pairs: int64 (num_classes, num_classes), rows = true class.

    Args:
        y_true: integer labels.
        y_pred: integer predictions (e.g. `probabilities.argmax(axis=1)`).
        num_classes: the number of classes (a class may be absent from both).

    Raises:
        KerasclsError: lengths differ, or a label outside 0..num_classes-1.

    Example:
        >>> confusion_matrix([1, 1], [0, 1], 2).tolist()
        [[0, 0], [1, 1]]
    """
    y_true = np.asarray(y_true, np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise KerasclsError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    for name, values in (("label", y_true), ("prediction", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise KerasclsError(f"a {name} is outside 0..{num_classes - 1}")
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    # the same function evaluate/ uses, so the plots and report.json agree
    matrix = sklearn_confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))
    return matrix.astype(np.int64)


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows of a class with no examples stay 0)."""
    matrix = np.asarray(matrix, np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    title: str = "",
) -> Figure:
    """Raw and row-normalised confusion matrices side by side, class names on the axes.

    Args:
        matrix: counts (classes, classes), rows = true class, columns = predicted.
        class_names: names of the classes, in label order.
        title: a title above both, e.g. "test split, 10000 images".

    Returns:
        A matplotlib Figure (save it with `kerascls.viz.save_figure`).

    Raises:
        KerasclsError: the matrix is not square or does not match the class names.

    Example:
        >>> figure = plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b", "c"], "demo")
    """
    matrix = np.asarray(matrix)
    classes = len(class_names)
    if matrix.shape != (classes, classes):
        raise KerasclsError(
            f"the confusion matrix is {matrix.shape[0]}x{matrix.shape[1]} but there are "
            f"{classes} class names"
        )
    annotate = classes <= _MAX_ANNOTATED
    side = max(4.0, 0.55 * classes + 2.0)
    figure = new_figure(2 * side + 1.0, side)
    panels = (
        ("counts", matrix, "d", None),
        ("row-normalised (recall on the diagonal)", normalize_rows(matrix), ".2f", (0.0, 1.0)),
    )
    for i, (name, values, fmt, limits) in enumerate(panels):
        ax = figure.add_subplot(1, 2, i + 1)
        _draw_matrix(ax, values, class_names, name, fmt, limits, annotate=annotate)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def _draw_matrix(
    ax: Axes,
    values: np.ndarray,
    class_names: Sequence[str],
    name: str,
    fmt: str,
    limits: tuple[float, float] | None,
    *,
    annotate: bool,
) -> None:
    """One heatmap panel: `values` in blues, class names on both axes, titled `name`."""
    import seaborn as sns

    vmin, vmax = limits or (None, None)
    sns.heatmap(
        values,
        ax=ax,
        annot=annotate,
        fmt=fmt,
        cmap="Blues",
        vmin=vmin,
        vmax=vmax,
        square=True,
        xticklabels=list(class_names),
        yticklabels=list(class_names),
        cbar_kws={"shrink": 0.7},
        annot_kws={"fontsize": 8},
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(name, fontsize=10)
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
