"""Runner of a .keras file: the model behind one traced tf.function, never `predict`.

`model.predict` sets up its machinery on every call (many times what a traced function
takes for one ResNet-20 image on a CPU), which would swamp batch-1 latency.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from kerascls.export.runners.base import Runner

logger = logging.getLogger(__name__)


class KerasRunner(Runner):
    """A .keras model file, loaded with Keras safe mode on.

    Example:
        >>> import tempfile
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
        >>> folder = tempfile.mkdtemp()
        >>> model.save(folder + "/best.keras")
        >>> runner = KerasRunner(folder + "/best.keras")
        >>> runner.predict_one(np.zeros((16, 16, 3), np.float32)).shape
        (3,)
    """

    format = "keras"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__(path, threads)
        import tensorflow as tf

        from kerascls.models import load_model

        if threads:
            limit_tensorflow_threads(threads)
        model = load_model(self.path, compile=False)
        self.model = model
        self._set_io(tuple(model.inputs[0].shape), tuple(model.outputs[0].shape))
        # One trace serves every batch size: the signature leaves the batch dimension open.
        signature = tf.TensorSpec((None, *self.input_size, 3), tf.float32)
        self._call = tf.function(
            lambda images: tf.cast(model(images, training=False), tf.float32),
            input_signature=[signature],
        )

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._call(batch).numpy()


def limit_tensorflow_threads(threads: int) -> None:
    """Ask TensorFlow for `threads` intra-op threads.

    TensorFlow fixes its thread pools when it first runs an op, so this works only before
    that; commands call it first thing. Later it warns (once the pools differ) instead.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            logger.warning(
                "TensorFlow is already running in this process with its own thread pools; "
                "threads=%d does not apply to Keras/SavedModel models here",
                threads,
            )
