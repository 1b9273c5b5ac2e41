"""Progressive resizing (kerascls/train/resolution.py): the view that takes any size, the
pipeline's low-resolution phase, the switch, and a run on a folder that uses them."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import write_colour_folder

from kerascls.data import LowResolution, from_arrays, make_pipeline
from kerascls.errors import KerasclsError
from kerascls.models import create_model, get_model_info, list_models
from kerascls.train import Recipe, fit
from kerascls.train.resolution import (
    ANY_SIZE_FAMILIES,
    ResolutionSwitch,
    any_size_view,
    low_resolution_size,
    takes_any_size,
)

ANY_SIZE_MODELS = [name for name in list_models() if takes_any_size(name)]


def test_the_families_said_to_take_any_size_cover_the_default_and_skip_fixed_size_models():
    assert {get_model_info(name).family for name in ANY_SIZE_MODELS} == ANY_SIZE_FAMILIES
    assert takes_any_size("airbench") and takes_any_size("resnet20")
    for fixed in ("vit_tiny", "lenet5", "transfer_mobilenetv3small", "efficientnet_b0"):
        assert not takes_any_size(fixed)


@pytest.mark.parametrize(
    "name", [n for n in ANY_SIZE_MODELS if n in ("airbench", "cnn", "resnet20", "se_resnet20",
                                                  "mobilenetv3_small", "convnext_nano")]
)  # fmt: skip
def test_the_view_trains_the_models_own_variables_at_any_size(name):
    model = create_model(name, 3, (32, 32, 3))
    view = any_size_view(model)
    assert [id(w) for w in view.weights] == [id(w) for w in model.weights]
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(view(x), model(x), atol=1e-5)
    assert view(x[:, :24, :16]).shape == (2, 3)  # smaller, and not square
    with pytest.raises(ValueError):  # the model itself keeps its one size
        model(x[:, :24, :24])


def test_a_model_that_takes_one_size_cannot_be_asked_to_start_small():
    with pytest.raises(KerasclsError, match=r"takes one image size.*--low-res 1"):
        Recipe(model="vit_tiny", low_res_scale=0.5).validate()
    with pytest.raises(KerasclsError, match=r"low_res_scale must be .* \(0, 1\]"):
        Recipe(low_res_scale=0.0).validate()
    with pytest.raises(KerasclsError, match="default strategy"):
        Recipe(low_res_scale=0.5, strategy="mirrored").validate()
    assert low_resolution_size((64, 48), 0.5) == (32, 24)


def test_the_pipeline_downscales_training_batches_while_the_flag_holds():
    x = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
    data = from_arrays(x, np.arange(32) % 2, validation_size=8)
    flag = tf.Variable(True, trainable=False)
    low = LowResolution((8, 8), flag)
    batches = iter(make_pipeline(data, 8, training=True, repeat=True, low_resolution=low))
    first = next(batches)[0]
    assert first.shape == (8, 8, 8, 3)
    assert float(tf.reduce_min(first)) >= 0 and float(tf.reduce_max(first)) <= 255
    flag.assign(False)
    sizes = [next(batches)[0].shape[1] for _ in range(8)]
    # the few batches already prepared come small; every later one at full size
    assert sizes[-1] == 16 and sizes == sorted(sizes)
    evaluation = make_pipeline(data.validation, 8, training=False, low_resolution=low)
    flag.assign(True)
    assert next(iter(evaluation))[0].shape[1] == 16  # evaluation is never downscaled


def test_the_switch_comes_at_its_share_of_the_planned_steps_and_holds_after_a_restore():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    flag = tf.Variable(True, trainable=False)
    switched = []
    total = keras.Variable(20, dtype="int64", trainable=False)
    switch = ResolutionSwitch(flag, 0.5, total, on_switch=switched.append)
    x, y = np.ones((8, 2)), np.zeros((8, 2))
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[switch])  # 8 steps
    assert bool(flag.numpy()) and not switched
    total.assign(12)  # a time budget shortened the run: half of it is now done
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[switch])
    assert not bool(flag.numpy()) and switched == [8] and switch.switched_at == 8
    # a resumed run past its switch: full size from its first step
    again = tf.Variable(True, trainable=False)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[ResolutionSwitch(again, 0.5, 12)])
    assert not bool(again.numpy())


def test_a_folder_run_starts_small_ends_full_size_and_saves_the_full_size_model(tmp_path):
    folder = write_colour_folder(tmp_path / "photos", per_class=24, size=64)
    recipe = Recipe.for_model(
        "cnn",
        data_dir=str(folder),
        epochs=4,
        low_res_scale=0.5,  # as --low-res 0.5 sets it
        set_by_user=("epochs", "low_res_scale"),
        model_kwargs={"filters": (8,), "convs_per_stage": 1},
        augment="none",
        logdir=str(tmp_path / "logs"),
    )
    run = fit(recipe, verbose=0)
    info = json.loads((run.path / "run.json").read_text())
    assert info["plan"]["low_res_scale"] == 0.5 and info["plan"]["image_size"] == [64, 64]
    plan = info["plan"]
    total = plan["epochs"] * -(-info["split_sizes"]["train"] // plan["batch_size"])
    assert info["full_resolution_from_step"] == total // 2
    saved = keras.saving.load_model(run.path / "best.keras")
    assert saved.input_shape == (None, 64, 64, 3)  # exports and predictions take one size
    assert run.info["metrics"]["validation"]["accuracy"] > 0.9  # colours: easy when it learns


def test_a_killed_run_planned_smaller_than_its_photos_resumes_at_the_planned_size(tmp_path):
    # the plan trains 96 px photos at 64x64 on a CPU; --resume reloads the folder (at 96)
    # and must train on at 64 again, with the progressive switch where it was
    from kerascls.train import resume

    class StopAfterOneEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    folder = write_colour_folder(tmp_path / "photos", per_class=24, size=96)
    recipe = Recipe.for_model(
        "cnn",
        data_dir=str(folder),
        epochs=3,
        low_res_scale=0.5,
        set_by_user=("epochs", "low_res_scale"),
        model_kwargs={"filters": (8,), "convs_per_stage": 1},
        augment="none",
        logdir=str(tmp_path / "logs"),
    )
    with pytest.raises(KeyboardInterrupt):
        fit(recipe, verbose=0, callbacks=[StopAfterOneEpoch()])
    (run_dir,) = [p.parent for p in (tmp_path / "logs").glob("*/*/run.json")]
    switched = json.loads((run_dir / "run.json").read_text()).get("full_resolution_from_step")
    run = resume(run_dir, verbose=0)
    assert run.info["status"] == "finished" and run.info["epochs_completed"] == 3
    # the switch is recorded once, when it happened
    assert json.loads((run_dir / "run.json").read_text())["full_resolution_from_step"] == (
        switched if switched is not None else run.info["full_resolution_from_step"]
    )
    assert run.info["plan"]["image_size"] == [64, 64]
    assert keras.saving.load_model(run.path / "best.keras").input_shape == (None, 64, 64, 3)
