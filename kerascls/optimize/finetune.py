"""Fine-tuning a tf_keras model (a QAT or pruning wrapper of a kerascls twin) on a Source.

QAT and pruning both start from a trained model and need only a short, gentle schedule:
SGD with momentum 0.9 and a cosine decay from `lr` to zero, on the run's own
augmentation and label smoothing. One function, so that both methods are compared on equal terms.

With `teacher` (the float model before pruning), the targets are the teacher's predicted
probabilities instead of the labels: the fine-tuned model is pulled back towards the
function it started from rather than re-fitting the labels, which is where two epochs of
fine-tuning lose accuracy. On the pruned CIFAR-10 ResNet-20 that cut the loss
(benchmarks/README.md, "Compression").

After fine-tuning, `recalibrate_batch_norm` replaces every BatchNormalization's moving
statistics by their average over many training batches ("precise BN"). kerascls models use
momentum 0.9 (PyTorch's 0.1), so the moving statistics at the end of any fit are an average
of the last ten or so batches only: noise. On the CIFAR-10 ResNet-20, one epoch of
fine-tuning at lr 1e-7, which changes nothing but those statistics, lost accuracy, and
the same weights with statistics averaged over many batches gained it back and more
(benchmarks/README.md, "Compression"). That noise, not the weight updates, was most of
what two epochs of QAT fine-tuning lost.

Example (the tf_keras twin of an untrained tiny CNN, on random images):
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.models import create_model
    >>> from kerascls.optimize.source import resolve_source
    >>> from kerascls.optimize.twin import tf_keras_twin
    >>> x = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
    >>> source = resolve_source(create_model("cnn", 2, (16, 16, 3), filters=(8,)),
    ...                         data=from_arrays(x, np.arange(32) % 2),
    ...                         model_kwargs={"filters": (8,)})
    >>> twin = tf_keras_twin(source.model, source.recipe)
    >>> history = fine_tune(twin, source, epochs=1, lr=1e-3, batch_size=8)
    >>> len(history.history["loss"])
    1
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


BN_RECALIBRATION_IMAGES = 12_800


def batch_norm_layers(model: Any) -> list:
    """The trainable BatchNormalization layers of a tf_keras model, tfmot's wrappers opened.

    `submodules` reaches the layers a QuantizeWrapper or PruneLowMagnitude holds, which
    `model.layers` lists only as the wrapper.
    """
    import tf_keras

    return [
        layer
        for layer in model.submodules
        if isinstance(layer, tf_keras.layers.BatchNormalization) and layer.trainable
    ]


def recalibrate_batch_norm(model: Any, batches: Any) -> int:
    """Set every BatchNormalization's moving mean and variance to its mean over `batches`.

    Each batch runs in training mode with the layer's momentum set to k / (k + 1) for the
    k-th batch, so that the moving averages become plain averages of the batch statistics
    (PyTorch's `momentum=None`); no weight changes. Layers inside tfmot's wrappers are
    found too (`submodules`). In a fake-quant model the activation ranges also move a
    little towards the new statistics, as in any training step.

    Args:
        model: a tf_keras model (plain, QAT or pruning-stripped).
        batches: an iterable of (images, labels) or images, e.g.
            `source.train_pipeline(64).take(200)`: augmented training batches, like the
            ones the statistics were first gathered on.

    Returns:
        How many batches were averaged.

    Example:
        >>> import numpy as np
        >>> import tf_keras
        >>> bn = tf_keras.layers.BatchNormalization()
        >>> model = tf_keras.Sequential([tf_keras.Input((4,)), bn])
        >>> batches = [np.full((8, 4), float(i), np.float32) for i in range(4)]  # means 0..3
        >>> recalibrate_batch_norm(model, batches)
        4
        >>> bn.moving_mean.numpy().round(4).tolist()  # the plain average of 0, 1, 2, 3
        [1.5, 1.5, 1.5, 1.5]
    """
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for batch in batches:
            images = batch[0] if isinstance(batch, tuple | list) else batch
            for layer in layers:
                layer.momentum = count / (count + 1)
            # Eager on purpose: a traced call would freeze the first momentum into the graph.
            model(images, training=True)
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return count


def recalibrate_on_source(model: Any, source: Any, batch_size: int = 64) -> int:
    """`recalibrate_batch_norm` on BN_RECALIBRATION_IMAGES augmented training images.

    Fewer on a training split smaller than that (one pass, no repeat); returns the batches.
    """
    steps = max(1, BN_RECALIBRATION_IMAGES // batch_size)
    return recalibrate_batch_norm(model, source.train_pipeline(batch_size, seed=1).take(steps))


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
