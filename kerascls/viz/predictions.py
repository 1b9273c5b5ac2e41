"""A run's predictions on its validation split, computed once and cached in the run folder.

The error gallery and the reliability diagram both need every validation image's predicted
probabilities. Predicting takes a pass over the data, so the first command to need them
writes predictions.npz into the run folder and the next one reads it. The cache remembers
which checkpoint it came from (best.keras' size and modification time): a resumed run
that saved a new best.keras gets fresh predictions.

Example (`trained_run` is a finished run folder, e.g. `kerascls.runs.load_run()`; the
tests hand the example a copy of their tiny run, whose validation split holds 36 images):
    >>> from kerascls.runs import load_run
    >>> run = load_run(trained_run.path)
    >>> predictions = run_predictions(run)  # the run's data, re-opened from run.json
    >>> len(predictions.labels), (run.path / PREDICTIONS_FILE).is_file()
    (36, True)
    >>> run_predictions(run).labels.tolist() == predictions.labels.tolist()  # from the cache
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerascls.errors import DataError, KerasclsError
from kerascls.viz.files import save_npz

PREDICTIONS_FILE = "predictions.npz"


@dataclass(frozen=True)
class Predictions:
    """Labels and predicted probabilities of one split, in the split's order.

    Args:
        labels: int (N,) true classes.
        probabilities: float32 (N, classes).
        split: the split's name, e.g. "validation".

    Example:
        >>> p = Predictions(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]), "validation")
        >>> p.predicted.tolist(), p.accuracy
        ([0, 0], 0.5)
    """

    labels: np.ndarray
    probabilities: np.ndarray
    split: str

    @property
    def predicted(self) -> np.ndarray:
        """The top class of each example."""
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The probability of the top class of each example."""
        return self.probabilities.max(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean()) if len(self.labels) else 0.0


def predict_split_fast(model: Any, split: Any, batch_size: int = 256) -> tuple[np.ndarray, ...]:
    """(labels, probabilities) of a `kerascls.data.Split`, in its order."""
    from kerascls.data import make_pipeline
    from kerascls.evaluate import predict_split

    pipeline = make_pipeline(split, batch_size, training=False)
    labels, probabilities = predict_split(model, pipeline)
    return labels.astype(np.int64), probabilities.astype(np.float32)


def _checkpoint_key(run: Any) -> str:
    stat = run.checkpoint("best").stat()
    return json.dumps(
        {"checkpoint": "best.keras", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    )


def run_predictions(
    run: Any, data: Any | None = None, recompute: bool = False, batch_size: int = 256
) -> Predictions:
    """Predictions of the run's best.keras on its validation split, cached in the run folder.

    Args:
        run: a `kerascls.train.Run` (see `kerascls.train.load_run`).
        data: the run's `ImageDataset`, for runs trained on in-memory arrays (whose
            run.json cannot re-open them); default: re-open it from run.json.
        recompute: ignore predictions.npz and predict again.
        batch_size: images per model call.

    Returns:
        `Predictions` of the validation split.

    Raises:
        KerasclsError: no best.keras yet, or data that cannot be re-opened.

    The module's example shows it on a run.
    """
    path = run.path / PREDICTIONS_FILE
    key = _checkpoint_key(run)
    if path.exists() and not recompute:
        try:
            with np.load(path) as cached:
                if str(cached["key"]) == key:
                    return Predictions(cached["labels"], cached["probabilities"], "validation")
        except (OSError, KeyError, ValueError):
            pass  # unreadable or from another version: predict again and overwrite it
    from kerascls.data import holdout_split

    split = holdout_split(data if data is not None else run.dataset())
    labels, probabilities = predict_split_fast(run.load_model("best"), split, batch_size)
    if len(labels) != len(split):
        raise DataError(
            f"{len(split) - len(labels)} validation image(s) of run {run.path} could not be "
            "decoded; remove the broken files from the dataset folder and try again"
        )
    save_npz(path, labels=labels, probabilities=probabilities, key=np.array(key))
    return Predictions(labels, probabilities, "validation")


def check_matches(predictions: Predictions, split: Any) -> None:
    """Raise if cached predictions do not belong to this split (the data changed since)."""
    if len(split) != len(predictions.labels) or not np.array_equal(
        np.asarray(split.labels), predictions.labels
    ):
        raise KerasclsError(
            f"the cached predictions ({len(predictions.labels)} images) do not match the "
            f"validation split as it is now ({len(split)} images): the dataset changed; "
            "predict again with --recompute"
        )
