"""Magnitude pruning: zero the smallest weights, fine-tune, and measure what it saves.

tfmot's `prune_low_magnitude` wraps every Conv2D, DepthwiseConv2D and Dense layer of the
tf_keras twin; a `PolynomialDecay` schedule raises each layer's share of zeroed kernel
weights from 0 to the target over the first three quarters of the fine-tuning, so the last
quarter trains the surviving weights at the final sparsity. The wrappers are then stripped
and the weights copied back into a plain Keras 3 model.

Zeros do not make a dense file smaller; they make it compress. The figures reported are
therefore gzip (level 9) sizes of the model's float32 weight arrays (no optimizer state,
no file headers), before and after, and
of the post-training full-INT8 TFLite file of the pruned model (int8 rounding keeps zeros
zero), so pruning and quantization combine.

On the CIFAR-10 ResNet-20 run, `prune("logs/cifar10/resnet20-20261122-101500",
sparsity=0.5)` reached sparsity 0.5 with a gzip_ratio of 1.9.

Example (an untrained tiny CNN and random images; pass a run folder for a trained model):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.models import create_model
    >>> x = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(64) % 2, class_names=["cat", "dog"])
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
    >>> result = prune(model, data=data, model_kwargs={"filters": (8,)}, sparsity=0.5,
    ...                epochs=1, int8=False)
    >>> round(result.metrics["sparsity"], 1), result.metrics["gzip_ratio"] > 1
    (0.5, True)
    >>> run = result.save(tempfile.mkdtemp())  # best.keras holds the pruned weights
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.evaluate import predict_arrays, top1_agreement
from kerascls.optimize.finetune import (
    check_epochs,
    check_lr,
    fine_tune,
    recalibrate_on_source,
)
from kerascls.optimize.int8_check import convert_and_check
from kerascls.optimize.run_output import Int8Export, write_optimized_run
from kerascls.optimize.source import Source, resolve_source
from kerascls.optimize.twin import keras_model_like, tf_keras_twin

PRUNED_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense")


def check_sparsity(sparsity: Any) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, int | float) or not 0 < sparsity < 1:
        raise KerasclsError(
            f"sparsity must be a fraction strictly between 0 and 1 (e.g. 0.5 for 50%), "
            f"got {sparsity!r}"
        )
    return float(sparsity)


def pruning_schedule(sparsity: float, total_steps: int) -> Any:
    """PolynomialDecay from 0 to `sparsity`, reached at an update step 3/4 of the way in."""
    import tensorflow_model_optimization as tfmot

    frequency = max(1, total_steps // 20)
    # The last mask update must fall on end_step, or the final sparsity is never applied.
    end_step = max(frequency, (int(total_steps * 0.75) // frequency) * frequency)
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=sparsity,
        begin_step=0,
        end_step=end_step,
        frequency=frequency,
    )


def prunable(model: Any, schedule: Any) -> Any:
    """A copy of a tf_keras model with its Conv2D/DepthwiseConv2D/Dense layers wrapped."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    def wrap(layer: Any) -> Any:
        if type(layer).__name__ in PRUNED_LAYERS:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer  # the copy's own layer, weights and all

    # The wrappers take the layers they are given, kernels and all: wrap those of a copy,
    # or the masks would zero `model`'s own weights (self-distillation's teacher).
    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return tf_keras.models.clone_model(copy, clone_function=wrap)


def sparsity_report(model: Any) -> dict[str, Any]:
    """Share of exactly-zero kernel weights per pruned layer type, and over all of them.

    Args:
        model: a Keras 3 or tf_keras model (unwrapped).

    Returns:
        `{"layers": {name: fraction}, "sparsity": zeros / kernel weights of those layers,
        "weights_sparsity": zeros / all weights of the model}`.

    Example:
        >>> from kerascls.models import create_model
        >>> sparsity_report(create_model("cnn", 3, (16, 16, 3)))["sparsity"]
        0.0
    """
    layers, zeros, total = {}, 0, 0
    for layer in model.layers:
        if type(layer).__name__ not in PRUNED_LAYERS:
            continue
        kernel = np.asarray(layer.get_weights()[0])
        layers[layer.name] = round(float(np.mean(kernel == 0)), 4)
        zeros += int(np.sum(kernel == 0))
        total += kernel.size
    all_weights = [np.asarray(w) for w in model.get_weights()]
    all_zeros = sum(int(np.sum(w == 0)) for w in all_weights)
    return {
        "layers": layers,
        "sparsity": zeros / total if total else 0.0,
        "weights_sparsity": all_zeros / sum(w.size for w in all_weights),
    }


