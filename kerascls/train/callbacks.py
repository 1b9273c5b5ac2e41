"""The callbacks of a training run, built from its recipe."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras

from kerascls.runs.atomic import atomic_path
from kerascls.train.backup import AtomicBackupAndRestore
from kerascls.train.recipe import Recipe


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save best.keras (on a monitored metric) and last.keras after every epoch.

    Unlike keras.callbacks.ModelCheckpoint, each file is written to a temporary name and
    renamed, so a run killed while saving never leaves a truncated checkpoint behind. The
    files are portable (`kerascls.models.portable_model`: stock layers, float32, no
    optimizer): they load with plain Keras where kerascls is not installed. Resuming
    training uses backup/, which keeps the optimizer's state.

    Args:
        run_dir: the run folder.
        monitor: the metric that decides "best", e.g. "val_accuracy".
        mode: "max" or "min".
        initial_best: the best value seen before (when a run resumes).
        saved_model: the model to save, if not the one that trains: the same layers at
            the run's input size, when training takes any size (progressive resizing).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, "softmax")])
        >>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> x, y = np.ones((8, 2)), np.arange(8) % 2
        >>> checkpoint = AtomicCheckpoint(run_dir, monitor="val_accuracy")
        >>> _ = model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0,
        ...               callbacks=[checkpoint])
        >>> sorted(path.name for path in run_dir.iterdir()), checkpoint.best_epoch
        (['best.keras', 'last.keras'], 1)
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        monitor: str = "val_accuracy",
        mode: str = "max",
        initial_best: float | None = None,
        saved_model: keras.Model | None = None,
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.saved_model = saved_model
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = initial_best if initial_best is not None else -math.inf * self.sign
        self.best_epoch: int | None = None
        self._portable = None  # built once, its weights refreshed at every save

    def _save(self, name: str) -> None:
        from kerascls.models import portable_model

        model = self.saved_model if self.saved_model is not None else self.model
        if self._portable is None:
            self._portable = portable_model(model)
        else:
            self._portable.set_weights(model.get_weights())
        with atomic_path(self.run_dir / f"{name}.keras") as partial:
            self._portable.save(partial)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and self.sign * value > self.sign * self.best:
            self.best, self.best_epoch = float(value), epoch + 1
            self._save("best")
        self._save("last")


class EpochStats(keras.callbacks.Callback):
    """Adds `learning_rate`, `epoch_seconds` and `images_per_second` to the epoch's logs, so
    history.csv and TensorBoard record them.

    The images are counted by the steps the epoch really ran: a time budget stops its last
    epoch part-way, and a whole epoch's images over that part's seconds would overstate
    the speed.
    """

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = int(batch_size)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._steps += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._start
        if logs is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )
            logs["epoch_seconds"] = seconds
            logs["images_per_second"] = self._steps * self.batch_size / seconds


def build_callbacks(
    recipe: Recipe,
    run_dir: Path,
    initial_best: float | None = None,
    saved_model: keras.Model | None = None,
) -> list[keras.callbacks.Callback]:
    """TerminateOnNaN, timing, checkpoints, CSV history, TensorBoard, BackupAndRestore, and
    the optional ReduceLROnPlateau and EarlyStopping, in the order they must run.
    `saved_model`: what the checkpoints save, if not the model that trains (AtomicCheckpoint).

    Order matters: EpochStats fills the logs before the CSV and TensorBoard writers read
    them, and BackupAndRestore comes last so that its state includes everything before it.
    """
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(),
        EpochStats(recipe.batch_size),
    ]
    if recipe.reduce_lr_patience > 0:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=recipe.reduce_lr_factor,
                patience=recipe.reduce_lr_patience,
                min_lr=recipe.lr * 1e-3,
                verbose=1,
            )
        )
    if recipe.early_stopping_patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy",
                mode="max",
                patience=recipe.early_stopping_patience,
                start_from_epoch=recipe.early_stopping_start_epoch(),
                restore_best_weights=True,
                verbose=1,
            )
        )
    callbacks += [
        AtomicCheckpoint(
            run_dir, monitor="val_accuracy", initial_best=initial_best, saved_model=saved_model
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(
            log_dir=str(run_dir),
            histogram_freq=recipe.histogram_freq,
            write_graph=False,
            update_freq="epoch",
        ),
    ]
    callbacks.append(AtomicBackupAndRestore(backup_dir=str(run_dir / "backup")))
    return callbacks


def attach_run(
    callbacks: list[keras.callbacks.Callback], run_dir: Path, validation, class_names: list[str]
) -> None:
    """Hand the run folder, the validation pipeline and the class names to the user's
    callbacks that ask for them (those with an `attach_run` method, such as
    `kerascls.viz.TensorBoardImages`): they are made before the run folder exists."""
    for callback in callbacks:
        attach = getattr(callback, "attach_run", None)
        if callable(attach):
            attach(run_dir=Path(run_dir), validation=validation, class_names=list(class_names))
