"""Classification metrics from predicted probabilities, with scikit-learn as the reference.

Example:
    >>> import numpy as np
    >>> report = evaluate_predictions(
    ...     np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), ["cat", "dog"]
    ... )
    >>> round(report.accuracy, 3)
    0.667
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

from kerascls.evaluate.ranking import top_k_indices
from kerascls.runs.atomic import write_csv_atomic, write_json_atomic


@dataclass
class Report:
    """Metrics of one split: overall figures, one row per class, and the confusion matrix."""

    split: str
    num_examples: int
    accuracy: float
    # None with 5 classes or fewer, where every image is in its top 5 (1.0 says nothing)
    top5_accuracy: float | None
    macro_f1: float
    per_class: list[dict[str, Any]]  # class, precision, recall, f1, support
    confusion_matrix: list[list[int]]  # rows: true class, columns: predicted class
    # Accuracy when each image's probabilities are averaged with its left-right mirror's
    # (flip test-time augmentation, twice the inference); None when not measured. An extra
    # figure: every other field is the model's own, one pass per image, as deployed.
    flip_tta_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """The per-class report as a fixed-width text table."""
        width = max(12, *(len(row["class"]) for row in self.per_class))
        lines = [f"{'class':<{width}} precision  recall      f1  support"]
        for row in self.per_class:
            lines.append(
                f"{row['class']:<{width}} {row['precision']:9.3f} {row['recall']:7.3f} "
                f"{row['f1']:7.3f} {row['support']:8d}"
            )
        top5 = "" if self.top5_accuracy is None else f"  top-5 {self.top5_accuracy:.4f}"
        lines.append(
            f"{self.split}: accuracy {self.accuracy:.4f}{top5}  "
            f"macro-F1 {self.macro_f1:.4f}  ({self.num_examples} images)"
        )
        if self.flip_tta_accuracy is not None:
            lines.append(
                f"{self.split}: accuracy {self.flip_tta_accuracy:.4f} with flip test-time "
                "augmentation (mean of each image and its mirror; not in exported models)"
            )
        return "\n".join(lines)

    def write(self, run_dir: str | os.PathLike) -> None:
        """report.json and classification_report.csv in the run folder, each atomically."""
        run_dir = Path(run_dir)
        write_json_atomic(run_dir / "report.json", self.to_dict())
        fields = ["class", "precision", "recall", "f1", "support"]
        write_csv_atomic(run_dir / "classification_report.csv", self.per_class, fields)


def evaluate_predictions(
    y_true: np.ndarray, y_prob: np.ndarray, class_names: list[str], split: str = "test"
) -> Report:
    """Metrics of integer labels `y_true` against probabilities `y_prob` (N, classes)."""
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob)
    y_pred = y_prob.argmax(axis=1)
    labels = list(range(len(class_names)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    top5 = None
    if len(class_names) > 5:
        top_k = top_k_indices(y_prob, 5)  # the server's ranking, ties in class order
        top5 = float((top_k == y_true[:, None]).any(axis=1).mean())
    per_class = [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]
    return Report(
        split=split,
        num_examples=len(y_true),
        accuracy=float((y_pred == y_true).mean()),
        top5_accuracy=top5,
        macro_f1=float(
            skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        per_class=per_class,
        confusion_matrix=skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )


def traced_model(model):
    """`model` in inference mode behind a tf.function, callable as `f(images, training=False)`.

    `model.predict` sets up its machinery again on every call and a plain `model(x)` runs
    eagerly; the traced graph is built once (twice with a last, smaller batch) and reused.
    """
    import tensorflow as tf

    call = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    return lambda images, training=False: call(images)


def _predict_batches(model: Any, batches: Iterable[Any]) -> np.ndarray:
    """Probabilities of `model` on each batch of images, concatenated: the one loop every
    prediction over arrays or pipelines runs, so all of them trace the model the same way."""
    infer = traced_model(model)
    probabilities = [np.asarray(infer(images)) for images in batches]
    if not probabilities:
        raise ValueError("no images to predict")
    return np.concatenate(probabilities)


def predict_arrays(model: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """float32 probabilities (N, classes) of a model on images (N, H, W, 3), in inference mode.

    Works for Keras 3 and tf_keras models alike (tfmot's quantization-aware and pruned
    models are tf_keras); the model is traced once (`traced_model`), not run eagerly.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> predict_arrays(model, np.zeros((5, 4, 4, 3), np.float32), batch_size=2).shape
        (5, 2)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    return _predict_batches(model, batches).astype(np.float32, copy=False)


def predict_split(model, pipeline, *, mirrored: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predicted probabilities over an evaluation pipeline, in pipeline order.

    With `mirrored=True` the model sees every image flipped left-right instead.
    """
    labels = []

    def images() -> Iterator[Any]:
        for batch_images, batch_labels in pipeline:
            batch_labels = np.asarray(batch_labels)
            labels.append(batch_labels.argmax(axis=1) if batch_labels.ndim == 2 else batch_labels)
            # NHWC: reverse the width axis
            yield batch_images[:, :, ::-1, :] if mirrored else batch_images

    probabilities = _predict_batches(model, images())
    return np.concatenate(labels), probabilities


def top1_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """The fraction of examples whose top-1 classes agree.

    Each argument is probabilities or logits (N, classes), or classes (N,): two models'
    outputs give their agreement (an export against its Keras model), outputs and true
    labels give the accuracy.

    Raises:
        ValueError: different numbers of examples, or none.

    Example:
        >>> keras_probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7]])
        >>> int8_probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.2, 0.8]])
        >>> top1_agreement(keras_probs, int8_probs), top1_agreement(int8_probs, [0, 1, 1])
        (0.6666666666666666, 0.6666666666666666)
    """
    first, second = _top1(first), _top1(second)
    if first.shape != second.shape or first.size == 0:
        raise ValueError(f"cannot compare top-1 classes of {first.shape} and {second.shape}")
    return float(np.mean(first == second))


def _top1(values: Any) -> np.ndarray:
    values = np.asarray(values)
    return values.argmax(axis=-1) if values.ndim == 2 else values


def evaluate_model(
    model, pipeline, class_names: list[str], split: str = "test", *, flip_tta: bool = False
) -> Report:
    """Run `model` over an evaluation pipeline of (images, labels) and compute the report.

    Args:
        model: a Keras model taking the pipeline's images.
        pipeline: (images, labels) batches in a fixed order (an evaluation pipeline).
        class_names: names of the classes, in label order.
        split: the split's name, for the report.
        flip_tta: also measure `Report.flip_tta_accuracy` (a second pass on mirrored
            images). Only meaningful for models trained with horizontal flips.
    """
    y_true, y_prob = predict_split(model, pipeline)
    report = evaluate_predictions(y_true, y_prob, class_names, split=split)
    if flip_tta:
        _, mirrored_prob = predict_split(model, pipeline, mirrored=True)
        averaged = (y_prob + mirrored_prob) / 2
        report.flip_tta_accuracy = float((averaged.argmax(axis=1) == y_true).mean())
    return report
