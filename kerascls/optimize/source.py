"""What an optimization starts from: a run folder or a model, with its data.

`resolve_source(run_or_model, data=...)` turns either into a `Source`: the trained Keras 3
model, the `ModelRecipe` that rebuilds it (for its tf_keras twin), the data to fine-tune
and evaluate on, and the run it came from (None for a bare model). It also holds the few
data helpers QAT, pruning and distillation share: the training pipeline, calibration
images and the validation arrays.

Example (a bare model and in-memory data; a run folder brings its own data):
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.models import create_model
    >>> from kerascls.optimize.source import resolve_source
    >>> data = from_arrays(np.zeros((20, 16, 16, 3), np.uint8), np.arange(20) % 2, ["cat", "dog"])
    >>> source = resolve_source(create_model("resnet20", 2, (16, 16, 3)), data=data)
    >>> source.recipe.name, source.data.class_names, source.run
    ('resnet20', ('cat', 'dog'), None)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.errors import KerasclsError
from kerascls.optimize.twin import ModelRecipe


@dataclass
class Source:
    """A trained model to optimize and everything needed to fine-tune it.

    Args:
        model: the trained Keras 3 model.
        recipe: how to rebuild it (registry name, shapes, statistics, options).
        data: an `ImageDataset` with train and validation splits.
        run: the run folder it came from, or None.
        augment: augmentation for fine-tuning (the run's recipe's, else "none").
        label_smoothing: the loss's label smoothing (the run's recipe's, else 0). Fine-tuning
            with a different loss than the model was trained with moves it away from its
            optimum (benchmarks/README.md, "Moved from the code").
    """

    model: Any
    recipe: ModelRecipe
    data: Any
    run: Any = None
    augment: Any = "none"
    label_smoothing: float = 0.0

    def train_pipeline(self, batch_size: int, seed: int = 0) -> Any:
        """Shuffled, augmented training batches with one-hot labels."""
        from kerascls.data import make_pipeline

        return make_pipeline(
            self.data.train,
            batch_size,
            training=True,
            augment=self.augment,
            seed=seed,
            one_hot=True,
        )

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(-(-len(self.data.train) // batch_size), 1)

    def validation_arrays(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Validation images (float32, 0-255) and labels, in order; with `limit`, a seeded
        stratified sample of that many (see `kerascls.data.split_arrays`)."""
        from kerascls.data import holdout_split, split_arrays

        return split_arrays(holdout_split(self.data), limit)

    def calibration_images(self, count: int = 256, seed: int = 0) -> np.ndarray:
        """A stratified sample of `count` training images (float32, 0-255): the same
        sampler kerascls-export calibrates with (`kerascls.data.calibration_images`)."""
        from kerascls.data import calibration_images

        return calibration_images(self.data, count, seed)


def resolve_source(
    run_or_model: Any,
    *,
    data: Any = None,
    model_kwargs: Mapping[str, Any] | None = None,
    logdir: str | os.PathLike = "logs",
) -> Source:
    """Open what to optimize: a `Run`, a run folder path, a Keras 3 model, or None (newest run).

    Args:
        run_or_model: a `kerascls.train.Run`, a run folder, a Keras 3 kerascls model, or
            None for the newest run under `logdir`.
        data: an `ImageDataset` with train and validation splits; required for a model,
            optional for a run (default: the run's own dataset, re-opened from run.json).
        model_kwargs: the model's builder options, for a model built with non-default ones
            (a run records its own).
        logdir: where to look for the newest run.

    Raises:
        KerasclsError: no run found, a model given without data, or data without a
            validation split.
    """
    from kerascls.runs import Run, load_run

    if run_or_model is None or isinstance(run_or_model, str | os.PathLike | Path):
        run_or_model = load_run(run_or_model, logdir=logdir)
    if isinstance(run_or_model, Run):
        run = run_or_model
        recipe = ModelRecipe.from_run(run)
        model = run.load_model()
        data = data if data is not None else run.dataset()
        from kerascls.train.recipe import Recipe

        trained = Recipe.from_dict(run.info.recipe) if run.info.recipe else None
        augment = trained.augment if trained else "none"
        label_smoothing = float(trained.label_smoothing) if trained else 0.0
    else:
        if not hasattr(run_or_model, "get_layer"):
            raise KerasclsError(
                f"expected a run folder, a Run or a Keras model; got {type(run_or_model).__name__}"
            )
        run, model, augment, label_smoothing = None, run_or_model, "none", 0.0
        recipe = ModelRecipe.from_model(model, model_kwargs)
        if data is None:
            raise KerasclsError(
                "optimizing a bare model needs its data: pass data=ImageDataset (e.g. from "
                "kerascls.data.from_arrays or load_image_folder), or give a run folder"
            )
    from kerascls.data import holdout_split

    holdout_split(data)  # fail now, not after fine-tuning: the result is measured on it
    return Source(
        model=model,
        recipe=recipe,
        data=data,
        run=run,
        augment=augment,
        label_smoothing=label_smoothing,
    )
