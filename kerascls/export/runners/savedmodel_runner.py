"""Runner of a SavedModel folder through its "serving_default" signature.

Folders written by `tf.saved_model.save(model, ...)` and by Keras's
`model.export(path, format="tf_saved_model")` name their input differently ("inputs",
"image", ...), so the names are read from the signature rather than assumed.
"""

from __future__ import annotations

import os

import numpy as np

from kerascls.errors import ModelError
from kerascls.export.runners.base import Runner, first_line
from kerascls.export.runners.keras_runner import limit_tensorflow_threads

SIGNATURE = "serving_default"


class SavedModelRunner(Runner):
    """A TensorFlow SavedModel folder with one image input and one probability output.

    Example:
        >>> import tempfile
        >>> from kerascls.models import create_model
        >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
        >>> folder = tempfile.mkdtemp()
        >>> from kerascls.export.savedmodel import export_savedmodel
        >>> runner = SavedModelRunner(export_savedmodel(model, folder + "/saved_model"))
        >>> runner.predict(np.zeros((4, 16, 16, 3), np.float32)).shape
        (4, 3)
    """

    format = "savedmodel"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__(path, threads)
        import tensorflow as tf

        if threads:
            limit_tensorflow_threads(threads)
        if not (self.path / "saved_model.pb").is_file():
            raise ModelError(
                f"folder {self.path} is not a SavedModel (no saved_model.pb in it); expected "
                "a folder written by tf.saved_model.save or kerascls-export --savedmodel"
            )
        try:
            self._loaded = tf.saved_model.load(str(self.path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise ModelError(f"cannot load SavedModel {self.path}: {first_line(err)}") from None
        signatures = self._loaded.signatures
        if SIGNATURE not in signatures:
            raise ModelError(
                f"SavedModel {self.path} has no {SIGNATURE!r} signature (it has "
                f"{sorted(signatures) or 'none'}); save it with a serving signature"
            )
        self._function = signatures[SIGNATURE]
        _, inputs = self._function.structured_input_signature
        outputs = self._function.structured_outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"SavedModel {self.path} signature {SIGNATURE!r} has inputs {sorted(inputs)} "
                f"and outputs {sorted(outputs)}; a classifier has one of each"
            )
        (self._input_name, spec), (self._output_name, out_spec) = (
            next(iter(inputs.items())),
            next(iter(outputs.items())),
        )
        self._input_dtype = spec.dtype
        self._set_io(tuple(spec.shape), tuple(out_spec.shape))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if self._input_dtype.is_integer:  # a uint8 image input: whole pixel values
            batch = np.clip(np.rint(batch), 0, 255)
        tensor = tf.constant(batch.astype(self._input_dtype.as_numpy_dtype))
        result = self._function(**{self._input_name: tensor})[self._output_name]
        return np.asarray(result, dtype=np.float32)