def gzip_size(data: bytes | str | os.PathLike) -> int:
    """Bytes of `data` (or of the file at that path) after gzip at level 9."""
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def weights_bytes(model: Any) -> bytes:
    """The model's own weights (no optimizer state), float32, one array after another.

    Not a .weights.h5 file: a compiled, trained model's save_weights also writes the
    optimizer's variables (SGD momentum doubles it), which made sizes before and after
    pruning incomparable. The raw arrays are what any weights file stores, minus headers.
    """
    import numpy as np

    return b"".join(
        np.ascontiguousarray(w, dtype=np.float32).tobytes() for w in model.get_weights()
    )


@dataclass
class PruneResult:
    """What `prune` produced.

    Args:
        source: what was pruned.
        keras_model: the pruned Keras 3 model (wrappers stripped, zeros in its kernels).
        tflite: the post-training full-INT8 TFLite file of the pruned model, or None.
        metrics: float_accuracy, pruned_accuracy, target_sparsity, sparsity,
            weights_sparsity, layers (per-layer sparsity), gzip sizes of the float32
            weights before/after and their ratio, and, with INT8, int8_accuracy,
            int8_bytes, int8_gzip_bytes, top1_agreement and max_prob_diff (vs the pruned
            Keras model).
        settings: the fine-tuning settings, for run.json.

    `save` is shown in the module's example.
    """

    source: Source
    keras_model: Any
    tflite: bytes | None
    metrics: dict[str, Any]
    settings: dict[str, Any]

    def save(self, logdir: str | os.PathLike = "logs") -> Any:
        """Write a new run folder: best.keras (pruned) and, with INT8, exports/model_int8.tflite."""
        percent = round(self.settings["sparsity"] * 100)
        int8 = None
        if self.tflite is not None:
            int8 = Int8Export(
                self.tflite,
                quantization=f"post-training INT8 of a {percent}% pruned model",
                reference="pruned Keras model (float)",
                reference_accuracy="pruned_accuracy",
            )
        return write_optimized_run(
            self.source,
            self.keras_model,
            optimization={"method": "prune", **self.settings},
            metrics=self.metrics,
            suffix=f"pruned{percent}",
            logdir=logdir,
            int8=int8,
        )


def prune(
    run_or_model: Any = None,
    *,
    sparsity: float = 0.5,
    epochs: int = 2,
    lr: float = 1e-3,
    batch_size: int = 64,
    int8: bool = True,
    self_distill: bool = False,
    data: Any = None,
    model_kwargs: Mapping[str, Any] | None = None,
    recalibrate_bn: bool = True,
    verbose: int | str = 0,
) -> PruneResult:
    """Prune a trained model to `sparsity` by weight magnitude while fine-tuning it.

    Args:
        run_or_model: a run folder (path or `Run`), a Keras 3 kerascls model, or None for
            the newest run under logs/.
        sparsity: target fraction of zero weights in every Conv2D, DepthwiseConv2D and
            Dense kernel, strictly between 0 and 1 (0.5-0.8 is the useful range).
        epochs: fine-tuning epochs; the sparsity ramps up over the first 3/4 of them.
        lr: peak learning rate of the cosine schedule (SGD, momentum 0.9).
        batch_size: fine-tuning batch size.
        int8: also convert the pruned model to full-INT8 TFLite (post-training).
        self_distill: fine-tune on the dense model's predicted probabilities instead of
            the labels (see `fine_tune`): it loses less accuracy (benchmarks/README.md,
            "Compression").
        data: the `ImageDataset` (required for a model; default for a run: its own).
        model_kwargs: builder options of a model (not a run) built with non-default ones.
        recalibrate_bn: after fine-tuning, average the BatchNormalization statistics over
            12,800 training images (`recalibrate_batch_norm`).
        verbose: Keras fit verbosity.

    Returns:
        A `PruneResult`; `.save(logdir)` writes it as a new run folder.

    Raises:
        KerasclsError: a sparsity outside (0, 1), a model tf_keras cannot rebuild, no run.
    """
    sparsity = check_sparsity(sparsity)
    epochs, lr = check_epochs(epochs), check_lr(lr)
    source = resolve_source(run_or_model, data=data, model_kwargs=model_kwargs)
    fit = {"epochs": epochs, "lr": lr, "batch_size": batch_size}
    pruned, settings = _fine_tune_pruned(
        source,
        sparsity,
        fit,
        self_distill=self_distill,
        recalibrate_bn=recalibrate_bn,
        verbose=verbose,
    )
    settings["int8"] = "post-training full INT8" if int8 else None
    metrics, tflite = _pruning_checks(source, pruned, sparsity, int8=int8)
    return PruneResult(source, pruned, tflite, metrics, settings)


