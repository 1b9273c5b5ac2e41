"""MLflow tracking, opt-in: `Recipe(mlflow=URI)` or `kerascls-train --mlflow [URI]`.

A run then also becomes an MLflow run, in the experiment "kerascls/<dataset>": the recipe
as params, every epoch's metrics (the `MlflowLogger` callback), the final metrics, and as
artifacts run.json, report.json, history.csv, the plots in the run folder and best.keras.
run.json keeps the MLflow run's id, so `--resume` continues the same MLflow run.

MLflow stays an extra (`pip install -e .[mlflow]`), imported only when a recipe asks for
it. No server is needed: the default URI, `sqlite:///mlflow.db`, is a file in the current
folder, which `mlflow ui` (run in the same folder) shows. MLflow 3 puts the plain-folder
store (`./mlruns`) in maintenance mode and refuses it unless MLFLOW_ALLOW_FILE_STORE=true
is set; a database URI needs neither.

    recipe = Recipe(data_dir="photos/", mlflow="sqlite:///mlflow.db")
    run = fit(recipe)            # then: mlflow ui  (http://127.0.0.1:5000)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import keras

from kerascls.errors import KerasclsError
from kerascls.runs import MlflowInfo, RunInfo
from kerascls.train.hparams import final_metrics, flatten_hparams
from kerascls.train.recipe import DEFAULT_MLFLOW_URI

__all__ = ["DEFAULT_MLFLOW_URI", "MlflowLogger", "finish_mlflow_run", "start_mlflow_run"]
# What goes to MLflow as artifacts, when the run folder has it: the record, the report,
# the plots (kerascls-viz writes them into viz/) and the model.
_ARTIFACTS = ("run.json", "report.json", "history.csv", "classification_report.csv")
_PLOTS = ("viz/*.png", "*.png")
_MAX_PARAM = 6000

log = logging.getLogger(__name__)  # MLflow's limit on a param value's length


def mlflow_client(tracking_uri: str) -> Any:
    """An `mlflow.MlflowClient` for the URI; a one-line error when mlflow is missing."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise KerasclsError(
            "MLflow tracking (--mlflow) needs the mlflow package: pip install -e .[mlflow]"
        ) from None
    return MlflowClient(tracking_uri=tracking_uri)


def start_mlflow_run(
    tracking_uri: str, run_dir: str | Path, info: RunInfo, experiment: str
) -> MlflowInfo:
    """Create the MLflow run of a kerascls run (or find the one a resumed run has) and log
    the recipe as params; return what run.json keeps under "mlflow"."""
    client = mlflow_client(tracking_uri)
    known = info.mlflow
    if known is not None and known.run_id and known.tracking_uri == tracking_uri:
        client.update_run(known.run_id, status="RUNNING")
        return known.copy()
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    mlflow_run = client.create_run(
        experiment_id,
        run_name=Path(run_dir).name,
        tags={"kerascls.model": str(info.model.name if info.model else None)},
    )
    run_id = mlflow_run.info.run_id
    from mlflow.entities import Param

    params = [
        Param(name, str(value)[:_MAX_PARAM])
        for name, value in flatten_hparams(info.recipe or {}).items()
    ]
    for start in range(0, len(params), 100):  # log_batch takes 100 params at most
        client.log_batch(run_id, params=params[start : start + 100])
    return MlflowInfo(
        tracking_uri=tracking_uri,
        experiment=experiment,
        experiment_id=experiment_id,
        run_id=run_id,
    )


class MlflowLogger(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, accuracy, val_*, learning_rate, ...) to an MLflow
    run, with the epoch (1-based) as the step.

    Args:
        tracking_uri: where the MLflow run lives.
        run_id: the MLflow run (`start_mlflow_run`).
    """

    def __init__(self, tracking_uri: str, run_id: str):
        super().__init__()
        self.client = mlflow_client(tracking_uri)
        self.run_id = run_id

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, float(value), now, epoch + 1)
            for name, value in (logs or {}).items()
            if isinstance(value, int | float) or hasattr(value, "__float__")
        ]
        if not metrics:
            return
        try:
            self.client.log_batch(self.run_id, metrics=metrics)
        except Exception as error:  # a tracking server's hiccup must not end the training
            log.warning("MLflow: could not log epoch %d's metrics (%s)", epoch + 1, error)


def finish_mlflow_run(run_dir: str | Path, info: RunInfo, status: str = "FINISHED") -> None:
    """Log the final metrics and the run folder's artifacts, and close the MLflow run; does
    nothing for a run without MLflow."""
    known = info.mlflow
    if known is None or not known.run_id:
        return
    from mlflow.entities import Metric

    client = mlflow_client(known.tracking_uri)
    run_id = known.run_id
    now = int(time.time() * 1000)
    step = int(info.epochs_completed or 0)
    # "final/validation_accuracy" -> "final_validation_accuracy": one flat column each
    metrics = [
        Metric(name.replace("/", "_"), value, now, step)
        for name, value in final_metrics(info).items()
    ]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    run_dir = Path(run_dir)
    files = [run_dir / name for name in _ARTIFACTS]
    for path in files:
        if path.is_file():
            client.log_artifact(run_id, str(path))
    _log_plots(client, run_id, sorted(p for pattern in _PLOTS for p in run_dir.glob(pattern)))
    if (run_dir / "best.keras").is_file():
        client.log_artifact(run_id, str(run_dir / "best.keras"), artifact_path="model")
    client.set_terminated(run_id, status=status)


def log_plots(info: RunInfo, paths: list[Path]) -> None:
    """Add plots drawn after training (the CLI draws the curves and the confusion matrix
    once the run is evaluated) to the run's MLflow run, under viz/; nothing without MLflow.
    MLflow takes artifacts on a finished run, so the run's status stays as it ended."""
    known = info.mlflow
    if known is None or not known.run_id:
        return
    _log_plots(mlflow_client(known.tracking_uri), known.run_id, paths)


def _log_plots(client: Any, run_id: str, paths: list[Path]) -> None:
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path="viz")
