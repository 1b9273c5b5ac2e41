"""TensorBoard's HParams dashboard: every run's recipe and final metrics, one row a run.

At the end of `fit` (and of `resume`) the run folder gets one events file of its own,
`events.out.tfevents.*.hparams`, beside Keras' train/ and validation/ folders: the
recipe's fields as hyperparameters and the final metrics as scalars. `tensorboard
--logdir logs` then lists the runs in the HPARAMS tab, with the epoch curves of
train/ and validation/ as further metric columns.

No experiment config (`hp.hparams_config`) is written: TensorBoard takes one config for
the whole log folder, and runs with different recipes would fight over it; without one it
infers the columns from all the runs it finds.

Example:
    >>> flatten_hparams({"lr": 0.1, "image_size": (32, 32), "run_name": None,
    ...                  "model_kwargs": {"width": 2}})
    {'lr': 0.1, 'image_size': '[32, 32]', 'run_name': 'None', 'model_kwargs': '{"width": 2}'}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kerascls.data import recorded_fingerprint
from kerascls.runs import RunInfo

_SUFFIX = ".hparams"


def flatten_hparams(
    values: dict[str, Any], keep_none: bool = True
) -> dict[str, bool | int | float | str]:
    """The values HParams accepts (bool, int, float, str): others become JSON text, None
    becomes "None" (or, with keep_none=False, is left out)."""
    flat: dict[str, bool | int | float | str] = {}
    for name, value in values.items():
        if isinstance(value, bool | int | float | str):
            flat[name] = value
        elif value is None:
            if keep_none:
                flat[name] = "None"
        else:
            flat[name] = json.dumps(value, sort_keys=True, default=str)
    return flat


def final_metrics(info: RunInfo) -> dict[str, float]:
    """The finished run's figures from run.json, as "final/<split>_<metric>" scalars."""
    metrics: dict[str, float] = {}
    for split, figures in (info.metrics or {}).items():
        for name, value in figures.to_dict().items():
            if isinstance(value, int | float):
                metrics[f"final/{split}_{name}"] = float(value)
    totals = {
        "best_val_accuracy": info.best_val_accuracy,
        "epochs_completed": info.epochs_completed,
        "train_seconds": info.train_seconds,
    }
    for name, value in totals.items():
        if isinstance(value, int | float):
            metrics[f"final/{name}"] = float(value)
    return metrics


def log_hparams(run_dir: str | os.PathLike, info: RunInfo) -> Path:
    """Write the run's recipe and final metrics for the HParams dashboard; return the file.

    A resumed run rewrites its file: one session per run folder, with the final figures.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    run_dir = Path(run_dir)
    for old in run_dir.glob(f"events.out.tfevents.*{_SUFFIX}"):
        old.unlink()
    # None left out, not "None": TensorBoard types a column from all runs' values, and
    # "None" in one run would turn another's clipnorm=1.0 into text (a blank cell instead)
    values = flatten_hparams(info.recipe or {}, keep_none=False)
    fingerprint = recorded_fingerprint(info.dataset)
    if "combined" in fingerprint:  # runs on the same data share it (kerascls.data.fingerprint)
        values["data_fingerprint"] = fingerprint["combined"][:12]
    step = int(info.epochs_completed or 0)
    writer = tf.summary.create_file_writer(str(run_dir), filename_suffix=_SUFFIX)
    try:
        with writer.as_default():
            hp.hparams(values, trial_id=run_dir.name, start_time_secs=info.created)
            for tag, value in final_metrics(info).items():
                tf.summary.scalar(tag, value, step=step)
        writer.flush()
    finally:
        writer.close()
    return next(run_dir.glob(f"events.out.tfevents.*{_SUFFIX}"))


def read_hparams(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, float]]:
    """The hyperparameters and scalars of an events file `log_hparams` wrote (for tests,
    and for checking what TensorBoard will show)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import metadata

    hparams: dict[str, Any] = {}
    scalars: dict[str, float] = {}
    for event in tf.compat.v1.train.summary_iterator(str(path)):
        for value in event.summary.value:
            plugin = value.metadata.plugin_data
            if plugin.plugin_name == metadata.PLUGIN_NAME:
                data = metadata.parse_session_start_info_plugin_data(plugin.content)
                for name, hparam in data.hparams.items():
                    hparams[name] = getattr(hparam, hparam.WhichOneof("kind"))
            elif value.HasField("tensor"):
                scalars[value.tag] = float(tf.make_ndarray(value.tensor))
    return hparams, scalars
