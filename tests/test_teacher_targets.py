"""Distillation while training (`--distill-from`): the teachers' targets, the pipeline
that carries them, a run trained on them, and the teachers that cannot teach."""

import argparse

import numpy as np
import pytest
from helpers import colour_recipe, copy_run

from kerascls.data import make_pipeline
from kerascls.errors import KerasclsError
from kerascls.train import Recipe, fit
from kerascls.train.fit import load_data
from kerascls.train.teacher_targets import mix_targets, with_teacher_targets


def student_recipe(colour_folder, tmp_path, **fields):
    """A tiny run on the teacher's folder with the teacher's hold-out (20%, seed 0)."""
    return colour_recipe(colour_folder, tmp_path, **{"run_name": "student", **fields})


def test_targets_mix_labels_with_the_teachers_mirrored_probabilities(
    tiny_run, colour_folder, tmp_path
):
    data = load_data(student_recipe(colour_folder, tmp_path))
    second = copy_run(tiny_run, tmp_path / "second")  # two teachers: the mean of both
    taught = with_teacher_targets(data, [str(tiny_run.path), str(second.path)], 0.3, verbose=0)
    targets = taught.train.soft_targets
    assert targets.shape == (len(data.train), 3) and targets.dtype == np.float32
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-5)

    # Recomputed here, from the pixels: the model on each image and on its mirror.
    model = tiny_run.load_model()
    images = np.concatenate([b[0].numpy() for b in make_pipeline(data.train, 64, training=False)])
    probs = (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)) / 2
    expected = 0.7 * np.eye(3)[data.train.labels] + 0.3 * probs
    np.testing.assert_allclose(targets, expected, atol=1e-4)
    assert taught.validation is data.validation  # only the training targets change


def test_the_training_pipeline_yields_each_images_target(colour_folder, tmp_path):
    data = load_data(student_recipe(colour_folder, tmp_path))
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), len(data.train))
    targets = mix_targets(data.train.labels, probs, 0.5)
    split = data.train.subset(np.arange(len(data.train)))
    split = type(split)(**{**split.__dict__, "soft_targets": targets})
    rows = np.concatenate(
        [b[1].numpy() for b in make_pipeline(split, 16, training=True, one_hot=True, seed=3)]
    )
    assert rows.shape == targets.shape  # shuffled, every image once, with its own row
    np.testing.assert_allclose(rows[np.lexsort(rows.T)], targets[np.lexsort(targets.T)], atol=1e-6)
    labels = np.concatenate([b[1].numpy() for b in make_pipeline(split, 16, training=False)])
    np.testing.assert_array_equal(labels, data.train.labels)  # without one_hot: the classes
    with pytest.raises(ValueError, match="cannot be oversampled"):
        make_pipeline(split, 16, training=True, one_hot=True, oversample=True)


def test_a_run_trains_on_its_teachers_targets_and_records_them(tiny_run, colour_folder, tmp_path):
    recipe = student_recipe(colour_folder, tmp_path, distill_from=(str(tiny_run.path),))
    run = fit(recipe, verbose=0)
    assert run.info.status == "finished"
    assert list(run.info.recipe["distill_from"]) == [str(tiny_run.path)]
    assert Recipe.from_dict(run.info.recipe).distill_from == (str(tiny_run.path),)
    assert run.info.metrics["validation"].accuracy > 0.5  # three colours: learned


def test_teachers_that_cannot_teach_are_refused_clearly(tiny_run, colour_folder, tmp_path):
    other_hold_out = load_data(student_recipe(colour_folder, tmp_path, validation_seed=5))
    with pytest.raises(KerasclsError, match=r"held out other validation images.*--validation-seed"):
        with_teacher_targets(other_hold_out, [str(tiny_run.path)], 0.5, verbose=0)
    resized = load_data(student_recipe(colour_folder, tmp_path, image_size=(8, 8)))
    with pytest.raises(KerasclsError, match="takes 16x16 images, this run trains at 8x8"):
        with_teacher_targets(resized, [str(tiny_run.path)], 0.5, verbose=0)
    with pytest.raises(KerasclsError, match="oversample"):
        student_recipe(colour_folder, tmp_path, distill_from=("x",), oversample=True).validate()
    with pytest.raises(KerasclsError, match=r"distill_weight .* \(0, 1\]"):
        student_recipe(colour_folder, tmp_path, distill_weight=0).validate()


def test_the_flag_names_teachers_by_absolute_path(tmp_path, monkeypatch):
    from kerascls.cli.train import add_training_flags, recipe_from_flags

    parser = argparse.ArgumentParser()
    add_training_flags(parser, None)
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(["--distill-from", "logs/a", "logs/b", "--distill-weight", "0.7"])
    recipe = recipe_from_flags(args)
    assert recipe.distill_from == (str(tmp_path / "logs/a"), str(tmp_path / "logs/b"))
    assert recipe.distill_weight == 0.7
