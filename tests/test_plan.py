"""The run's plan (kerascls/train/plan.py): what the default recipe becomes on a folder of
photos and on CIFAR-size data, on a CPU and on a GPU, and what the user's flags keep."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from kerascls.data import from_arrays, load_image_folder
from kerascls.train.plan import CPU_MAX_SIDE, CPU_TIME_CAP, MIN_STEPS, Machine, plan_run
from kerascls.train.progress import RunProgress
from kerascls.train.recipe import Recipe

CPU, GPU = Machine(gpu=False), Machine(gpu=True)


def write_photo_folder(root: Path, per_class: int = 12) -> Path:
    """train/<class>/ of 150x150 JPEGs with a few of other sizes, as users' folders are."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("cat", "dog")):
        folder = root / "train" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            size = (150, 150) if i % 4 else (120 + 10 * i, 200)
            pixels = rng.integers(0, 200, (*size, 3)) + 50 * label
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.jpg")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photo_folder(tmp_path_factory.mktemp("plan") / "photos")


def test_a_photo_folder_on_a_cpu_trains_small_longer_and_within_a_time_cap(photos):
    data = load_image_folder(photos)
    assert data.image_size == (150, 150)  # the size of most of its photos
    plan = plan_run(Recipe(), data, CPU)
    assert plan.data.image_size == (CPU_MAX_SIDE, CPU_MAX_SIDE)
    assert plan.data.train.image_size == plan.data.validation.image_size == (64, 64)
    assert plan.data.source["image_size"] == [64, 64]  # later commands re-open it at 64
    recipe = plan.recipe
    assert recipe.batch_size == 8  # 21 training photos: the smallest batch
    steps = -(-len(data.train) // recipe.batch_size)
    assert recipe.epochs == min(-(-MIN_STEPS // steps), 60) > Recipe().epoch_count()
    assert recipe.time_budget == CPU_TIME_CAP and plan.time_cap
    # the warm-up keeps its share of the run
    assert recipe.warmup_fraction() == pytest.approx(Recipe().warmup_fraction())
    text = plan.describe()
    assert "150x150 -> 64x64" in text and "--image-size 150" in text
    assert f"within {CPU_TIME_CAP / 60:.0f} minutes" in text
    record = plan.to_dict()
    assert record["image_size"] == [64, 64] and record["time_cap"] is True
    # one size: the plan says what --low-res would start at, and does not choose it
    assert recipe.low_res_scale == 1.0 and record["low_res_scale"] == 1.0
    assert "resolutions: one size (--low-res 0.5 starts at 32x32" in text


def test_on_a_gpu_the_photos_keep_their_size_and_the_epochs_run_in_full(photos):
    plan = plan_run(Recipe(), load_image_folder(photos), GPU)
    assert plan.data.image_size == (150, 150)
    assert plan.recipe.low_res_scale == 1.0
    assert plan.recipe.time_budget is None and not plan.time_cap
    assert plan.recipe.epochs > Recipe().epoch_count()


def test_what_the_user_chose_stays_as_chosen(photos):
    data = load_image_folder(photos, image_size=96)
    chosen = Recipe(
        image_size=(96, 96),
        epochs=3,
        batch_size=4,
        set_by_user=("image_size", "epochs", "batch_size"),
    )
    plan = plan_run(chosen, data, CPU)
    assert plan.data.image_size == (96, 96)
    low_first = Recipe(low_res_scale=0.75, set_by_user=("low_res_scale",))
    planned = plan_run(low_first, data, CPU)
    assert planned.recipe.low_res_scale == 0.75 and "48x48, then 64x64" in planned.describe()
    # a ViT's position embeddings take one size: it trains at one size, said nowhere
    vit = plan_run(Recipe(model="vit_tiny", set_by_user=("model",)), data, CPU)
    assert vit.recipe.low_res_scale == 1.0 and "resolutions" not in vit.describe()
    assert (plan.recipe.epochs, plan.recipe.batch_size, plan.recipe.time_budget) == (3, 4, None)
    budget = Recipe(time_budget=120.0, set_by_user=("time_budget",))
    planned = plan_run(budget, data, CPU).recipe
    assert planned.time_budget == 120.0 and planned.epochs == Recipe().epoch_count()


def test_no_plan_trains_the_recipe_as_written(photos):
    data = load_image_folder(photos)
    recipe = Recipe(adapt_to_data=False)
    plan = plan_run(recipe, data, CPU)
    assert plan.recipe == Recipe(adapt_to_data=False, epochs=10) and plan.data is data


def test_cifar_sized_data_keeps_the_default_recipe():
    x = np.zeros((50_000, 2, 2, 3), np.uint8)  # 45,000 training images after the hold-out
    data = from_arrays(x, np.arange(50_000) % 10, validation_size=5000)
    plan = plan_run(Recipe(), data, CPU)
    assert plan.recipe == Recipe(epochs=10) and plan.notes == []


def test_the_long_preset_trains_twice_the_default_on_cifar_and_on_a_small_folder(photos):
    x = np.zeros((50_000, 2, 2, 3), np.uint8)
    cifar = plan_run(Recipe.preset("long"), from_arrays(x, np.arange(50_000) % 10), CPU).recipe
    assert cifar.epochs == 20 and cifar.model == "airbench_wide" and cifar.time_budget is None
    assert cifar.warmup_fraction() == pytest.approx(Recipe().warmup_fraction())
    # on a small folder: twice the default plan's steps, within twice its CPU time cap
    data = load_image_folder(photos)
    fast = plan_run(Recipe(), data, CPU).recipe
    long = plan_run(Recipe.preset("long"), data, CPU)
    steps = -(-len(data.train) // long.recipe.batch_size)
    assert long.recipe.epochs == min(-(-2 * MIN_STEPS // steps), 120) > fast.epochs
    assert long.recipe.time_budget == 2 * CPU_TIME_CAP == 2 * fast.time_budget
    assert f"at least {2 * MIN_STEPS} steps" in long.describe()
    # epochs the user gives are kept as given, whatever the preset's length
    assert plan_run(Recipe.preset("long", epochs=3), data, CPU).recipe.epochs == 3


def test_the_command_line_follows_the_model_and_records_the_flags():
    from kerascls.cli.train import add_training_flags, recipe_from_flags

    parser = argparse.ArgumentParser()
    add_training_flags(parser, None)
    default = recipe_from_flags(parser.parse_args([]))
    assert default == Recipe()
    resnet = recipe_from_flags(parser.parse_args(["--model", "resnet20", "--epochs", "5"]))
    assert (resnet.lr, resnet.bias_lr_scale, resnet.lookahead) == (0.1, 1.0, False)
    assert resnet.epochs == 5 and set(resnet.set_by_user) == {"model", "epochs"}
    assert not recipe_from_flags(parser.parse_args(["--no-plan"])).adapt_to_data


def test_the_epoch_heading_gives_the_planned_epochs_and_the_time_left(capsys):
    total = keras.Variable(100, dtype="int64", trainable=False)
    progress = RunProgress(steps_per_epoch=10, total_steps=total, started=0.0)
    progress.set_params({"verbose": 1, "epochs": 100_000, "steps": 10})
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    assert capsys.readouterr().out.strip() == "Epoch 1/10"  # no time measured yet
    total.assign(140)  # a time budget re-planned the run
    progress._fit_started -= 30.0  # one epoch took 30 s
    progress.on_epoch_begin(1)
    heading = capsys.readouterr().out.strip()
    assert heading.startswith("Epoch 2/14 · 6 min") and "left (ends by" in heading


def test_the_expected_duration_is_said_once_the_first_steps_are_timed(capsys):
    progress = RunProgress(steps_per_epoch=10, total_steps=100, started=time.perf_counter())
    progress.set_params({"verbose": 1, "epochs": 10, "steps": 10})
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    for batch in range(5):  # the first step (tracing) is not timed; then 4 of 0.05 s
        progress.on_train_batch_begin(batch)
        progress._step_started -= 0.05
        progress.on_train_batch_end(batch)
    lines = capsys.readouterr().out.splitlines()
    expected = [line for line in lines if line.startswith("expected: about")]
    assert len(expected) == 1 and "10 epochs at 0.05 s a step" in expected[0]
    # 95 steps left at 0.05 s, plus a tenth for validation: about 5 s
    assert progress.expected_seconds == pytest.approx(95 * 0.05 * 1.1, abs=0.5)
