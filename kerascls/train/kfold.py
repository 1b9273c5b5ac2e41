"""k-fold cross-validation: one ordinary run per fold under one parent folder.

`kerascls-train --folds 5` pools the training and validation images, cuts them into 5
stratified folds (kerascls.data.kfold) and trains the recipe once per fold, validating on
the fold held out. Each fold is a complete run folder (viz, export and --resume accept
it); the parent folder adds:

    cv.json                 per-fold accuracy and macro-F1 on the held-out fold, mean and std
    oof_predictions.csv     every pooled image once: its fold, true and predicted class,
                            and the probabilities of the fold's best model

The held-out fold also picks each run's best epoch, so the figures lean a little
optimistic, as in any k-fold model selection; a test/ folder, when there is one, is still
evaluated by every fold run at its end.

`cross_validate(Recipe.preset("fast", data_dir="photos"), folds=5)` is the real thing;
here, 2 folds of a tiny CNN, one epoch each, on 32 random in-memory images:

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> x = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(32) % 2, class_names=["cat", "dog"])
    >>> recipe = Recipe(model="cnn", model_kwargs={"filters": (8,)}, epochs=1,
    ...                 augment="none", logdir=tempfile.mkdtemp())
    >>> cv = cross_validate(recipe, folds=2, data=data, verbose=0)
    >>> print(cv.summary())  # doctest: +ELLIPSIS
    2-fold cross-validation: accuracy ... ± ..., macro-F1 ... ± ...
    >>> sorted(path.name for path in cv.path.iterdir())
    ['cv.json', 'fold-1', 'fold-2', 'oof_predictions.csv']
"""

from __future__ import annotations

import csv
import dataclasses
import io
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascls.errors import KerasclsError
from kerascls.runs import (
    Run,
    default_run_name,
    new_run_dir,
    write_json_atomic,
    write_text_atomic,
)
from kerascls.train.fit import dataset_name, fit, load_data
from kerascls.train.recipe import Recipe


@dataclass
class CrossValidation:
    """The folds' runs and their scores on the folds they did not train on."""

    path: Path
    runs: list[Run]
    accuracy: list[float]
    macro_f1: list[float]

    def summary(self) -> str:
        return (
            f"{len(self.runs)}-fold cross-validation: accuracy {_mean_std(self.accuracy)}, "
            f"macro-F1 {_mean_std(self.macro_f1)}"
        )


def cross_validate(
    recipe: Recipe, folds: int = 5, *, data: Any = None, verbose: int | str = "auto"
) -> CrossValidation:
    """Train `recipe` on each of `folds` stratified folds; score each on its held-out fold.

    Args:
        recipe: the recipe of every fold run (its run_name names the parent folder).
        folds: number of folds (at least 2; every class needs that many images).
        data: an ImageDataset instead of what the recipe names.
        verbose: as in `fit`.

    Returns:
        A `CrossValidation`; cv.json and oof_predictions.csv are in its folder.
    """
    from kerascls.data import make_pipeline
    from kerascls.data.kfold import kfold_dataset
    from kerascls.evaluate import evaluate_predictions
    from kerascls.evaluate.metrics import predict_split

    if recipe.teachers and not recipe.distill_from:
        raise KerasclsError(
            "cross-validation with --teachers would train teachers on each fold's images; "
            "drop --teachers, or --folds"
        )
    data = data if data is not None else load_data(recipe)
    kfold_dataset(data, folds, 0, recipe.seed)  # a class too small for the folds fails now
    name = recipe.run_name or f"cv{folds}-{default_run_name(recipe.model)}"
    parent = new_run_dir(recipe.logdir, dataset_name(recipe, data), name)
    runs, scores, rows = [], [], []
    for index in range(folds):
        fold = kfold_dataset(data, folds, index, recipe.seed)
        if verbose != 0:
            print(f"\n=== fold {index + 1} of {folds} ===")
        run_name = f"{parent.name}/fold-{index + 1}"
        run = fit(dataclasses.replace(recipe, run_name=run_name), data=fold, verbose=verbose)
        pipeline = make_pipeline(fold.validation, recipe.batch_size, training=False)
        labels, probabilities = predict_split(run.load_model("best"), pipeline)
        report = evaluate_predictions(labels, probabilities, list(data.class_names))
        runs.append(run)
        scores.append({"fold": index + 1, "run": str(run.path), **_scores(report)})
        names = fold.validation.paths if fold.validation.paths is not None else None
        for i, (label, probs) in enumerate(zip(labels, probabilities, strict=True)):
            rows.append((index + 1, names[i] if names is not None else i, label, probs))
    cv = CrossValidation(
        path=parent,
        runs=runs,
        accuracy=[s["accuracy"] for s in scores],
        macro_f1=[s["macro_f1"] for s in scores],
    )
    write_json_atomic(
        parent / "cv.json",
        {
            "folds": folds,
            "seed": recipe.seed,
            "recipe": recipe.to_dict(),
            "per_fold": scores,
            "accuracy": _stats(cv.accuracy),
            "macro_f1": _stats(cv.macro_f1),
        },
    )
    _write_oof(parent / "oof_predictions.csv", rows, list(data.class_names))
    if verbose != 0:
        print(f"\n{cv.summary()}\nfolds and out-of-fold predictions: {parent}")
    return cv


def _scores(report) -> dict[str, float]:
    return {"accuracy": report.accuracy, "macro_f1": report.macro_f1}


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values)}


def _mean_std(values: list[float]) -> str:
    stats = _stats(values)
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def _write_oof(path: Path, rows: list, class_names: list[str]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["fold", "image", "true", "predicted", *class_names])
    for fold, image, label, probs in rows:
        predicted = class_names[int(probs.argmax())]
        cells = [f"{p:.6f}" for p in probs]
        writer.writerow([fold, image, class_names[int(label)], predicted, *cells])
    write_text_atomic(path, text.getvalue())
