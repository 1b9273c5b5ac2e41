"""Fine-tuning a tf_keras model (a QAT or pruning wrapper of a kerascls twin) on a Source.

QAT and pruning both start from a trained model and need only a short, gentle schedule:
SGD with momentum 0.9 and a cosine decay from `lr` to zero, on the run's own
augmentation and label smoothing. One function, so that both methods are compared on equal terms.

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
) -> Any:
    """Compile and fit a tf_keras model on the source's training split; returns the History."""
    import tf_keras

    steps = source.steps_per_epoch(batch_size)
    schedule = tf_keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps * epochs)
    model.compile(
        optimizer=tf_keras.optimizers.SGD(schedule, momentum=0.9),
        loss=tf_keras.losses.CategoricalCrossentropy(label_smoothing=source.label_smoothing),
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
