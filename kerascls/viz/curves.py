"""Training curves from a run's history.csv: loss, accuracy and learning rate per epoch.

history.csv has one row per epoch (Keras' CSVLogger, plus the `learning_rate`,
`epoch_seconds` and `images_per_second` columns kerascls adds); `Run.history()` reads it
(kerascls/runs/history.py: an epoch a resumed run logged twice gives its last row).
`read_history` here is the same reader, for a history.csv outside a run folder.

Example:
    >>> history = {"epoch": np.arange(3), "loss": np.array([1.0, 0.6, 0.5]),
    ...            "val_loss": np.array([1.1, 0.8, 0.7])}
    >>> len(plot_curves(history).axes)
    1
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from kerascls.errors import KerasclsError
from kerascls.runs.history import read_history
from kerascls.viz.files import new_figure

__all__ = ["plot_curves", "read_history"]

# (panel title, metric, y-axis scale)
_PANELS = (
    ("loss", "loss", "linear"),
    ("accuracy", "accuracy", "linear"),
    ("top-5 accuracy", "top5", "linear"),
    ("learning rate", "learning_rate", "log"),
)


def _worth_plotting(history: Mapping[str, np.ndarray], key: str) -> bool:
    series = [np.asarray(history[k]) for k in (key, f"val_{key}") if k in history]
    if not series:
        return False
    # top-5 accuracy with 5 classes or fewer is 1 at every epoch: a panel with no news
    return not (key == "top5" and all(np.all(s >= 1.0) for s in series))


def plot_curves(history: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Loss, accuracy (and top-5, learning rate when recorded) against epoch.

    Training and validation values share a panel (validation dashed); the epoch with the
    best validation accuracy is marked, since that is the one best.keras holds.

    Args:
        history: columns from `read_history` ("epoch" 0-based, "loss", "val_loss", ...).
        title: a title above the panels, e.g. the run's name.

    Returns:
        A matplotlib Figure (save it with `kerascls.viz.save_figure`).

    Raises:
        KerasclsError: none of loss, accuracy or learning rate is in the history.

    Example:
        >>> figure = plot_curves({"epoch": np.arange(2), "learning_rate": np.array([.1, .05])})
    """
    epochs = np.asarray(history["epoch"]) + 1  # CSVLogger counts from 0, people from 1
    panels = [p for p in _PANELS if _worth_plotting(history, p[1])]
    if not panels:
        raise KerasclsError(
            "the history has no loss, accuracy or learning_rate columns to plot; found: "
            + ", ".join(sorted(history))
        )
    best = None
    if "val_accuracy" in history and np.isfinite(history["val_accuracy"]).any():
        best = int(np.nanargmax(history["val_accuracy"]))
    figure = new_figure(4.2 * len(panels), 3.6)
    for i, (name, key, scale) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        if key in history:
            ax.plot(
                epochs, history[key], marker=".", label="train" if key != "learning_rate" else "lr"
            )
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker=".", linestyle="--", label="validation")
        if best is not None and key != "learning_rate":
            ax.axvline(epochs[best], color="grey", linewidth=0.8, linestyle=":")
        if scale == "log" and key in history and np.all(np.asarray(history[key]) > 0):
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if key != "learning_rate":
            ax.legend(fontsize=8)
    if title or best is not None:
        best_text = (
            f"best val_accuracy {history['val_accuracy'][best]:.4f} at epoch {best + 1}"
            if best is not None
            else ""
        )
        figure.suptitle("  ".join(t for t in (title, best_text) if t), fontsize=10)
    figure.tight_layout()
    return figure
