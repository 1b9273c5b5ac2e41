"""`--teachers N`: a run trains its own teachers (`fast` runs of other seeds), keeps them,
continues them when killed, and distills from them; their predictions run in the run's
precision on the network as it trained."""

import json
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import colour_recipe, write_colour_folder

from kerascls.cli.train import main as train_main
from kerascls.data import make_pipeline
from kerascls.runs import load_run
from kerascls.train import Recipe
from kerascls.train.fit import fit, load_data
from kerascls.train.teacher_targets import teacher_model
from kerascls.train.teachers import train_teachers


class StopAtEpoch(keras.callbacks.Callback):
    """Raises KeyboardInterrupt as epoch `epoch` begins: a kill at that point."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def tiny(colour_folder, tmp_path, **fields):
    return colour_recipe(colour_folder, tmp_path, **{"epochs": 3, **fields})


def teacher_folders(logdir: Path) -> list[str]:
    return sorted(path.parent.name for path in logdir.glob("*/teachers/*/run.json"))


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """60 photos of 16x16 in three colours, train/ only: a user's small folder."""
    return write_colour_folder(tmp_path_factory.mktemp("teachers") / "colours", per_class=20)


def test_one_command_trains_the_teachers_then_distills_and_a_second_reuses_them(
    small_folder, tmp_path, capsys
):
    logdir = tmp_path / "logs"
    command = ["--data-dir", str(small_folder), "--recipe", "long", "--teachers", "2"]
    command += ["--no-plan", "--epochs", "1", "--batch-size", "16", "--logdir", str(logdir)]
    assert train_main(command) == 0
    out = capsys.readouterr().out
    assert "teacher 1 of 2: airbench, seed 1" in out and "teacher 2 of 2: airbench, seed 2" in out
    teachers = [load_run(p) for p in sorted(logdir.glob("colours/teachers/*"))]
    assert [t.info.recipe["seed"] for t in teachers] == [1, 2]
    assert {t.info.status for t in teachers} == {"finished"}
    assert {t.model_name for t in teachers} == {"airbench"}  # the fast recipe's network
    student = load_run(next(logdir.glob("colours/airbench_wide-*")))
    assert student.info.recipe["teachers"] == 2
    assert student.info.recipe["distill_from"] == [str(t.path.resolve()) for t in teachers]
    assert "distillation: 2 teachers" in out
    assert student.info.status == "finished"

    # the same command again: the teachers are reused, not trained again
    assert train_main(command) == 0
    out = capsys.readouterr().out
    assert out.count("(trained before)") == 2 and "=== teacher" not in out
    assert len(teacher_folders(logdir)) == 2
    second = max(logdir.glob("colours/airbench_wide-*"), key=lambda p: p.stat().st_mtime)
    assert load_run(second).info.recipe["distill_from"] == student.info.recipe["distill_from"]

    # the teachers predict in bf16 on the network as it trained, and agree with best.keras
    run = teachers[0]
    fast = teacher_model(run, "mixed_bfloat16")
    assert "FusedBatchNormalization" in {type(layer).__name__ for layer in fast.layers}
    assert fast.layers[2].compute_dtype == "bfloat16"
    photos = load_data(Recipe(data_dir=str(small_folder))).train
    images = np.concatenate([batch for batch, _ in make_pipeline(photos, 32, training=False)])
    saved = run.load_model().predict(images, verbose=0)
    mixed = np.asarray(fast(images, training=False), np.float32)
    assert np.abs(saved - mixed).max() < 0.05  # bf16's 3 digits, on probabilities
    assert (saved.argmax(1) == mixed.argmax(1)).mean() >= 0.95


def test_a_teacher_killed_mid_run_continues_and_one_killed_before_its_first_epoch_is_replaced(
    colour_folder, tmp_path, capsys
):
    recipe = tiny(colour_folder, tmp_path, epochs=1, teachers=2)
    data = load_data(recipe)
    teacher = tiny(colour_folder, tmp_path)  # 3 epochs
    with pytest.raises(KeyboardInterrupt):  # killed after the first teacher's first epoch
        train_teachers(recipe, data, teacher_recipe=teacher, callbacks=[StopAtEpoch(1)], verbose=0)
    (first,) = teacher_folders(tmp_path / "logs")
    assert (
        json.loads((tmp_path / "logs/colours/teachers" / first / "run.json").read_text())["status"]
        == "running"
    )

    taught = train_teachers(recipe, data, teacher_recipe=teacher, verbose=1)
    out = capsys.readouterr().out
    assert f"teacher {first}: continuing where it stopped" in out
    runs = [load_run(path) for path in taught.distill_from]
    assert runs[0].path.name == first  # the same folder, finished
    assert [run.info.epochs_completed for run in runs] == [3, 3]
    assert len(runs[0].history()["epoch"]) == 3  # epoch 0 once, then 1 and 2

    # a teacher killed before its first epoch ended has nothing to continue: a new folder
    # beside it trains, and the old one is left as it was
    other = tiny(colour_folder, tmp_path, epochs=1, teachers=1, seed=7)
    with pytest.raises(KeyboardInterrupt):
        train_teachers(other, data, teacher_recipe=teacher, callbacks=[StopAtEpoch(0)], verbose=0)
    (dead,) = [name for name in teacher_folders(tmp_path / "logs") if "seed8-" in name]  # 7 x 1 + 1
    taught = train_teachers(other, data, teacher_recipe=teacher, verbose=0)
    (path,) = taught.distill_from
    assert Path(path).name == f"{dead}-2" and load_run(path).info.status == "finished"
    assert load_run(tmp_path / "logs/colours/teachers" / dead).info.status == "running"
    again = train_teachers(other, data, teacher_recipe=teacher, verbose=0)
    assert again.distill_from == taught.distill_from


def test_a_time_budget_is_the_whole_commands_and_the_teachers_take_their_share(
    small_folder, tmp_path
):
    # 50 s in all, 45 of them spent before the call: each teacher gets its share
    # (50 x 0.4 / 2 = 10 s, counted from its own start), and the run what is left of
    # the 50 s after them, which is nothing: it stops at its first plan
    student = Recipe.preset(
        "fast",
        data_dir=str(small_folder),
        validation_size=0.2,
        batch_size=16,
        adapt_to_data=False,  # the images as they are, for the teachers too
        time_budget=50,
        teachers=2,
        logdir=str(tmp_path / "logs"),
    )
    run = fit(student, verbose=0, started=time.perf_counter() - 45)
    teachers = [load_run(path) for path in run.info.recipe["distill_from"]]
    assert [t.path.name for t in teachers] == [
        "airbench-seed1-12val-0-16x16-10s",
        "airbench-seed2-12val-0-16x16-10s",
    ]
    assert [t.info.recipe["time_budget"] for t in teachers] == [10.0, 10.0]
    assert run.info.recipe["time_budget"] == 50
    # 3 steps an epoch: had its time counted from after the teachers, the run would have
    # planned 50 seconds' worth of steps (hundreds on this tiny network)
    assert run.info.planned_steps <= 3 * 3
    assert run.info.status == "finished"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--teachers", "2", "--distill-from", "logs/x"], "pass one of the two"),
        (["--teachers", "-1"], "teachers must be a count of runs"),
        (["--teachers", "1", "--folds", "2"], "teachers on each fold"),
    ],
)
def test_teachers_that_cannot_be_trained_are_refused_in_one_line(
    small_folder, tmp_path, capsys, flags, message
):
    command = ["--data-dir", str(small_folder), "--logdir", str(tmp_path / "logs"), *flags]
    assert train_main(command) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists() or not teacher_folders(tmp_path / "logs")
