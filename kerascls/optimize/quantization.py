"""Quantization-aware training: fine-tune with fake quantization, export full-INT8 TFLite.

Post-training INT8 quantization rounds a float model's weights and activations after the
fact; quantization-aware training (QAT) lets the weights adapt to the rounding during a
short fine-tuning, which usually recovers most of what post-training quantization loses.

The path: the trained Keras 3 model -> its tf_keras twin (same layers and weights) ->
tfmot's fake-quant model (with kerascls's QuantizeConfigs for standardize, hard-swish and
squeeze-and-excitation) -> a few epochs of fine-tuning -> a full-INT8 TFLite file (int8
input and output) checked against the QAT Keras model on the validation images. The
fine-tuned weights are also copied back into a plain Keras 3 model (same layer order), so
the result is an ordinary run that every kerascls command can use.

On the CIFAR-10 ResNet-20 run, `qat("logs/cifar10/resnet20-20261122-101500", epochs=2)`
gave int8_accuracy 0.912 and top1_agreement 0.995.

Example (an untrained tiny CNN and random images; pass a run folder for a trained model):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.models import create_model
    >>> x = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(64) % 2, class_names=["cat", "dog"])
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
    >>> result = qat(model, data=data, model_kwargs={"filters": (8,)}, epochs=1)
    >>> 0 <= result.metrics["int8_accuracy"] <= 1, result.tflite[4:8]
    (True, b'TFL3')
    >>> run = result.save(tempfile.mkdtemp())  # best.keras and exports/model_int8.tflite
    >>> (run.path / "exports" / "model_int8.tflite").is_file()
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.evaluate import predict_arrays, top1_agreement
from kerascls.optimize.finetune import (
    batch_norm_layers,
    check_epochs,
    check_lr,
    fine_tune,
    recalibrate_on_source,
)
from kerascls.optimize.int8_check import convert_and_check
from kerascls.optimize.run_output import INT8_FILE, Int8Export, write_optimized_run
from kerascls.optimize.source import Source, resolve_source
from kerascls.optimize.twin import ModelRecipe, keras_model_like, tf_keras_twin


def quantize_aware(model: Any, recipe: ModelRecipe | None = None) -> Any:
    """The tf_keras fake-quant (QAT) model of a Keras 3 kerascls model, weights copied.

    Args:
        model: a Keras 3 model from `create_model` or a run.
        recipe: how it was built (default: read off the model, registry default options).

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("se_cnn", 10, (16, 16, 3), filters=(8, 16))
        >>> qat_model = quantize_aware(model, ModelRecipe.from_model(model, {"filters": (8, 16)}))
        >>> type(qat_model.layers[1]).__name__, qat_model.layers[1].name  # doctest: +ELLIPSIS
        ('QuantizeLayer', 'quantize_layer...')
    """
    from kerascls.optimize.quantize_configs import quantize_tf_keras_model

    return quantize_tf_keras_model(tf_keras_twin(model, recipe))


# tfmot 0.8's MovingAverageQuantizer moves each range (1 - decay) of the way to the batch's;
# the decay is a literal inside its __call__, not an attribute that could be read instead.
TFMOT_EMA_DECAY = 0.999


def calibrate_activation_ranges(qat_model: Any, images: np.ndarray, batch_size: int = 64) -> int:
    """Start the fake-quant activation ranges where the images put them, not at [-6, 6].

    tfmot starts every activation range at [-6, 6] and moves it 0.1% of the way to each
    training batch's min/max (EMA decay 0.999, no bias correction). Two fine-tuning epochs
    of CIFAR-10 at batch 64 are 1,400 steps, after which a quarter of every range is still
    that arbitrary start (0.999**1400 = 0.25): a ReLU output still spends codes on the
    negative values it never takes, a small activation a range far too wide for it.
    Post-training quantization has no such handicap, one reason short QAT fell behind it.

    Each batch is run in training mode with BatchNormalization held in inference mode (so
    its statistics do not move); each moving average's batch value b is recovered from two
    successive values (v1 = d*v0 + (1-d)*b), and the variable is set to the mean batch
    value, which is where the moving average settles.

    Args:
        qat_model: a tf_keras model from `quantize_aware`.
        images: float 0-255 images, e.g. `Source.calibration_images(512)`.
        batch_size: the fine-tuning batch size (batch min/max grow with it).

    Returns:
        How many range variables were set.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,))
        >>> qat_model = quantize_aware(model, ModelRecipe.from_model(model, {"filters": (8,)}))
        >>> images = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3))
        >>> calibrate_activation_ranges(qat_model, images.astype("float32"), batch_size=16) > 0
        True
    """
    if len(images) < 2:
        raise KerasclsError("range calibration needs at least 2 images")
    batch_size = min(batch_size, len(images) // 2)  # two batches at least, even on tiny data
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    ranges = moving_average_range_variables(qat_model)
    frozen = batch_norm_layers(qat_model)
    for layer in frozen:
        layer.trainable = False  # tf_keras: a non-trainable BN runs in inference mode
    try:
        previous = [v.numpy().astype(np.float64) for v in ranges]
        totals = [np.zeros_like(value) for value in previous]
        for batch in batches:
            qat_model(batch, training=True)
            current = [v.numpy().astype(np.float64) for v in ranges]
            for total, now, before in zip(totals, current, previous, strict=True):
                total += (now - TFMOT_EMA_DECAY * before) / (1 - TFMOT_EMA_DECAY)
            previous = current
    finally:
        for layer in frozen:
            layer.trainable = True
    for variable, total in zip(ranges, totals, strict=True):
        variable.assign((total / len(batches)).astype(np.float32))
    return len(ranges)


def moving_average_range_variables(qat_model: Any) -> list:
    """The min/max variables of every MovingAverageQuantizer in a tfmot QAT model.

    Weight quantizers (LastValueQuantizer) recompute their range from the weights at each
    step and the input's AllValuesQuantizer keeps a running min/max; only these follow an
    exponential moving average, so only these need a starting point.
    """
    import tensorflow_model_optimization as tfmot

    moving_average = tfmot.quantization.keras.quantizers.MovingAverageQuantizer
    found = []

    def take(quantizer: Any, variables: Any) -> None:
        if isinstance(quantizer, moving_average) and variables:
            found.extend([variables["min_var"], variables["max_var"]])

    for layer in qat_model.layers:
        for activation in getattr(layer, "_quantize_activations", []):
            for name in ("_pre_activation_vars", "_post_activation_vars"):
                take(activation.quantizer, getattr(activation, name, None))
        outputs = getattr(layer, "_output_quantizers", None)
        if outputs:
            take(outputs[0], layer._output_quantizer_vars)
    return found


@dataclass
class QATResult:
    """What `qat` produced.

    Args:
        source: what was quantized (run, recipe, data).
        qat_model: the fine-tuned tf_keras fake-quant model.
        keras_model: a Keras 3 float model holding the fine-tuned weights.
        tflite: the full-INT8 TFLite file (int8 input and output), as bytes.
        metrics: validation figures: float_accuracy (the model before QAT),
            qat_accuracy (fake-quant Keras model), int8_accuracy (the TFLite file),
            finetuned_float_accuracy (keras_model), top1_agreement and max_prob_diff
            (TFLite vs the QAT Keras model), images.
        settings: the fine-tuning settings, for run.json.

    `save` is shown in the module's example.
    """

    source: Source
    qat_model: Any
    keras_model: Any
    tflite: bytes
    metrics: dict[str, float]
    settings: dict[str, Any]

    def save(self, logdir: str | os.PathLike = "logs") -> Any:
        """Write a new run folder: best.keras (float, fine-tuned) and exports/model_int8.tflite."""
        int8 = Int8Export(
            self.tflite,
            quantization="quantization-aware training (tfmot)",
            reference="QAT Keras model (fake quantization)",
            reference_accuracy="qat_accuracy",
        )
        return write_optimized_run(
            self.source,
            self.keras_model,
            optimization={"method": "qat", **self.settings},
            metrics=self.metrics,
            suffix="qat",
            logdir=logdir,
            int8=int8,
        )


def qat(
    run_or_model: Any = None,
    *,
    epochs: int = 2,
    lr: float = 1e-3,
    batch_size: int = 64,
    data: Any = None,
    model_kwargs: Mapping[str, Any] | None = None,
    recalibrate_bn: bool = True,
    verbose: int | str = 0,
) -> QATResult:
    """Quantization-aware fine-tuning of a trained model, and its full-INT8 TFLite file.

    Args:
        run_or_model: a run folder (path or `Run`), a Keras 3 kerascls model, or None for
            the newest run under logs/.
        epochs: fine-tuning epochs (1-5 usually suffice from a trained model).
        lr: peak learning rate of the cosine schedule (SGD, momentum 0.9); about 1/100 of
            the training rate.
        batch_size: fine-tuning batch size.
        data: the `ImageDataset` (required for a model; default for a run: its own).
        model_kwargs: the model's builder options, for a model (not a run) built with
            non-default ones.
        recalibrate_bn: after fine-tuning, average the BatchNormalization statistics over
            12,800 training images (`recalibrate_batch_norm`) instead of keeping the last
            few batches' (better fake-quant accuracy and TFLite agreement on the CIFAR-10
            ResNet-20: benchmarks/README.md, "Compression").
        verbose: Keras fit verbosity.

    Returns:
        A `QATResult`; `.save(logdir)` writes it as a new run folder.

    Raises:
        KerasclsError: a model tf_keras cannot rebuild (transfer models), bad arguments,
            no run found, or a failed conversion.
    """
    epochs, lr = check_epochs(epochs), check_lr(lr)
    source = resolve_source(run_or_model, data=data, model_kwargs=model_kwargs)
    qat_model, settings = _fine_tune_qat(
        source,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        recalibrate_bn=recalibrate_bn,
        verbose=verbose,
    )
    keras_model = keras_model_like(qat_model, source.recipe)
    tflite, metrics = _qat_checks(source, qat_model, keras_model)
    return QATResult(source, qat_model, keras_model, tflite, metrics, settings)


def _fine_tune_qat(
    source: Source,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    recalibrate_bn: bool,
    verbose: int | str,
) -> tuple[Any, dict[str, Any]]:
    """The source's fake-quant model fine-tuned (see `qat`), and its settings for run.json."""
    qat_model = quantize_aware(source.model, source.recipe)
    calibrated = calibrate_activation_ranges(
        qat_model, source.calibration_images(512), batch_size=batch_size
    )
    fine_tune(qat_model, source, epochs=epochs, lr=lr, batch_size=batch_size, verbose=verbose)
    recalibrated = recalibrate_on_source(qat_model, source, batch_size) if recalibrate_bn else 0
    settings = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "label_smoothing": source.label_smoothing,
        "calibrated_ranges": calibrated,
        "bn_recalibration_batches": recalibrated,
        "tflite": INT8_FILE,
    }
    return qat_model, settings


def _qat_checks(source: Source, qat_model: Any, keras_model: Any) -> tuple[bytes, dict[str, Any]]:
    """The full-INT8 TFLite file of `qat_model` and the validation figures of `QATResult`."""
    images, labels = source.validation_arrays()
    reference = predict_arrays(qat_model, images)
    tflite, checks = convert_and_check(
        qat_model, source.calibration_images(128), reference, images, labels
    )
    metrics = {
        "images": len(labels),
        # Top-1 agreement with the true labels: the accuracy.
        "float_accuracy": top1_agreement(predict_arrays(source.model, images), labels),
        "qat_accuracy": top1_agreement(reference, labels),
        "finetuned_float_accuracy": top1_agreement(predict_arrays(keras_model, images), labels),
        **checks,
    }
    return tflite, metrics
