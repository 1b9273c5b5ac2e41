"""What a run reports to trackers: TensorBoard's HParams dashboard, MLflow."""

from kerascls.train.hparams import read_hparams


def test_hparams_holds_the_recipe_and_final_metrics(tiny_run):
    files = list(tiny_run.path.glob("events.out.tfevents.*.hparams"))
    assert len(files) == 1
    hparams, scalars = read_hparams(files[0])
    assert hparams["lr"] == 0.007 and hparams["optimizer"] == "adam"
    assert hparams["model_kwargs"] == '{"convs_per_stage": 1, "filters": [8, 16]}'
    assert hparams["data_fingerprint"] == tiny_run.info["dataset"]["fingerprint"]["combined"][:12]
    accuracy = tiny_run.info["metrics"]["validation"]["accuracy"]
    assert abs(scalars["final/validation_accuracy"] - accuracy) < 1e-6
    assert scalars["final/epochs_completed"] == 4
