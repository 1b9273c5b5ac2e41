"""The state `--resume` continues from: backup/, two generations, each complete or absent.

Keras' BackupAndRestore writes backup/latest.weights.h5 in place, and the epoch it
belongs to in a separate JSON file. A kill during the write left a file h5py cannot open,
and every `--resume` after it failed (seen with two workers killed at once:
benchmarks/README.md, "Moved from the code"). Here:

- the weights (model and optimizer) go to a temporary name, the epoch is written into
  that same file (an HDF5 attribute), and only then does it replace latest.weights.h5;
- the generation it replaces is kept as previous.weights.h5 (a rename, never a copy),
  so a kill at any instant leaves at least one complete, self-describing generation;
- `prepare_resume` picks the newest readable generation, puts it where Keras reads it,
  and says which it used.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> backup = Path(tempfile.mkdtemp()) / "backup"
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> callback = AtomicBackupAndRestore(str(backup), delete_checkpoint=False)  # fit keeps it
    >>> _ = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0, callbacks=[callback])
    >>> sorted(path.name for path in backup.iterdir())
    ['latest.weights.h5', 'previous.weights.h5', 'training_metadata.json']
    >>> prepare_resume(backup).describe()
    'resuming after epoch 2 from backup/latest.weights.h5'
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras

from kerascls.errors import KerasclsError
from kerascls.runs.atomic import atomic_path, write_json_atomic

LATEST = "latest.weights.h5"  # Keras' own names, so its restore code reads them
METADATA = "training_metadata.json"
PREVIOUS = "previous.weights.h5"
_EPOCH_ATTRIBUTE = "kerascls_training_metadata"


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """keras.callbacks.BackupAndRestore whose generations are written atomically.

    Args:
        backup_dir: the run's backup/ folder.

    Example:
        >>> callback = AtomicBackupAndRestore("runs/demo/backup")  # made at the first save
        >>> callback.backup_dir
        'runs/demo/backup'
    """

    def _save_model(self) -> None:
        backup = Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        with atomic_path(backup / LATEST) as partial:
            self.model.save_weights(str(partial), overwrite=True)
            _write_metadata(partial, metadata)
            # The newest complete generation becomes the previous one just before the new
            # one takes its name; a kill between the two renames leaves `previous`.
            if (backup / LATEST).exists():
                os.replace(backup / LATEST, backup / PREVIOUS)
        write_json_atomic(backup / METADATA, metadata)


@dataclass(frozen=True)
class RestorePoint:
    """The generation a resumed run starts from."""

    epoch: int  # epochs finished
    generation: str  # "latest" or "previous"

    def describe(self) -> str:
        if self.generation == "latest":
            return f"resuming after epoch {self.epoch} from backup/{LATEST}"
        return (
            f"resuming after epoch {self.epoch} from backup/{PREVIOUS}: the newest backup "
            f"was incomplete or damaged"
        )


def prepare_resume(backup: Path) -> RestorePoint:
    """Put the newest readable generation where Keras restores from, and describe it.

    Raises:
        KerasclsError: no generation can be read (one line: what to do instead).
    """
    for name, generation in ((LATEST, "latest"), (PREVIOUS, "previous")):
        metadata = _read_metadata(backup / name, backup / METADATA)
        if metadata is None:
            continue
        if generation == "previous":
            with atomic_path(backup / LATEST) as partial:  # a random name: workers may race
                shutil.copyfile(backup / PREVIOUS, partial)
        write_json_atomic(backup / METADATA, metadata)
        return RestorePoint(int(metadata["epoch"]), generation)
    raise KerasclsError(
        f"cannot resume: no readable backup in {backup} ({LATEST} and {PREVIOUS} are missing "
        f"or damaged); the run's best.keras and last.keras are intact, but to train on, "
        f"start a new run"
    )


def _write_metadata(weights: Path, metadata: dict) -> None:
    import h5py

    with h5py.File(weights, "a") as f:
        f.attrs[_EPOCH_ATTRIBUTE] = json.dumps(metadata)


def _read_metadata(weights: Path, legacy_json: Path) -> dict | None:
    """The generation's {"epoch", "batch"}, or None when it is missing or unreadable.

    Generations written before the epoch lived in the weights file take it from the
    separate JSON file (only ever paired with latest.weights.h5).
    """
    import h5py

    if not weights.is_file():
        return None
    try:
        with h5py.File(weights, "r") as f:
            stored = f.attrs.get(_EPOCH_ATTRIBUTE)
            f.visit(lambda name: None)  # walk the tree: a truncated file fails here
        if stored is not None:
            return json.loads(stored)
        if weights.name == LATEST:
            return json.loads(legacy_json.read_text())
    except (OSError, ValueError, KeyError, RuntimeError):
        return None
    return None
