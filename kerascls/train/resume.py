"""`resume`: continue an interrupted run from its last finished epoch, with its own recipe.

A run killed mid-training continues from backup/ (kerascls/train/backup.py): `resume`
picks the readable generation, and runs `fit`'s steps (fit.py's `_train`) on the same run
folder, handing them a `Resumed`: what differs for a run that already started (its data
checked against the fingerprints it recorded, history.csv cut back to the epoch backup/
restores, the best validation accuracy so far). A run killed after its last epoch, during
the final evaluation (Keras had already removed backup/), is finished by evaluating
best.keras.

    run = resume("logs/photos/resnet20-20261122-101500")   # kerascls-train --resume RUN
"""

from __future__ import annotations

import logging
import os
import time

import keras
import numpy as np

from kerascls.errors import KerasclsError
from kerascls.runs import Run, load_run
from kerascls.train.backup import prepare_resume
from kerascls.train.cluster import is_chief
from kerascls.train.fit import _epochs_logged, _evaluate_and_record, _train
from kerascls.train.recipe import Recipe
from kerascls.train.resume_state import Resumed

log = logging.getLogger(__name__)


def resume(
    run: str | os.PathLike | None = None,
    *,
    logdir: str | os.PathLike = "logs",
    data=None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> Run:
    """Continue an interrupted run from its last finished epoch, with its own recipe.

    Args:
        run: the run folder; None: the newest run under `logdir`.
        logdir: where to look for the newest run.
        data, callbacks, verbose: as in `fit`.
    """
    resumed = load_run(run, logdir=logdir)
    if resumed.info.status == "finished":
        raise KerasclsError(
            f"run {resumed.path} already finished all its epochs; start a new run "
            f"(without --resume) to train longer"
        )
    recipe = Recipe.from_dict(resumed.info.recipe)
    # Keras removes backup/ when training ends; a run killed after that, during its final
    # evaluation, has every epoch logged (a time-budgeted run: whatever it had planned)
    needed = recipe.epochs if recipe.time_budget is None else 1
    trained = _epochs_logged(resumed) >= needed and (resumed.path / "best.keras").is_file()
    if not (resumed.path / "backup").is_dir() and trained:
        return _finish_killed_evaluation(Resumed(resumed), data, verbose)
    if not (resumed.path / "backup").is_dir():
        raise KerasclsError(
            f"run {resumed.path} has no backup/ to resume from (it stopped before its first "
            f"epoch ended); start a new run instead"
        )
    point = prepare_resume(resumed.path / "backup")
    if verbose != 0 and is_chief():
        print(point.describe())
    return _train(recipe, Resumed(resumed), data, callbacks, verbose, started=time.perf_counter())


def _finish_killed_evaluation(resumed: Resumed, data, verbose) -> Run:
    """A run killed after its last epoch, during the final evaluation (Keras had already
    removed backup/): evaluate best.keras now, from the history it logged."""
    run = resumed.run
    history = run.history(missing_ok=True)
    epochs = len(history.get("epoch", ()))
    if verbose != 0:
        print(f"training of {run.path} had ended ({epochs} epochs); evaluating best.keras")
    if data is None:
        data = run.dataset()  # which warns itself when the data changed
    else:
        resumed.check_data(data)
    val_acc = history.get("val_accuracy", np.array([]))
    seconds = history.get("epoch_seconds", np.array([]))
    return _evaluate_and_record(
        run,
        data,
        epochs,
        [float(v) for v in val_acc if np.isfinite(v)],
        float(np.nansum(seconds)),
        verbose,
    )
