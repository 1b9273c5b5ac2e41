"""Training engine: a tiny fit writes a complete run folder that TensorBoard can read, a
killed run resumes, the distribution strategy works, and best.keras reloads exactly."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import TINY_MODEL, colour_dataset, copy_run

import kerascls
from kerascls.errors import KerasclsError
from kerascls.models import load_model
from kerascls.train import Recipe, find_runs, fit, load_run, resume


def tiny_recipe(tmp_path: Path, **overrides) -> Recipe:
    values = dict(
        model="cnn",
        model_kwargs=TINY_MODEL,
        epochs=1,
        batch_size=16,
        lr=0.05,
        augment="none",
        logdir=str(tmp_path / "logs"),
        run_name="tiny",
        adapt_to_data=False,  # the tests pin batch 16 (adapting would make it 8)
    )
    values.update(overrides)
    # the classic SGD recipe a CNN gets (not airbench's), no early stopping
    values.setdefault("early_stopping_patience", 0)
    return Recipe.for_model(values.pop("model"), **values)


def read_scalars(event_dir: Path) -> dict[str, list[float]]:
    """Scalars of the TensorBoard event files in a folder, read with TensorBoard's reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    accumulator = EventAccumulator(str(event_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [float(make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


class RecordPredictions(keras.callbacks.Callback):
    """Predictions of the in-memory model at the end of every epoch, before any reload."""

    def __init__(self, images: np.ndarray):
        super().__init__()
        self.images, self.by_epoch, self.val_accuracy = images, [], []

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch.append(np.asarray(self.model(self.images, training=False)))
        self.val_accuracy.append(logs["val_accuracy"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fit")
    data = colour_dataset()
    recorder = RecordPredictions(data.validation.images[:8].astype("float32"))
    run = fit(tiny_recipe(tmp_path, epochs=2), data=data, callbacks=[recorder], verbose=0)
    run.recorded = recorder
    return run, data


def test_fit_writes_a_complete_run_folder(finished_run):
    run, data = finished_run
    for name in (
        "run.json",
        "best.keras",
        "last.keras",
        "history.csv",
        "report.json",
        "classification_report.csv",
    ):
        assert (run.path / name).is_file(), name
    assert not (run.path / "backup").exists(), "BackupAndRestore state must go when a run ends"
    # in-memory arrays without a data_dir are filed as what they are, not as CIFAR-10
    assert run.path.parent.name == "arrays"
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "finished"
    assert info["class_names"] == ["red", "green", "blue"]
    assert info["input_shape"] == [16, 16, 3]
    assert info["model"] == {
        "name": "cnn",
        "kwargs": {"filters": [8, 16], "convs_per_stage": 1},
        "params": info["model"]["params"],
    }
    # the statistics in run.json are the training split's, per channel
    expected = data.train.images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(info["normalization"]["mean"], expected.mean(0), rtol=1e-4)
    np.testing.assert_allclose(info["normalization"]["std"], expected.std(0), rtol=1e-3)
    assert info["recipe"]["epochs"] == 2 and info["epochs_completed"] == 2
    assert info["versions"]["tensorflow"].startswith("2.")
    # three separable colours: even two tiny epochs learn them
    assert info["metrics"]["validation"]["accuracy"] > 0.8
    with open(run.path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])


def test_tensorboard_can_read_the_event_files(finished_run):
    run, _ = finished_run
    train = read_scalars(run.path / "train")
    validation = read_scalars(run.path / "validation")
    assert len(train["epoch_loss"]) == 2 and len(train["epoch_accuracy"]) == 2
    assert "epoch_learning_rate" in train
    assert len(validation["epoch_loss"]) == 2 and len(validation["epoch_accuracy"]) == 2
    assert all(np.isfinite(train["epoch_loss"]))


def test_best_checkpoint_reloads_to_the_same_predictions(finished_run):
    run, data = finished_run
    images = data.validation.images[:8].astype("float32")
    first = run.load_model()(images)
    again = load_model(run.path / "best.keras")(images)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    # ...and they are the in-memory model's predictions at its best epoch, before saving
    recorded = run.recorded
    best_epoch = int(np.argmax(recorded.val_accuracy))  # first of ties, as the checkpoint
    np.testing.assert_allclose(np.asarray(first), recorded.by_epoch[best_epoch], atol=1e-6)
    report = json.loads((run.path / "report.json").read_text())
    assert report["split"] == "validation" and report["num_examples"] == len(data.validation)
    assert sum(map(sum, report["confusion_matrix"])) == len(data.validation)
    assert report["flip_tta_accuracy"] is None  # trained without flips: not measured


def test_load_run_without_a_path_gives_the_newest(tmp_path):
    logdir = tmp_path / "logs"
    for i, name in enumerate(["old", "new"]):
        run_dir = logdir / "data" / name
        run_dir.mkdir(parents=True)
        (run_dir / "run.json").write_text(json.dumps({"created": 1000.0 + i}))
    assert [p.name for p in find_runs(logdir)] == ["old", "new"]
    assert load_run(logdir=logdir).path.name == "new"
    assert kerascls.load_run(logdir=logdir).path.name == "new"  # the spelling
    with pytest.raises(KerasclsError, match="no training runs"):
        load_run(logdir=tmp_path / "empty")


class StopAtEpoch(keras.callbacks.Callback):
    """Stands in for a killed process: fails at the start of epoch `epoch` (0-based)."""

    def __init__(self, epoch: int = 1):
        super().__init__()
        self.stop_at = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.stop_at:
            raise KeyboardInterrupt("simulated kill")


def interrupted_run(tmp_path, finished_epochs: int = 1, **overrides):
    """A 3-epoch run killed after `finished_epochs` epochs: (data, recipe, run folder)."""
    data = colour_dataset()
    recipe = tiny_recipe(tmp_path, epochs=3, **overrides)
    with pytest.raises(KeyboardInterrupt):
        fit(recipe, data=data, verbose=0, callbacks=[StopAtEpoch(finished_epochs)])
    (run_dir,) = find_runs(recipe.logdir)
    return data, recipe, run_dir


def epochs_logged(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, capsys):
    data, recipe, run_dir = interrupted_run(tmp_path)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert (run_dir / "backup").is_dir() and (run_dir / "last.keras").is_file()

    # a kill between the history row of epoch 1 and its backup leaves this row behind
    with open(run_dir / "history.csv") as f:
        rows = f.read().splitlines()
    with open(run_dir / "history.csv", "a") as f:
        f.write(rows[1].replace("0,", "1,", 1) + "\n")
    run = resume(run_dir, data=data, verbose=1)
    assert "resuming after epoch 1 from backup/latest.weights.h5" in capsys.readouterr().out
    with pytest.raises(KerasclsError, match="already finished"):
        resume(run_dir, data=data, verbose=0)
    assert run.path == run_dir and run.info["status"] == "finished"
    assert epochs_logged(run_dir) == [0, 1, 2], "the resumed run starts at epoch 1, not at 0"
    # the optimizer's step counter went on too, so the schedule did not restart: the
    # learning rates match an uninterrupted run's
    straight = fit(replace(recipe, run_name="straight"), data=data, verbose=0)
    with open(run_dir / "history.csv") as f:
        resumed_lr = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    with open(straight.path / "history.csv") as f:
        straight_lr = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    np.testing.assert_allclose(resumed_lr, straight_lr, rtol=1e-6)


def test_backups_keep_two_complete_generations_and_resume_from_the_readable_one(tmp_path, capsys):
    data, _, run_dir = interrupted_run(tmp_path, finished_epochs=2)
    backup = run_dir / "backup"
    names = sorted(p.name for p in backup.iterdir())
    assert names == ["latest.weights.h5", "previous.weights.h5", "training_metadata.json"]
    # what a kill in the middle of an in-place write would leave
    latest = backup / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:100])
    run = resume(run_dir, data=data, verbose=1)
    out = capsys.readouterr().out
    assert "resuming after epoch 1 from backup/previous.weights.h5" in out
    assert run.info["status"] == "finished" and epochs_logged(run_dir) == [0, 1, 2]


