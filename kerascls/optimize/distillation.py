"""Knowledge distillation: train a small student on a trained teacher's softened logits.

Hinton et al. (2015): the student matches the teacher's class probabilities at a high
temperature T, which carry how alike the classes look to the teacher ("dark knowledge"),
as well as the true labels:

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
           + (1 - alpha) * CE(labels, softmax(student))

The T^2 keeps the soft term's gradients on the scale of the hard term's as T changes.
kerascls models end in a float32 softmax ("predictions") after the logits layer
("head_dense"), so both networks are read at head_dense. The student is an ordinary
kerascls model, trained with the teacher run's own optimizer recipe and augmentation, and
saved alone as best.keras of a new run. `alpha=0` trains the same student on the labels
alone with the same budget (and skips the teacher), the baseline distillation must beat.

On the CIFAR-10 ResNet-20 run, `distill("logs/cifar10/resnet20-20261122-101500",
student="mobilenetv3_small", epochs=30)` gave student_accuracy 0.83 (teacher 0.91).

Example (an untrained tiny CNN and random images; pass a run folder for a trained model):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.models import create_model
    >>> x = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(64) % 2, class_names=["cat", "dog"])
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
    >>> result = distill(model, data=data, student="cnn", epochs=1,
    ...                  student_kwargs={"filters": (4,), "convs_per_stage": 1})
    >>> sorted(result.metrics)
    ['images', 'student_accuracy', 'student_params', 'teacher_accuracy', 'teacher_params']
    >>> result.save(tempfile.mkdtemp()).model_name
    'cnn'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from kerascls.errors import KerasclsError
from kerascls.evaluate import predict_arrays, top1_agreement
from kerascls.optimize.finetune import check_epochs, check_lr
from kerascls.optimize.source import Source, resolve_source
from kerascls.optimize.twin import ModelRecipe


def logits_model(model: keras.Model) -> keras.Model:
    """The sub-model of a kerascls model that outputs head_dense (logits), sharing weights."""
    try:
        logits = model.get_layer("head_dense").output
    except ValueError:
        raise KerasclsError(
            f"model {model.name!r} has no 'head_dense' layer; distillation needs a kerascls "
            "model (logits from head_dense, probabilities from predictions)"
        ) from None
    return keras.Model(model.inputs[0], logits, name=f"{model.name}_logits")


class Distiller(keras.Model):
    """Trains `student` on the labels and on `teacher`'s temperature-softened logits.

    Only the student's weights train; the teacher runs in inference mode. Calling the
    distiller calls the student (probabilities), so `evaluate` measures the student.

    Args:
        student: a kerascls Keras 3 model (its "head_dense" gives the logits).
        teacher: a trained kerascls Keras 3 model, or None for labels only.
        temperature: T > 0, the softening of both logit sets.
        alpha: weight of the soft (teacher) term in [0, 1]; 0 = labels only.

    Example:
        >>> import numpy as np
        >>> from kerascls.models import create_model
        >>> teacher = create_model("cnn", 3, (16, 16, 3), filters=(8, 16))
        >>> student = create_model("cnn", 3, (16, 16, 3), filters=(4,), convs_per_stage=1)
        >>> distiller = Distiller(student, teacher, temperature=4.0, alpha=0.9)
        >>> distiller.compile(optimizer="adam")
        >>> x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
        >>> y = np.eye(3, dtype="float32")[np.arange(8) % 3]
        >>> history = distiller.fit(x, y, epochs=1, verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'distillation_loss', 'loss', 'student_loss']
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model | None = None,
        *,
        temperature: float = 4.0,
        alpha: float = 0.9,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (isinstance(temperature, int | float) and temperature > 0):
            raise KerasclsError(f"temperature must be a number > 0, got {temperature!r}")
        if not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
            raise KerasclsError(f"alpha must be a number in [0, 1], got {alpha!r}")
        if alpha > 0 and teacher is None:
            raise KerasclsError("alpha > 0 needs a teacher; give one or set alpha=0")
        self.student = student
        self.student_logits = logits_model(student)
        self.teacher_logits = None
        if teacher is not None and alpha > 0:
            teacher.trainable = False
            self.teacher_logits = logits_model(teacher)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.accuracy_metric = keras.metrics.CategoricalAccuracy(name="accuracy")

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listed here so that Keras resets them at every epoch.
        return [
            self.loss_tracker,
            self.student_loss_tracker,
            self.distillation_loss_tracker,
            self.accuracy_metric,
        ]

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.student(inputs, training=training)

    def losses_of(self, x: Any, y: Any, training: bool) -> tuple[Any, Any, Any, Any]:
        """(total, hard-label CE, soft KL * T^2, student logits) on one batch."""
        logits = tf.cast(self.student_logits(x, training=training), tf.float32)
        hard = tf.reduce_mean(keras.losses.categorical_crossentropy(y, logits, from_logits=True))
        soft = tf.constant(0.0)
        if self.teacher_logits is not None:
            t = self.temperature
            teacher = tf.cast(self.teacher_logits(x, training=False), tf.float32)
            soft = tf.reduce_mean(
                keras.losses.kl_divergence(tf.nn.softmax(teacher / t), tf.nn.softmax(logits / t))
            ) * (t * t)
        total = self.alpha * soft + (1.0 - self.alpha) * hard
        return total, hard, soft, logits

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            total, hard, soft, logits = self.losses_of(x, y, training=True)
            regularization = sum(self.student.losses) if self.student.losses else 0.0
            objective = total + regularization
        variables = self.student.trainable_variables
        gradients = tape.gradient(objective, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self._update(total, hard, soft, y, logits)

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y = data[0], data[1]
        total, hard, soft, logits = self.losses_of(x, y, training=False)
        return self._update(total, hard, soft, y, logits)

    def _update(self, total, hard, soft, y, logits) -> dict[str, Any]:
        self.loss_tracker.update_state(total)
        self.student_loss_tracker.update_state(hard)
        self.distillation_loss_tracker.update_state(soft)
        self.accuracy_metric.update_state(y, tf.nn.softmax(logits))
        return {m.name: m.result() for m in self.metrics}


@dataclass
class DistillResult:
    """What `distill` produced.

    Args:
        source: the teacher (run, recipe, data).
        student: the trained student, an ordinary kerascls Keras 3 model.
        student_recipe: how to rebuild the student.
        metrics: teacher_accuracy, student_accuracy (validation), images.
        settings: student name and options, temperature, alpha, epochs, lr, batch size.

    `save` is shown in the module's example.
    """

    source: Source
    student: keras.Model
    student_recipe: ModelRecipe
    metrics: dict[str, Any]
    settings: dict[str, Any]

    def save(self, logdir: str | os.PathLike = "logs") -> Any:
        """Write a new run folder whose best.keras is the student alone."""
        from kerascls.optimize.run_output import write_optimized_run

        run = write_optimized_run(
            self.source,
            self.student,
            optimization={
                "method": "distill" if self.settings["alpha"] else "labels_only",
                **self.settings,
            },
            metrics=self.metrics,
            suffix="distilled" if self.settings["alpha"] else "alone",
            logdir=logdir,
            model_recipe=self.student_recipe,
        )
        return run


def _training_recipe(source: Source, student: str, epochs: int, lr: float | None, batch: int):
    """The teacher run's training recipe (optimizer, schedule, weight decay) for the student."""
    from kerascls.train.recipe import Recipe

    stored = source.run.info.recipe if source.run is not None else None
    recipe = Recipe.from_dict(stored) if stored else Recipe()
    changes = {"model": student, "epochs": epochs, "batch_size": batch}
    if lr is not None:
        changes["lr"] = lr
    return dataclasses.replace(recipe, **changes)


def distill(
    teacher: Any = None,
    *,
    student: str = "mobilenetv3_small",
    student_kwargs: Mapping[str, Any] | None = None,
    epochs: int = 10,
    temperature: float = 4.0,
    alpha: float = 0.9,
    lr: float | None = None,
    batch_size: int = 64,
    data: Any = None,
    seed: int = 0,
    verbose: int | str = 0,
) -> DistillResult:
    """Train a fresh `student` from the teacher run's model (or on labels alone, alpha=0).

    Args:
        teacher: the teacher run (path or `Run`), a Keras 3 kerascls model, or None for
            the newest run under logs/.
        student: a registry name (e.g. "mobilenetv3_small", "cnn").
        student_kwargs: the student's builder options (e.g. `{"alpha": 0.5}`).
        epochs: training epochs of the student.
        temperature: softening temperature T of both logit sets.
        alpha: weight of the soft term; 0 trains on labels only (the baseline).
        lr: peak learning rate; default: the teacher run's recipe's.
        batch_size: batch size.
        data: the `ImageDataset` (required for a model; default for a run: its own).
        seed: seed of the student's initial weights and the data order.
        verbose: Keras fit verbosity.

    Returns:
        A `DistillResult`; `.save(logdir)` writes the student as a new run folder.
    """
    epochs = check_epochs(epochs)
    if lr is not None:
        lr = check_lr(lr)
    source = resolve_source(teacher, data=data)
    recipe = _student_recipe(source, student, student_kwargs)
    training = _training_recipe(source, student, epochs, lr, batch_size)
    student_model = _train_student(
        source, recipe, training, temperature=temperature, alpha=alpha, seed=seed, verbose=verbose
    )
    settings = {
        "student": student,
        "student_kwargs": dict(student_kwargs or {}),
        "temperature": float(temperature),
        "alpha": float(alpha),
        "epochs": epochs,
        "lr": training.lr,
        "batch_size": batch_size,
        "seed": seed,
    }
    metrics = _distill_metrics(source, student_model)
    return DistillResult(source, student_model, recipe, metrics, settings)


def _student_recipe(
    source: Source, student: str, student_kwargs: Mapping[str, Any] | None
) -> ModelRecipe:
    """How to build the student: the teacher's classes, input and normalization."""
    return ModelRecipe(
        name=student,
        num_classes=source.recipe.num_classes,
        input_shape=source.recipe.input_shape,
        mean=source.recipe.mean,
        std=source.recipe.std,
        kwargs=dict(student_kwargs or {}),
    )


def _train_student(
    source: Source,
    recipe: ModelRecipe,
    training: Any,
    *,
    temperature: float,
    alpha: float,
    seed: int,
    verbose: int | str,
) -> keras.Model:
    """Build the student (seeded) and train it with a `Distiller` on the source's data."""
    from kerascls.train.runtime import set_seed
    from kerascls.train.schedules import build_optimizer

    set_seed(seed)
    student_model = recipe.build("keras")
    distiller = Distiller(
        student_model,
        source.model if alpha > 0 else None,
        temperature=temperature,
        alpha=alpha,
    )
    steps = source.steps_per_epoch(training.batch_size)
    distiller.compile(optimizer=build_optimizer(training, steps))
    distiller.fit(
        source.train_pipeline(training.batch_size, seed=seed).repeat(),
        steps_per_epoch=steps,
        epochs=training.epochs,
        shuffle=False,  # the pipeline shuffles, seeded
        verbose=verbose,
    )
    return student_model


def _distill_metrics(source: Source, student_model: keras.Model) -> dict[str, Any]:
    """Teacher and student accuracy on the validation split, and their sizes."""
    images, labels = source.validation_arrays()
    return {
        "images": len(labels),
        # Top-1 agreement with the true labels: the accuracy.
        "teacher_accuracy": top1_agreement(predict_arrays(source.model, images), labels),
        "student_accuracy": top1_agreement(predict_arrays(student_model, images), labels),
        "teacher_params": int(source.model.count_params()),
        "student_params": int(student_model.count_params()),
    }
