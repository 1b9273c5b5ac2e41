"""A training callback that puts pictures in TensorBoard: the validation confusion matrix
and Grad-CAM overlays of a fixed set of validation images, every epoch.

Open `tensorboard --logdir logs` and look under Images: each run gets an "images" run
beside "train" and "validation", with a step slider over the epochs. Watching the same
images over the epochs shows where the model's attention moves as it learns.

The images are written to their own event folder (run_dir/images) rather than into
validation/, which Keras' TensorBoard callback writes: TensorBoard's reader is not made for
two writers appending to one folder at once.

Cost: one extra inference pass over the validation data per epoch (for the confusion
matrix; Keras does not hand its validation predictions to callbacks), plus one Grad-CAM
batch and two small figures.

Switch it on with `kerascls-train --tensorboard-images`, or in Python with
`fit(recipe, callbacks=[TensorBoardImages()])` (fit hands it the run folder, the validation
pipeline and the class names); in your own `model.fit`, give it those three yourself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerascls.errors import KerasclsError
from kerascls.viz.confusion import confusion_matrix, plot_confusion_matrix
from kerascls.viz.files import figure_to_array, new_figure
from kerascls.viz.overlay import overlay_heatmap

log = logging.getLogger(__name__)

# Small inputs (CIFAR's 32x32) are enlarged for display so the overlay can be seen.
_DISPLAY_SIZE = 128


def pick_examples(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` examples taken from each class in turn (first ones first),
    so that every class is shown when there are enough classes.

    Example:
        >>> pick_examples(np.array([0, 0, 1, 1, 2]), 4).tolist()
        [0, 2, 4, 1]
    """
    labels = np.asarray(labels)
    per_class = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < count and any(per_class):
        for indices in per_class:
            if indices and len(chosen) < count:
                chosen.append(indices.pop(0))
    return np.array(chosen, dtype=np.int64)


class TensorBoardImages(keras.callbacks.Callback):
    """Log the validation confusion matrix and Grad-CAM overlays to TensorBoard each epoch.

    Args:
        log_dir: the event folder to write, e.g. run_dir / "images"; under kerascls' `fit`,
            None means the run folder's images/.
        validation: a tf.data pipeline of (images, labels) batches in 0-255 pixels, not
            shuffled, labels as indices or one-hot rows; under `fit`, None means the run's
            validation pipeline.
        class_names: names of the classes, in label order; under `fit`, None means the
            run's.
        num_images: how many validation images get a Grad-CAM overlay; they are taken
            once, before the first epoch, from the start of `validation`, one class after
            another.
        method: "gradcam" or "gradcam++".
        layer: the layer to explain; default the last conv layer.
        freq: log every `freq` epochs.

    Example:
        >>> import tempfile
        >>> import tensorflow as tf
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> x = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3)).astype("float32")
        >>> val = tf.data.Dataset.from_tensor_slices((x, np.arange(32) % 2)).batch(16)
        >>> callback = TensorBoardImages(tempfile.mkdtemp() + "/images", val, ["cat", "dog"])
        >>> _ = model.fit(val, validation_data=val, epochs=1, callbacks=[callback], verbose=0)
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        validation: Any = None,
        class_names: Sequence[str] | None = None,
        num_images: int = 8,
        method: str = "gradcam",
        layer: str | None = None,
        freq: int = 1,
    ):
        super().__init__()
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.validation = validation
        self.class_names = None if class_names is None else list(class_names)
        self.num_images = num_images
        self.method = method
        self.layer = layer
        self.freq = max(1, freq)
        self._writer = None
        self._explainer = self._predict = None
        self._images = self._labels = None

    def attach_run(self, run_dir: os.PathLike, validation: Any, class_names: list[str]) -> None:
        """Called by kerascls' `fit` before training: fill in what was left as None."""
        if self.log_dir is None:
            self.log_dir = os.path.join(os.fspath(run_dir), "images")
        if self.validation is None:
            self.validation = validation
        if self.class_names is None:
            self.class_names = list(class_names)

    def _take_examples(self) -> None:
        images, labels = [], []
        for batch_images, batch_labels in self.validation:
            images.append(np.asarray(batch_images))
            labels.append(_as_indices(batch_labels))
            if sum(len(x) for x in labels) >= 16 * self.num_images:
                break  # enough to find every class; do not read the whole split
        images, labels = np.concatenate(images), np.concatenate(labels)
        chosen = pick_examples(labels, self.num_images)
        self._images, self._labels = images[chosen], labels[chosen]

    def on_train_begin(self, logs: dict | None = None) -> None:
        import tensorflow as tf

        from kerascls.evaluate import traced_model
        from kerascls.viz.methods import make_explainer

        if self.log_dir is None or self.validation is None or self.class_names is None:
            raise KerasclsError(
                "TensorBoardImages needs log_dir, validation and class_names; pass them, or "
                "give the callback to kerascls' fit(), which fills them in"
            )
        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._take_examples()
        self._explainer = make_explainer(self.model, self.method, self.layer)
        self._predict = traced_model(self.model)  # traced once, reused every epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.freq:
            return
        import tensorflow as tf

        confusion = self._confusion_image(epoch)
        overlays = self._gradcam_image(epoch)
        with self._writer.as_default(step=epoch):
            tf.summary.image(
                "confusion_matrix",
                confusion[None],
                description="rows: true class, columns: predicted; validation split",
            )
            tf.summary.image(
                f"{self.method}_validation",
                overlays[None],
                description=f"{self.method} of the predicted class on fixed validation images",
            )
        self._writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()

    def _confusion_image(self, epoch: int) -> np.ndarray:
        from kerascls.evaluate import predict_split

        labels, probabilities = predict_split(self._predict, self.validation)
        matrix = confusion_matrix(labels, probabilities.argmax(axis=1), len(self.class_names))
        accuracy = float(np.trace(matrix)) / max(1, int(matrix.sum()))
        figure = plot_confusion_matrix(
            matrix,
            self.class_names,
            f"epoch {epoch + 1}: validation accuracy {accuracy:.4f} ({int(matrix.sum())} images)",
        )
        return figure_to_array(figure)

    def _gradcam_image(self, epoch: int) -> np.ndarray:
        import cv2

        explanation = self._explainer(self._images)
        count = len(self._images)
        columns = min(count, 4)
        rows = -(-count // columns)
        figure = new_figure(2.3 * columns, 2.5 * rows + 0.3)
        for i in range(count):
            image = np.clip(self._images[i], 0, 255).astype(np.uint8)
            scale = max(1, _DISPLAY_SIZE // max(image.shape[:2]))
            if scale > 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            predicted = int(explanation.class_indices[i])
            truth = int(self._labels[i])
            ax = figure.add_subplot(rows, columns, i + 1)
            ax.imshow(overlay_heatmap(image, explanation.heatmaps[i]))
            ax.set_title(
                f"true {self.class_names[truth]}\npred {self.class_names[predicted]} "
                f"({explanation.probabilities[i, predicted]:.2f})",
                fontsize=8,
                color="black" if predicted == truth else "firebrick",
            )
            ax.set_xticks([])
            ax.set_yticks([])
        where = f", layer {explanation.layer}" if explanation.layer else ""
        figure.suptitle(f"epoch {epoch + 1}: {self.method}{where}", fontsize=9)
        return figure_to_array(figure)


def _as_indices(labels: Any) -> np.ndarray:
    labels = np.asarray(labels)
    return labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)