def _fine_tune_pruned(
    source: Source,
    sparsity: float,
    fit: dict[str, Any],
    *,
    self_distill: bool,
    recalibrate_bn: bool,
    verbose: int | str,
) -> tuple[Any, dict[str, Any]]:
    """Wrap the source's tf_keras twin for pruning, fine-tune it, and strip the wrappers.

    Returns:
        The pruned Keras 3 model and the fine-tuning settings, for run.json.
    """
    import tensorflow_model_optimization as tfmot

    total_steps = source.steps_per_epoch(fit["batch_size"]) * fit["epochs"]
    dense = tf_keras_twin(source.model, source.recipe)
    wrapped = prunable(dense, pruning_schedule(sparsity, total_steps))
    fine_tune(
        wrapped,
        source,
        **fit,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        verbose=verbose,
        teacher=dense if self_distill else None,
    )
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    # On the stripped model: no pruning wrapper runs a training step.
    batch_size = fit["batch_size"]
    recalibrated = recalibrate_on_source(stripped, source, batch_size) if recalibrate_bn else 0
    settings = {
        "sparsity": sparsity,
        "schedule": "PolynomialDecay 0 -> sparsity over the first 3/4 of the steps",
        "layers": list(PRUNED_LAYERS),
        **fit,
        "label_smoothing": 0.0 if self_distill else source.label_smoothing,
        "targets": "the dense model's probabilities" if self_distill else "labels",
        "bn_recalibration_batches": recalibrated,
    }
    return keras_model_like(stripped, source.recipe), settings


def _pruning_checks(
    source: Source, pruned: Any, sparsity: float, *, int8: bool
) -> tuple[dict[str, Any], bytes | None]:
    """The validation figures of `PruneResult`, and with `int8` the pruned INT8 TFLite file."""
    images, labels = source.validation_arrays()
    pruned_probabilities = predict_arrays(pruned, images)
    before = gzip_size(weights_bytes(source.model))
    after = gzip_size(weights_bytes(pruned))
    metrics: dict[str, Any] = {
        "images": len(labels),
        # Top-1 agreement with the true labels: the accuracy.
        "float_accuracy": top1_agreement(predict_arrays(source.model, images), labels),
        "pruned_accuracy": top1_agreement(pruned_probabilities, labels),
        "target_sparsity": sparsity,
        **sparsity_report(pruned),
        "gzip_file": "the float32 weight arrays, concatenated, gzip -9",
        "gzip_bytes_before": before,
        "gzip_bytes_after": after,
        "gzip_ratio": before / after,
    }
    if not int8:
        return metrics, None
    calibration = source.calibration_images(256)
    tflite, checks = convert_and_check(pruned, calibration, pruned_probabilities, images, labels)
    metrics.update(checks, int8_bytes=len(tflite), int8_gzip_bytes=gzip_size(tflite))
    return metrics, tflite