def test_a_run_with_no_readable_backup_is_a_one_line_error(tmp_path):
    data, _, run_dir = interrupted_run(tmp_path)
    latest = run_dir / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:100])
    with pytest.raises(KerasclsError, match=r"no readable backup .* start a new run"):
        resume(run_dir, data=data, verbose=0)


def test_bad_recipes_are_clear_errors(tmp_path):
    with pytest.raises(KerasclsError, match="schedule"):
        Recipe(schedule="exponential").validate()
    with pytest.raises(KerasclsError, match="ReduceLROnPlateau"):
        Recipe(reduce_lr_patience=3, schedule="cosine").validate()
    with pytest.raises(KerasclsError, match="unknown recipe fields"):
        Recipe.from_dict({"epochz": 3})
    with pytest.raises(KerasclsError, match="early_stopping_start"):
        Recipe(epochs=10, early_stopping_start=10).validate()


def epochs_until_early_stop(recipe: Recipe, tmp_path: Path) -> int | None:
    """Feed the recipe's EarlyStopping a val_accuracy that never improves; the epoch it stops."""
    from kerascls.train.callbacks import build_callbacks

    callbacks = build_callbacks(recipe, tmp_path)
    (stopper,) = [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.stop_training = False  # fit sets this; the stopper sets it True to stop
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch in range(recipe.epochs):
        stopper.on_epoch_end(epoch, {"val_accuracy": 0.5})
        if model.stop_training:
            return epoch
    return None


def test_early_stopping_waits_for_a_decaying_schedule_to_come_down(tmp_path):
    # A cosine's first half sits on a high-lr plateau: patience counts only from half-way.
    cosine = Recipe(epochs=40, schedule="cosine", early_stopping_patience=3)
    assert epochs_until_early_stop(cosine, tmp_path) == 20 + 3
    # A constant rate (the ReduceLROnPlateau regime) is watched from the first epoch.
    constant = replace(cosine, schedule="constant")
    assert epochs_until_early_stop(constant, tmp_path) == 3
    assert epochs_until_early_stop(replace(cosine, early_stopping_start=5), tmp_path) == 5 + 3


STRATEGY_SCRIPT = textwrap.dedent(
    """
    import sys, json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[1])
    from test_train import colour_dataset, tiny_recipe
    from kerascls.train import fit
    from kerascls.train.runtime import make_strategy
    from pathlib import Path
    print("replicas", make_strategy("mirrored").num_replicas_in_sync)
    run = fit(tiny_recipe(Path(sys.argv[2]), strategy="mirrored"), data=colour_dataset(),
              verbose=0)
    print("accuracy", run.info["metrics"]["validation"]["accuracy"])
    """
)


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    # Logical devices must be configured before TensorFlow starts: use a fresh process.
    out = subprocess.run(
        [sys.executable, "-c", STRATEGY_SCRIPT, str(Path(__file__).parent), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split() for line in out.stdout.splitlines() if " " in line)
    assert lines["replicas"] == "2"
    assert float(lines["accuracy"]) > 0.6


def test_the_same_seed_repeats_a_run(tmp_path):
    data = colour_dataset()
    recipe = tiny_recipe(tmp_path, augment="cifar")
    losses = []
    for name in ("a", "b"):
        run = fit(replace(recipe, run_name=name), data=data, verbose=0)
        with open(run.path / "history.csv") as f:
            losses.append([float(r["loss"]) for r in csv.DictReader(f)])
        # "cifar" flips images, so the evaluation adds the flip-TTA figure
        tta = run.info["metrics"]["validation"]["flip_tta_accuracy"]
        assert 0.0 <= tta <= 1.0
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_kerascls_train_cli_on_an_image_folder_with_cutout(colour_folder, tmp_path, capsys):
    """kerascls-train as a user types it: the preset plus --cutout lands in run.json."""
    from kerascls.cli.train import main

    argv = ["--data-dir", str(colour_folder), "--model", "cnn", "--epochs", "1"]
    argv += ["--batch-size", "8", "--augment", "cifar", "--cutout", "4"]
    assert main([*argv, "--logdir", str(tmp_path / "logs")]) == 0
    run = load_run(logdir=tmp_path / "logs")
    augment = run.info["recipe"]["augment"]
    assert augment["cutout"] == 4 and augment["crop_padding"] == 4 and augment["horizontal_flip"]
    assert f"run folder: {run.path}" in capsys.readouterr().out


def test_a_run_killed_during_its_final_evaluation_resumes_to_the_evaluation(
    finished_run, tmp_path, capsys
):
    finished, data = finished_run
    run = copy_run(finished, tmp_path)  # 2 epochs of tiny_recipe on colour_dataset()
    # what a kill after the last epoch leaves: backup/ gone, no report, status "running"
    (run.path / "report.json").unlink()
    run.update(status="running", metrics=None)
    resumed = resume(run.path, data=data, verbose=1)
    assert "training of" in capsys.readouterr().out
    assert resumed.info["status"] == "finished" and resumed.info["epochs_completed"] == 2
    assert resumed.info["metrics"]["validation"]["accuracy"] > 0.5
    assert (run.path / "report.json").is_file()


def test_a_partial_last_epoch_reports_the_speed_of_the_steps_it_ran():
    # A time budget stops its last epoch part-way: 3 of 10 steps of 32 images in 0.3 s is
    # 320 images/s, not the whole epoch's 320 images over 0.3 s.
    from kerascls.train.callbacks import EpochStats

    stats = EpochStats(batch_size=32)
    stats.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stats.model.compile(optimizer="sgd", loss="mse")
    stats.on_epoch_begin(0)
    for batch in range(3):
        stats.on_train_batch_end(batch)
    stats._start -= 0.3  # as if 0.3 s had passed
    logs: dict = {}
    stats.on_epoch_end(0, logs)
    assert logs["images_per_second"] == pytest.approx(96 / logs["epoch_seconds"], rel=1e-6)
    assert 300 < logs["images_per_second"] < 330
