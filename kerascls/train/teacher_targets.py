"""Distillation while training: targets from the averaged predictions of earlier runs.

A run with `Recipe.distill_from` (`--distill-from RUN [RUN ...]`) trains each image towards

    (1 - distill_weight) * its one-hot label + distill_weight * the teachers' mean probabilities

instead of its one-hot label alone (Hinton et al. 2015's soft targets; an ensemble of short
runs as the teacher, as in Allen-Zhu & Li 2020). The teachers' probabilities are computed
once, before training, on the training images as they are decoded (each averaged with its
mirror image, since training flips): the teachers never run inside the training loop,
where on a CPU each one would add about a third of a training step. Label smoothing still
applies on top, as to one-hot labels.

This is distillation to make a run better at its own size (`kerascls-train
--distill-from`); distillation to make a run smaller, with one teacher in the loop and a
temperature, is `kerascls-optimize --distill` (kerascls/optimize/distillation.py).

Each teacher must be a finished kerascls run on the same classes and image size that held
out the same validation images: a teacher that trained on this run's validation images
would carry them into its targets, and the validation accuracy would no longer measure
anything. Teachers of different seeds share a hold-out by default (`validation_seed`).

Example:
    >>> import numpy as np
    >>> mix_targets(np.array([0, 1]), np.array([[0.6, 0.4], [0.5, 0.5]]), weight=0.5)
    array([[0.8 , 0.2 ],
           [0.25, 0.75]], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError

# The source fields that decide which images a dataset holds out for validation.
_HOLD_OUT_KEYS = ("kind", "root", "validation_size", "seed")


def mix_targets(labels: np.ndarray, teacher_probs: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x one-hot(labels) + weight x teacher_probs, float32 rows."""
    one_hot = np.eye(teacher_probs.shape[1], dtype=np.float64)[labels]
    return ((1.0 - weight) * one_hot + weight * teacher_probs).astype(np.float32)


def with_teacher_targets(
    data: Any,
    teachers: Sequence[str],
    weight: float,
    verbose: Any = 1,
    policy: str = "float32",
):
    """`data` whose train split carries the distillation targets of `teachers` (run
    folders), predicted under the dtype policy `policy` (the run's: "mixed_bfloat16"
    where it trains in bf16); the validation and test splits are unchanged."""
    from kerascls.runs import load_run

    runs = [load_run(path) for path in teachers]
    for run in runs:
        _check_teacher(run, data)
    probs = _mean_mirrored_predictions(runs, data.train, policy)
    agreement = float(np.mean(np.argmax(probs, axis=1) == data.train.labels))
    if verbose != 0:
        print(
            f"distillation: {len(runs)} teacher{'s' * (len(runs) > 1)} "
            f"({agreement:.1%} right on the training images), weight {weight:g}"
        )
    targets = mix_targets(data.train.labels, probs, weight)
    return dataclasses.replace(data, train=dataclasses.replace(data.train, soft_targets=targets))


def _check_teacher(run: Any, data: Any) -> None:
    """A clear error for a teacher that cannot teach this run."""
    if run.info.status != "finished":
        raise KerasclsError(
            f"teacher {run.path} has not finished training (status {run.info.status})"
        )
    if list(run.class_names) != list(data.class_names):
        raise KerasclsError(
            f"teacher {run.path} knows the classes {list(run.class_names)}, this data has "
            f"{list(data.class_names)}: distill from runs on the same classes"
        )
    if tuple(run.input_shape[:2]) != tuple(data.image_size):
        raise KerasclsError(
            f"teacher {run.path} takes {run.input_shape[0]}x{run.input_shape[1]} images, "
            f"this run trains at {data.image_size[0]}x{data.image_size[1]}: pass --image-size "
            "or distill from runs at this size"
        )
    theirs = {key: (run.info.dataset or {}).get(key) for key in _HOLD_OUT_KEYS}
    ours = {key: data.source.get(key) for key in _HOLD_OUT_KEYS}
    if theirs != ours:
        raise KerasclsError(
            f"teacher {run.path} held out other validation images ({_describe(theirs)}) "
            f"than this run ({_describe(ours)}), so it trained on some of this run's "
            "validation images: train the teachers on the same data with the same "
            "--validation-size and --validation-seed"
        )


def _describe(hold_out: dict[str, Any]) -> str:
    where = hold_out["root"] or hold_out["kind"]
    return f"{where}, validation size {hold_out['validation_size']}, seed {hold_out['seed']}"


def teacher_model(run: Any, policy: str) -> Any:
    """A run's best model computing under the dtype policy `policy`, as fast as it trained.

    best.keras holds the portable model (stock Keras layers, float32: runs/saving), whose
    exact GELU and unfused BatchNorm run airbench's forward pass 4x slower in bf16 than the
    network the run trained (measured on a Sapphire Rapids core: 1,150 against 4,600
    images/s at batch 1,000). So the network is built again from the registry under
    `policy`, as training builds it, and given the saved weights (the two have the same
    weights in the same order: `portable_model` copies them so). A transfer model (whose
    builder would fetch ImageNet weights) or one whose weights do not line up computes
    under `policy` with best.keras's own layers instead (`in_precision`).
    """
    from kerascls.models import create_model, get_model_info, in_precision
    from kerascls.models.saving import global_dtype_policy

    saved = run.load_model()
    if policy == "float32" or get_model_info(run.model_name).family == "transfer":
        return in_precision(saved, policy)
    kwargs = dict(run.info.model.kwargs or {}) if run.info.model else {}
    if run.info.normalization is not None:
        kwargs.update(mean=run.info.normalization.mean, std=run.info.normalization.std)
    with global_dtype_policy(policy):
        model = create_model(run.model_name, len(run.class_names), run.input_shape, **kwargs)
    try:
        model.set_weights(saved.get_weights())
    except ValueError:  # built otherwise than it was saved: its own layers, in `policy`
        return in_precision(saved, policy)
    return model


def _mean_mirrored_predictions(runs: Sequence[Any], split: Any, policy: str) -> np.ndarray:
    """The mean of the runs' best models' probabilities on each image of `split` and on
    its mirror image, in the split's order. One pass over the split: each batch is
    decoded once and given to every teacher, each a compiled function computing under
    `policy` (`teacher_model`)."""
    import tensorflow as tf

    from kerascls.data import make_pipeline

    models = [teacher_model(run, policy) for run in runs]
    predict = [tf.function(model, reduce_retracing=True) for model in models]
    total = np.zeros((len(split), split.num_classes), np.float64)
    start = 0
    for images, _ in make_pipeline(split, 500, training=False, one_hot=True, cache=False):
        both = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
        n = int(images.shape[0])
        for teacher in predict:
            probs = np.asarray(teacher(both, training=False), np.float64)
            total[start : start + n] += (probs[:n] + probs[n:]) / (2 * len(models))
        start += n
    if start != len(split):  # an image that no longer decodes would shift every row
        raise KerasclsError(
            f"{len(split) - start} training images failed to decode while the teachers "
            "predicted them; remove them and start again"
        )
    return total
