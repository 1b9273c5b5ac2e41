"""Calibration: does a predicted probability of 0.8 come true 80% of the time?

The top-class confidences are put into equal-width bins over [0, 1]; in each bin the
accuracy is compared with the mean confidence. The expected calibration error (ECE,
Guo et al., 2017) is the average gap weighted by the share of examples in each bin:
0 for a perfectly calibrated model. Networks trained without label smoothing tend to
be over-confident (bars below the diagonal).

Example:
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1, 1])
    >>> probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.7, 0.3]])
    >>> round(expected_calibration_error(labels, probabilities, bins=10), 3)
    0.15
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from kerascls.errors import KerasclsError
from kerascls.viz.files import new_figure


@dataclass(frozen=True)
class Calibration:
    """A reliability diagram's numbers.

    Args:
        bin_edges: (bins + 1,) edges over [0, 1]; bin i holds confidences in
            (edges[i], edges[i+1]] (the first bin also holds 0).
        confidence: (bins,) mean top-class probability per bin (NaN where empty).
        accuracy: (bins,) fraction correct per bin (NaN where empty).
        counts: (bins,) examples per bin.
        ece: the expected calibration error.
    """

    bin_edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float

    @property
    def num_examples(self) -> int:
        return int(self.counts.sum())


def calibration_curve(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> Calibration:
    """Bin top-class confidences and compare each bin's accuracy with its confidence.

    Args:
        labels: int (N,) true classes.
        probabilities: (N, classes) predicted probabilities.
        bins: number of equal-width bins.

    Raises:
        KerasclsError: fewer than one bin, no examples, or mismatched lengths.

    Example:
        >>> c = calibration_curve(np.array([0, 1]), np.array([[0.95, 0.05], [0.9, 0.1]]), 10)
        >>> c.counts.tolist()[-2:], round(c.ece, 3)
        ([1, 1], 0.475)
    """
    labels = np.asarray(labels).reshape(-1)
    probabilities = np.asarray(probabilities, np.float64)
    if bins < 1:
        raise KerasclsError(f"bins must be at least 1, got {bins}")
    if len(labels) == 0 or probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise KerasclsError(
            f"need as many probability rows as labels, got {probabilities.shape} and {labels.shape}"
        )
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i is (i/B, (i+1)/B]: a confidence of exactly 1.0 lands in the last bin
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct, bins) / counts
    filled = counts > 0
    ece = float(
        np.sum(counts[filled] * np.abs(accuracy[filled] - mean_confidence[filled])) / len(labels)
    )
    return Calibration(edges, mean_confidence, accuracy, counts, ece)


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = 15
) -> float:
    """The ECE of top-class confidences over `bins` equal-width bins (see the module)."""
    return calibration_curve(labels, probabilities, bins).ece


def plot_reliability(calibration: Calibration, title: str = "") -> Figure:
    """A reliability diagram (accuracy per confidence bin against the diagonal) above a
    histogram of how many examples fall in each bin.

    Args:
        calibration: from `calibration_curve`.
        title: a title, e.g. the run and split; the ECE is added to it.

    Returns:
        A matplotlib Figure (save it with `kerascls.viz.save_figure`).

    Example:
        >>> c = calibration_curve(np.array([0, 1, 1]), np.eye(3)[[0, 1, 0], :2] * 0.9 + 0.05)
        >>> figure = plot_reliability(c, "demo")
    """
    edges = calibration.bin_edges
    centres = (edges[:-1] + edges[1:]) / 2
    bar_width = (edges[1] - edges[0]) * 0.95
    figure = new_figure(5.5, 6.5)
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    top = figure.add_subplot(grid[0])
    bottom = figure.add_subplot(grid[1], sharex=top)
    _draw_reliability(top, calibration, centres, bar_width)
    summary = (
        f"ECE {calibration.ece:.4f} ({len(edges) - 1} bins, {calibration.num_examples} images)"
    )
    top.set_title("  ".join(t for t in (title, summary) if t), fontsize=10)
    bottom.bar(centres, calibration.counts, width=bar_width, color="tab:grey")
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("images")
    return figure


def _draw_reliability(
    ax: Axes, calibration: Calibration, centres: np.ndarray, bar_width: float
) -> None:
    """The accuracy per filled bin, its gap to the mean confidence, and the diagonal."""
    filled = calibration.counts > 0
    ax.bar(
        centres[filled],
        calibration.accuracy[filled],
        width=bar_width,
        color="tab:blue",
        edgecolor="black",
        linewidth=0.5,
        label="accuracy",
    )
    # The gap runs from the accuracy to the mean confidence, up (over-confident) or down
    # (under-confident): hatched and unfilled, so the accuracy bar stays readable under it.
    gap = calibration.confidence[filled] - calibration.accuracy[filled]
    ax.bar(
        centres[filled],
        gap,
        bottom=calibration.accuracy[filled],
        width=bar_width,
        facecolor="none",
        edgecolor="tab:red",
        hatch="//",
        linewidth=0.8,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(labelbottom=False)
