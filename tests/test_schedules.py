"""Learning-rate schedules and the optimizer built from a recipe."""

import keras
import numpy as np
import pytest

from kerascls.models import create_model
from kerascls.train.recipe import Recipe
from kerascls.train.schedules import OneCycle, WarmupCosine, build_optimizer, learning_rate


def values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_warmup_cosine_shape():
    schedule = WarmupCosine(0.1, total_steps=100, warmup_steps=10, final_lr=0.001)
    lr = values(schedule, range(101))
    assert lr[0] == 0.0 and lr[5] == pytest.approx(0.05) and lr[10] == pytest.approx(0.1)
    assert lr[55] == pytest.approx(0.001 + 0.5 * 0.099, rel=1e-5)  # cosine half-way
    assert lr[100] == pytest.approx(0.001)
    assert np.all(np.diff(lr[10:]) <= 1e-9), "decays monotonically after the warm-up"


def test_one_cycle_shape():
    schedule = OneCycle(0.4, total_steps=100, pct_start=0.25, initial_div=25, final_div=1e4)
    lr = values(schedule, [0, 25, 100])
    np.testing.assert_allclose(lr, [0.4 / 25, 0.4, 0.4 / 1e4], rtol=1e-3)


def test_step_schedule_from_recipe():
    recipe = Recipe(schedule="step", lr=0.1, step_epochs=(2, 4), step_gamma=0.1, epochs=6)
    schedule = learning_rate(recipe, steps_per_epoch=10)
    np.testing.assert_allclose(
        values(schedule, [0, 19, 20, 39, 40]), [0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-5
    )


def test_schedules_survive_a_keras_round_trip():
    for schedule in (WarmupCosine(0.1, 50, 5), OneCycle(0.2, 50)):
        config = keras.optimizers.schedules.serialize(schedule)
        again = keras.optimizers.schedules.deserialize(config)
        np.testing.assert_allclose(values(again, [0, 7, 49]), values(schedule, [0, 7, 49]))


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_weight_decay_skips_batchnorm_and_biases(name):
    # a CNN's recipe (airbench's scale-free BatchNorm has its biases decayed, as airbench does)
    recipe = Recipe.for_model("cnn", optimizer=name, weight_decay=1e-3, clipnorm=1.0)
    optimizer = build_optimizer(recipe, steps_per_epoch=10)
    model = create_model("cnn", 3, (16, 16, 3), filters=(4,), convs_per_stage=1)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert any(p.endswith("kernel") for p in decayed)
    assert not any(p.endswith(("gamma", "beta", "bias")) for p in decayed)
    assert optimizer.global_clipnorm == 1.0


def test_bf16_support_is_read_from_the_cpu_flags(tmp_path):
    from kerascls.train.runtime import cpu_has_bf16

    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    without.write_text("flags\t\t: fpu avx2 fma\n")
    assert cpu_has_bf16(str(with_bf16)) is True
    assert cpu_has_bf16(str(without)) is False
    assert cpu_has_bf16(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("schedule_name", ["cosine", "onecycle", "triangle"])
def test_every_schedule_follows_a_time_budgets_length(schedule_name):
    # A budgeted run plans its length after a few steps; a schedule that froze the first
    # guess would end the run with the learning rate still high.
    recipe = Recipe(schedule=schedule_name, lr=0.1, epochs=100, warmup_epochs=5)
    total = keras.Variable(100 * 10, dtype="int64", trainable=False)
    schedule = learning_rate(recipe, steps_per_epoch=10, total_steps=total)
    total.assign(40)
    lr = values(schedule, range(41))
    assert lr.max() == pytest.approx(0.1, rel=1e-3), "reaches its peak within the new length"
    assert lr[-1] < 0.01 * 0.1 + 1e-9 or schedule_name == "triangle"
    assert lr[-1] <= 0.07 * 0.1 + 1e-6, "annealed at the re-planned last step"
    assert int(np.argmax(lr)) <= 40 * 0.25 + 1, "warm-up keeps its share of the run"
