"""history.csv, a run's one row per epoch, read in one place (`Run.history()`).

The rows are Keras' CSVLogger's (epoch, loss, accuracy, val_*), plus the `learning_rate`,
`epoch_seconds` and `images_per_second` columns kerascls adds. A resumed run appends to
the file, so an epoch interrupted and run again can appear twice: the last row of an
epoch wins.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.runs.atomic import write_text_atomic

HISTORY_FILE = "history.csv"


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of a history.csv as float arrays, one value per epoch (last row wins).

    Raises:
        KerasclsError: the file is missing, empty, or has no epoch column.

    Example (the second "1" row is a resumed run logging epoch 1 again):
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "history.csv"
        >>> rows = ["epoch,loss,val_accuracy", "0,1.2,0.5", "1,0.9,0.6", "1,0.8,0.7"]
        >>> _ = path.write_text("\\n".join(rows) + "\\n")
        >>> history = read_history(path)
        >>> history["epoch"].tolist(), history["val_accuracy"].tolist()
        ([0.0, 1.0], [0.5, 0.7])
    """
    path = Path(path)
    if not path.exists():
        raise KerasclsError(f"{path} does not exist: the run has not finished its first epoch yet")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0]:
        raise KerasclsError(f"{path} has no epochs in it yet (or is not a Keras CSVLogger file)")
    by_epoch = {int(float(row["epoch"])): row for row in rows}  # later rows replace earlier
    epochs = sorted(by_epoch)
    columns: dict[str, np.ndarray] = {"epoch": np.array(epochs, dtype=np.float64)}
    for name in rows[0]:
        if name == "epoch":
            continue
        values = []
        for epoch in epochs:
            try:
                values.append(float(by_epoch[epoch].get(name) or "nan"))
            except ValueError:
                values.append(float("nan"))
        columns[name] = np.array(values)
    return columns


def truncate_history(path: str | os.PathLike, epochs: int) -> None:
    """Keep the header and the first `epochs` rows of a history.csv, as written (nothing
    to do when it has no more, or is not there)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines(keepends=True)
    except (OSError, ValueError):
        return
    if len(lines) - 1 > epochs:
        write_text_atomic(path, "".join(lines[: epochs + 1]))
