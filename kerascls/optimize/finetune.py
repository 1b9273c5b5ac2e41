"""Fine-tuning a tf_keras model (a QAT or pruning wrapper of a kerascls twin) on a Source.

QAT and pruning both start from a trained model and need only a short, gentle schedule:
SGD with momentum 0.9 and a cosine decay from `lr` to zero, on the run's own
augmentation and label smoothing. One function, so that both methods are compared on equal terms.

With `teacher` (the float model before pruning), the targets are the teacher's predicted
probabilities instead of the labels: the fine-tuned model is pulled back towards the
function it started from rather than re-fitting the labels, which is where two epochs of
fine-tuning lose accuracy. On the CIFAR-10 ResNet-20 at 55% sparsity that cut the loss from
1.24 to 1.06 points (2 epochs), 0.92 after 4.

Example:
    >>> history = fine_tune(qat_model, source, epochs=2, lr=1e-3)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from kerascls.errors import KerasclsError


def check_epochs(epochs: Any) -> int:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise KerasclsError(f"epochs must be an integer >= 1, got {epochs!r}")
    return epochs


def check_lr(lr: Any) -> float:
    if not isinstance(lr, int | float) or not 0 < lr < 10:
        raise KerasclsError(f"lr must be a number in (0, 10), got {lr!r}")
    return float(lr)


def fine_tune(
    model: Any,
    source: Any,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    callbacks: list | None = None,
    verbose: int | str = 0,
    teacher: Any = None,
) -> Any:
    """Compile and fit a tf_keras model on the source's training split; returns the History.

    `teacher`: a tf_keras model whose probabilities replace the labels as targets.
    """
    import tf_keras

    steps = source.steps_per_epoch(batch_size)
    schedule = tf_keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps * epochs)
    if teacher is not None:
        model = _teacher_targets(model, teacher)
    model.compile(
        optimizer=tf_keras.optimizers.SGD(schedule, momentum=0.9),
        # A teacher's probabilities are already soft: smoothing is for one-hot labels.
        loss=tf_keras.losses.CategoricalCrossentropy(
            label_smoothing=0.0 if teacher is not None else source.label_smoothing
        ),
        metrics=["accuracy"],
    )
    return model.fit(
        source.train_pipeline(batch_size).repeat(),
        steps_per_epoch=steps,
        epochs=epochs,
        callbacks=callbacks or [],
        shuffle=False,  # the pipeline shuffles, seeded
        verbose=verbose,
    )


def _teacher_targets(student: Any, teacher: Any) -> Any:
    """A tf_keras model that trains `student` on `teacher`'s probabilities, not the labels.

    Only the student's variables train; tfmot's callbacks find its pruning wrappers inside
    (they search nested models). The labels still feed the accuracy metric.
    """
    import tensorflow as tf
    import tf_keras

    class TeacherTargets(tf_keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.student, self.teacher = student, teacher

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.student(inputs, training=training)

        def train_step(self, data: Any) -> dict[str, Any]:
            x, y = data
            targets = self.teacher(x, training=False)
            with tf.GradientTape() as tape:
                predictions = self.student(x, training=True)
                loss = self.compiled_loss(targets, predictions)
            variables = self.student.trainable_variables
            self.optimizer.apply_gradients(
                zip(tape.gradient(loss, variables), variables, strict=True)
            )
            self.compiled_metrics.update_state(y, predictions)
            return {metric.name: metric.result() for metric in self.metrics}

    return TeacherTargets()
