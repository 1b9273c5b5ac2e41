"""What a run reports to trackers: TensorBoard's HParams dashboard, MLflow."""

import json

import keras
import pytest

from kerascls.train.hparams import read_hparams


def test_hparams_holds_the_recipe_and_final_metrics(tiny_run):
    files = list(tiny_run.path.glob("events.out.tfevents.*.hparams"))
    assert len(files) == 1
    hparams, scalars = read_hparams(files[0])
    assert hparams["lr"] == 0.007 and hparams["optimizer"] == "adam"
    assert hparams["model_kwargs"] == '{"convs_per_stage": 1, "filters": [8, 16]}'
    assert "clipnorm" not in hparams  # None: left out, so the column stays numeric
    assert hparams["data_fingerprint"] == tiny_run.info["dataset"]["fingerprint"]["combined"][:12]
    accuracy = tiny_run.info["metrics"]["validation"]["accuracy"]
    assert abs(scalars["final/validation_accuracy"] - accuracy) < 1e-6
    assert scalars["final/epochs_completed"] == 4


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")


def test_mlflow_logs_the_recipe_epochs_final_metrics_and_artifacts(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")  # requirements.txt pins it; `pip install -e .[mlflow]`
    from helpers import colour_dataset
    from mlflow import MlflowClient

    from kerascls.train import Recipe, find_runs, fit, resume

    monkeypatch.chdir(tmp_path)  # the sqlite store puts artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    recipe = Recipe.for_model(
        "cnn",
        early_stopping_patience=0,
        model_kwargs={"filters": (8,), "convs_per_stage": 1},
        epochs=2,
        batch_size=30,
        lr=0.003,
        optimizer="adam",
        augment="none",
        logdir=str(tmp_path / "logs"),
        adapt_to_data=False,  # keep lr as given, to find it in the params
        mlflow=uri,
    )
    data = colour_dataset(n_per_class=20)
    with pytest.raises(KeyboardInterrupt):  # killed after epoch 1: resume goes on in MLflow
        fit(recipe, data=data, verbose=0, callbacks=[_StopAfterFirstEpoch()])
    (run_dir,) = find_runs(recipe.logdir)
    run = resume(run_dir, data=data, verbose=0)

    client = MlflowClient(uri)
    assert len(client.search_runs([run.info["mlflow"]["experiment_id"]])) == 1
    mlflow_run = client.get_run(run.info["mlflow"]["run_id"])
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params["lr"] == "0.003"
    assert mlflow_run.data.params["model"] == "cnn"
    history = client.get_metric_history(mlflow_run.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2]
    accuracy = run.info["metrics"]["validation"]["accuracy"]
    assert abs(mlflow_run.data.metrics["final_validation_accuracy"] - accuracy) < 1e-6
    names = {a.path for a in client.list_artifacts(mlflow_run.info.run_id)}
    assert {"run.json", "report.json", "history.csv", "model"} <= names
    assert [a.path for a in client.list_artifacts(mlflow_run.info.run_id, "model")] == [
        "model/best.keras"
    ]
    experiment = client.get_experiment(mlflow_run.info.experiment_id)
    assert experiment.name == "kerascls/cifar10"  # in-memory data: no folder to name it


def test_missing_mlflow_is_a_one_line_error(monkeypatch):
    import sys

    from kerascls.errors import KerasclsError
    from kerascls.train import Recipe
    from kerascls.train.tracking import mlflow_client

    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    with pytest.raises(KerasclsError, match=r"pip install -e \.\[mlflow\]"):
        mlflow_client("sqlite:///mlflow.db")
    # and a recipe that asks for it fails its validation, before any run folder exists
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(KerasclsError, match=r"pip install -e \.\[mlflow\]"):
        Recipe(mlflow="sqlite:///mlflow.db").validate()


def test_mlflow_flag_takes_an_optional_uri():
    import argparse

    from kerascls.cli.train import add_training_flags, recipe_from_flags

    parser = argparse.ArgumentParser()
    add_training_flags(parser, None)
    assert recipe_from_flags(parser.parse_args([])).mlflow is None
    assert recipe_from_flags(parser.parse_args(["--mlflow"])).mlflow == "sqlite:///mlflow.db"
    recipe = recipe_from_flags(parser.parse_args(["--mlflow", "http://host:5000"]))
    assert recipe.mlflow == "http://host:5000" and "mlflow" not in recipe.set_by_user


def test_kerascls_train_mlflow_adds_the_plots(colour_folder, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    from kerascls.cli.train import main
    from kerascls.runs import find_runs

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["--data-dir", str(colour_folder), "--model", "cnn", "--epochs", "1"]
    args += ["--batch-size", "32", "--logdir", str(tmp_path / "logs"), "--mlflow", uri]
    assert main(args) == 0
    (run_dir,) = find_runs(tmp_path / "logs")
    info = json.loads((run_dir / "run.json").read_text())
    client = MlflowClient(uri)
    plots = {a.path for a in client.list_artifacts(info["mlflow"]["run_id"], "viz")}
    assert plots == {"viz/curves.png", "viz/confusion_matrix.png"}
    assert (run_dir / "viz" / "curves.png").stat().st_size > 10_000  # a real figure
    assert client.get_run(info["mlflow"]["run_id"]).info.status == "FINISHED"
