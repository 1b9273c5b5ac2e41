"""`fit`: from a recipe to a finished, evaluated run folder.

`fit(Recipe(data_dir="photos/"))` trains on an image folder, `fit(Recipe())` on CIFAR-10;
here, a tiny CNN for one epoch on 48 random in-memory images (a few seconds):

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.train import Recipe, fit
    >>> x = np.random.default_rng(0).integers(0, 256, (48, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(48) % 2, class_names=["cat", "dog"], validation_size=16)
    >>> recipe = Recipe(model="cnn", model_kwargs={"filters": (8,), "convs_per_stage": 1},
    ...                 epochs=1, augment="none", logdir=tempfile.mkdtemp())
    >>> run = fit(recipe, data=data, verbose=0)  # a new run folder under recipe.logdir
    >>> run.info["status"], run.info["epochs_completed"], (run.path / "best.keras").is_file()
    ('finished', 1, True)
    >>> 0 <= run.info["metrics"]["validation"]["accuracy"] <= 1  # no test split: validation
    True
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kerascls.errors import KerasclsError
from kerascls.evaluate import evaluate_model
from kerascls.runs import (
    Run,
    default_run_name,
    load_run,
    new_run_dir,
    package_versions,
    write_json_atomic,
    write_text_atomic,
)
from kerascls.train.backup import prepare_resume
from kerascls.train.callbacks import attach_run, build_callbacks
from kerascls.train.cluster import (
    build_for_multiworker,
    cluster_error,
    is_chief,
    worker_folder,
)
from kerascls.train.plan import plan_run
from kerascls.train.recipe import Recipe
from kerascls.train.runtime import make_strategy, mixed_precision_policy, set_seed
from kerascls.train.schedule_callbacks import schedule_callbacks
from kerascls.train.schedules import build_optimizer

log = logging.getLogger(__name__)

# What a collective op raises when a peer worker dies or stops answering.
_CLUSTER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
    tf.errors.InternalError,
)


def load_data(recipe: Recipe):
    """The ImageDataset that the recipe names: an image folder, or CIFAR-10 by download."""
    from kerascls.data import load_cifar10, load_image_folder

    if recipe.data_dir:
        return load_image_folder(
            recipe.data_dir,
            image_size=recipe.image_size,
            validation_size=recipe.validation_size,
            seed=recipe.seed,
        )
    return load_cifar10(validation_size=recipe.validation_size, seed=recipe.seed)


def dataset_name(recipe: Recipe, data: Any = None) -> str:
    """The folder under logs/ that groups runs on the same data: the recipe's data_dir, or
    for data handed to `fit` without one, what that data says it is (arrays, a folder)."""
    if not recipe.data_dir and data is not None:
        source = getattr(data, "source", None) or {}
        if source.get("kind") == "arrays":
            return "arrays"
        if source.get("kind") == "image_folder" and source.get("root"):
            return dataset_name(dataclasses.replace(recipe, data_dir=source["root"]))
    if not recipe.data_dir:
        return "cifar10"
    root = Path(recipe.data_dir).resolve()
    return root.parent.name if root.name in ("train", "training") else root.name


def build_loss(recipe: Recipe) -> keras.losses.Loss:
    """Cross-entropy on one-hot (possibly mixed) labels, or focal loss when focal_gamma > 0."""
    if recipe.focal_gamma > 0:
        return keras.losses.CategoricalFocalCrossentropy(
            gamma=recipe.focal_gamma, label_smoothing=recipe.label_smoothing
        )
    return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)


def build_metrics(num_classes: int) -> list[keras.metrics.Metric]:
    """Accuracy, and top-5 accuracy where it can be below 1 (more than 5 classes)."""
    metrics: list[keras.metrics.Metric] = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
    return metrics


def _low_resolution(recipe: Recipe, data) -> Any:
    """The pipeline's low-resolution phase (progressive resizing), or None."""
    if recipe.low_res_scale >= 1:
        return None
    from kerascls.data import LowResolution
    from kerascls.train.resolution import low_resolution_size

    size = low_resolution_size(data.image_size, recipe.low_res_scale)
    return LowResolution(size, tf.Variable(True, trainable=False, name="low_resolution"))


def _pipelines(recipe: Recipe, data, low_resolution: Any = None) -> tuple[Any, Any]:
    from kerascls.data import make_pipeline

    train = make_pipeline(
        data.train,
        recipe.batch_size,
        training=True,
        augment=recipe.augment,
        seed=recipe.seed,
        one_hot=True,
        oversample=recipe.oversample,
        # repeated here, not by Keras: each batch then knows its epoch (alternating flips)
        repeat=True,
        low_resolution=low_resolution,
    )
    validation = make_pipeline(
        data.validation,
        recipe.batch_size,
        training=False,
        one_hot=True,
    )
    return train, validation


def _normalization(recipe: Recipe, data, resumed: Run | None) -> dict[str, list[float]] | None:
    if not recipe.standardize:
        return None
    if resumed is not None and resumed.info.get("normalization"):
        return resumed.info["normalization"]
    from kerascls.data import channel_statistics

    mean, std = channel_statistics(data.train)
    return {"mean": np.asarray(mean).tolist(), "std": np.asarray(std).tolist()}


def _steps_per_epoch(train_pipeline, num_train: int, batch_size: int) -> int:
    steps = int(train_pipeline.cardinality())
    # the pipeline keeps the last partial batch
    return steps if steps > 0 else max(-(-num_train // batch_size), 1)


def fit(
    recipe: Recipe,
    *,
    data=None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
    started: float | None = None,
) -> Run:
    """Train and evaluate the model that `recipe` describes, in a new run folder.

    Unless `recipe.adapt_to_data` is False, the run first plans itself for the data and
    this machine (kerascls/train/plan.py: image size, batch size, epochs, a time cap).

    Args:
        recipe: every knob of the run.
        data: an ImageDataset to use instead of loading what the recipe names.
        callbacks: more Keras callbacks, run after kerascls's own.
        verbose: Keras' fit verbosity (1: a progress bar per epoch).
        started: the `time.perf_counter()` a time budget counts from; None: now (the
            command line passes its process's start).

    Returns:
        The finished run (its folder, and run.json as `run.info`).
    """
    started = time.perf_counter() if started is None else started
    return _train(recipe, None, data, callbacks, verbose, started=started)


def resume(
    run: str | os.PathLike | None = None,
    *,
    logdir: str | os.PathLike = "logs",
    data=None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> Run:
    """Continue an interrupted run from its last finished epoch, with its own recipe.

    Args:
        run: the run folder; None: the newest run under `logdir`.
        logdir: where to look for the newest run.
        data, callbacks, verbose: as in `fit`.
    """
    resumed = load_run(run, logdir=logdir)
    if resumed.info.get("status") == "finished":
        raise KerasclsError(
            f"run {resumed.path} already finished all its epochs; start a new run "
            f"(without --resume) to train longer"
        )
    # Keras removes backup/ when training ends; a run killed after that, during its final
    # evaluation, has every epoch logged (a time-budgeted run: whatever it had planned)
    recipe = resumed.info["recipe"]
    needed = recipe.get("epochs", 1) if recipe.get("time_budget") is None else 1
    logged = _epochs_in_history(resumed.path)
    trained = logged >= needed and (resumed.path / "best.keras").is_file()
    if not (resumed.path / "backup").is_dir() and trained:
        return _finish_killed_evaluation(resumed, data, verbose)
    if not (resumed.path / "backup").is_dir():
        raise KerasclsError(
            f"run {resumed.path} has no backup/ to resume from (it stopped before its first "
            f"epoch ended); start a new run instead"
        )
    point = prepare_resume(resumed.path / "backup")
    if verbose != 0 and is_chief():
        print(point.describe())
    return _train(
        Recipe.from_dict(resumed.info["recipe"]),
        resumed,
        data,
        callbacks,
        verbose,
        started=time.perf_counter(),
    )


def _train(recipe: Recipe, resumed: Run | None, data, callbacks, verbose, started: float) -> Run:
    recipe.validate()
    # First: a multi-worker strategy must set TensorFlow's collectives up before any op runs.
    strategy = make_strategy(recipe.strategy)
    set_seed(recipe.seed)
    data = data if data is not None else load_data(recipe)
    if data.validation is None or len(data.validation) == 0:
        raise KerasclsError(
            "training needs a validation split to pick the best epoch: add a validation/ "
            "folder or set validation_size above 0"
        )
    data_changes = _check_data(resumed, data) if resumed else []
    plan = None
    if resumed is None:  # a resumed run's recipe was planned when it started
        plan = plan_run(recipe, data)
        recipe, data = plan.recipe, plan.data
        if verbose != 0 and is_chief():
            from kerascls.data import describe_splits

            print(describe_splits(data))
            print(plan.describe())
    num_classes = len(data.class_names)
    input_shape = (*data.image_size, 3)
    normalization = _normalization(recipe, data, resumed)

    run_dir = resumed.path if resumed else _new_run_dir(recipe, data)
    if resumed and is_chief():
        _align_history(run_dir)
    low_resolution = _low_resolution(recipe, data)
    train_ds, val_ds = _pipelines(recipe, data, low_resolution)
    steps = _steps_per_epoch(train_ds, len(data.train.labels), recipe.batch_size)

    # The schedule's length: fixed, or a variable the time budget sets once it has measured
    # the run's speed (a resumed budgeted run keeps the length it had planned).
    total_steps: Any = recipe.epochs * steps
    if recipe.time_budget is not None:
        planned = resumed.info.get("planned_steps") if resumed else None
        total_steps = keras.Variable(planned or total_steps, dtype="int64", trainable=False)
    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(mixed_precision_policy(recipe.mixed_precision))
    # Multi-worker: every worker trains, only the chief writes into run_dir.
    with worker_folder(run_dir) as write_dir:
        try:
            # `model` is what trains; `sized_model` is the same network at its own input
            # size, which checkpoints save (one object unless the run starts at low
            # resolution, when `model` takes any size: kerascls/train/resolution.py)
            model, sized_model = _build_and_compile(
                recipe, strategy, num_classes, input_shape, normalization, steps, total_steps
            )
            start_notes: list[str] = []
            if resumed is None:
                _init_from_data(model, data.train, recipe.seed)
                # after the data's own init: the learnt weights (whitening too) win
                start_notes = _init_from_run(recipe, model, verbose)
            if recipe.strategy == "multiworker":
                build_for_multiworker(model, strategy, train_ds)
            info = _run_info(recipe, data, model, normalization, resumed)
            if plan is not None:
                info["plan"] = plan.to_dict()
            if start_notes:
                info["init_from"] = {"run": recipe.init_from, "notes": start_notes}
            if data_changes:  # run.json's dataset is now the new data; keep what changed
                info["data_changed_on_resume"] = data_changes
            run = Run(path=write_dir, info=info)
            write_json_atomic(write_dir / "run.json", info)
            tracking = _start_tracking(recipe, run) if write_dir == run_dir else []
            class_weight = None
            if recipe.class_weights:
                from kerascls.data import balanced_class_weights

                class_weight = balanced_class_weights(data.train.labels, num_classes)
            attach_run(callbacks or [], write_dir, val_ds, list(data.class_names))
            fit_started = time.perf_counter()
            history = model.fit(
                # a repeating pipeline + steps_per_epoch: the pipeline's length is unknown to
                # Keras (it may drop an undecodable file); this keeps every epoch `steps` long.
                train_ds,
                steps_per_epoch=steps,
                validation_data=val_ds,
                # known length: Keras otherwise warns "ran out of data" after validation
                validation_steps=-(-len(data.validation) // recipe.batch_size),
                # a budgeted run stops itself when its planned steps are done
                epochs=recipe.epochs if recipe.time_budget is None else 100_000,
                callbacks=schedule_callbacks(
                    recipe,
                    run,
                    data,
                    total_steps,
                    steps,
                    started,
                    done_steps=_epochs_in_history(run.path) * steps,
                    low_resolution=low_resolution,
                )
                + build_callbacks(
                    recipe,
                    write_dir,
                    saved_model=sized_model,
                    # from the run folder on every worker: with a different "best" a
                    # non-chief would save (and read the variables collectively) on
                    # epochs the chief does not, and the cluster would hang
                    initial_best=_best_so_far(run_dir) if resumed else None,
                )
                + tracking
                + list(callbacks or []),
                class_weight=class_weight,
                shuffle=False,  # the pipeline shuffles, seeded
                verbose=verbose,
            )
            train_seconds = time.perf_counter() - fit_started
        except _CLUSTER_ERRORS as err:
            if recipe.strategy != "multiworker":
                raise
            raise cluster_error(err) from None
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        if write_dir != run_dir:  # a non-chief worker: the chief evaluates and reports
            return Run(path=run_dir, info=info)

    if np.isnan(history.history.get("loss", [0.0])[-1]):
        run.update(status="failed", error="loss became NaN; lower lr or enable clipnorm")
        from kerascls.train.tracking import finish_mlflow_run

        finish_mlflow_run(run.path, run.info, status="FAILED")
        raise KerasclsError(
            f"training stopped: the loss became NaN (run folder {run_dir}); "
            f"lower --lr or set clipnorm in the recipe"
        )
    return _finish(run, data, history, train_seconds, verbose)


def _new_run_dir(recipe: Recipe, data: Any = None) -> Path:
    """A fresh run folder; for a multi-worker run, the one every worker names the same."""
    name = recipe.run_name or default_run_name(recipe.model)
    if recipe.strategy != "multiworker":
        return new_run_dir(recipe.logdir, dataset_name(recipe, data), name)
    if not recipe.run_name:
        raise KerasclsError(
            "a multi-worker run needs the same --run-name on every worker, so that they "
            "agree on the run folder"
        )
    path = Path(recipe.logdir) / dataset_name(recipe, data) / recipe.run_name
    if is_chief():
        if (path / "run.json").exists():
            raise KerasclsError(
                f"run folder {path} already exists: pass another --run-name, or "
                f"--resume {path} on every worker"
            )
        path.mkdir(parents=True, exist_ok=True)
    return path


def _start_tracking(recipe: Recipe, run: Run) -> list[keras.callbacks.Callback]:
    """With `recipe.mlflow`: start (or, resumed, reopen) the MLflow run, keep its id in
    run.json, and return the callback that logs each epoch; else nothing."""
    if not recipe.mlflow:
        return []
    from kerascls.train.tracking import MlflowLogger, start_mlflow_run

    experiment = f"kerascls/{dataset_name(recipe)}"
    run.update(mlflow=start_mlflow_run(recipe.mlflow, run.path, run.info, experiment))
    return [MlflowLogger(recipe.mlflow, run.info["mlflow"]["run_id"])]


def _check_data(resumed: Run, data) -> list[str]:
    """Warn, in one line, when the data differs from what the run trained on so far
    (the content fingerprints in run.json, kerascls/data/fingerprint.py)."""
    from kerascls.data import describe_changes, recorded_fingerprint

    before = recorded_fingerprint(resumed.info) or None
    changes = describe_changes(before, data.source.get("fingerprint"))
    if changes and is_chief():
        log.warning(
            "the data of run %s changed since it was trained: %s; the resumed run "
            "continues on the data as it is now",
            resumed.path,
            "; ".join(changes),
        )
    return changes


def _epochs_in_history(run_dir: Path) -> int:
    """Epochs a run has finished so far (rows of its history.csv)."""
    try:
        with open(run_dir / "history.csv") as f:
            return max(sum(1 for _ in f) - 1, 0)
    except OSError:
        return 0


def _align_history(run_dir: Path) -> None:
    """Drop history.csv rows past the epoch that backup/ will restore.

    The CSV row of an epoch is written just before its backup; a run killed between the
    two resumes from the epoch before, and would otherwise log that epoch twice."""
    try:
        metadata = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
        restored = int(metadata["epoch"])
        lines = (run_dir / "history.csv").read_text().splitlines(keepends=True)
    except (OSError, KeyError, ValueError, TypeError):
        return
    if len(lines) - 1 > restored:
        write_text_atomic(run_dir / "history.csv", "".join(lines[: restored + 1]))


def _best_so_far(run_dir: Path) -> float | None:
    """The best val_accuracy in history.csv, so a resumed run keeps a better best.keras."""
    import csv

    try:
        with open(run_dir / "history.csv") as f:
            values = [float(row["val_accuracy"]) for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return None
    return max(values, default=None)


def _init_from_data(model: keras.Model, train, seed: int) -> None:
    """Layers that start from the data: airbench's whitening conv, from 5,000 images."""
    from kerascls.models.airbench import init_whitening, takes_whitening

    if not takes_whitening(model):
        return
    from kerascls.data import make_pipeline

    count = min(len(train), 5000)
    sample = train.subset(np.random.default_rng(seed).permutation(len(train))[:count])
    images = np.concatenate(
        [batch.numpy() for batch, _ in make_pipeline(sample, 500, training=False)]
    )
    init_whitening(model, images)


def _build_and_compile(
    recipe, strategy, num_classes, input_shape, normalization, steps, total_steps
) -> tuple[keras.Model, keras.Model]:
    """The compiled model that trains, and the same network at its input size (the same
    object, unless the run starts at low resolution)."""
    from kerascls.models import create_model

    with strategy.scope():
        kwargs = dict(recipe.model_kwargs)
        if normalization:
            kwargs.update(mean=normalization["mean"], std=normalization["std"])
        sized_model = create_model(recipe.model, num_classes, input_shape, **kwargs)
        model = sized_model
        if recipe.low_res_scale < 1:
            from kerascls.train.resolution import any_size_view

            model = any_size_view(sized_model)
        model.compile(
            optimizer=build_optimizer(recipe, steps, total_steps),
            loss=build_loss(recipe),
            metrics=build_metrics(num_classes),
            steps_per_execution=recipe.steps_per_execution,
        )
        if recipe.fine_tune_switch is not None:  # the optimizer must know every variable
            from kerascls.train.transfer_learning import prepare_optimizer_for_phases

            prepare_optimizer_for_phases(model)
    return model, sized_model


def _init_from_run(recipe: Recipe, model: keras.Model, verbose) -> list[str]:
    """With `recipe.init_from`: copy the earlier run's weights in, and say what was copied."""
    if not recipe.init_from:
        return []
    from kerascls.train.transfer_learning import init_from_run

    notes = init_from_run(model, recipe.init_from)
    if verbose != 0 and is_chief():
        for line in notes:
            print(f"init: {line}")
    return notes


def _run_info(recipe, data, model, normalization, resumed) -> dict[str, Any]:
    info = dict(resumed.info) if resumed else {"created": time.time()}
    info.update(
        status="running",
        model={"name": recipe.model, "kwargs": recipe.model_kwargs, "params": model.count_params()},
        class_names=list(data.class_names),
        input_shape=[*data.image_size, 3],
        normalization=normalization,
        dataset=data.source,
        split_sizes={
            name: len(split.labels)
            for name, split in (
                ("train", data.train),
                ("validation", data.validation),
                ("test", data.test),
            )
            if split is not None
        },
        recipe=recipe.to_dict(),
        # what mixed_precision came to on this machine ("auto" depends on it)
        dtype_policy=model.dtype_policy.name,
        versions=package_versions(),
    )
    return info


def _finish(run: Run, data, history, train_seconds: float, verbose) -> Run:
    epochs_done = len(history.epoch) and history.epoch[-1] + 1
    return _evaluate_and_record(
        run, data, epochs_done, history.history.get("val_accuracy", []), train_seconds, verbose
    )


def _finish_killed_evaluation(resumed: Run, data, verbose) -> Run:
    """A run killed after its last epoch, during the final evaluation (Keras had already
    removed backup/): evaluate best.keras now, from the history it logged."""
    import csv

    with open(resumed.path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    if verbose != 0:
        print(f"training of {resumed.path} had ended ({len(rows)} epochs); evaluating best.keras")
    if data is None:
        data = resumed.dataset()  # which warns itself when the data changed
    else:
        _check_data(resumed, data)
    return _evaluate_and_record(
        resumed,
        data,
        len(rows),
        [float(row["val_accuracy"]) for row in rows if row.get("val_accuracy")],
        sum(float(row.get("epoch_seconds") or 0.0) for row in rows),
        verbose,
    )


def _evaluate_and_record(
    run: Run, data, epochs_done: int, val_acc: list[float], train_seconds: float, verbose
) -> Run:
    """Evaluate best.keras on the test split (validation when there is none) and record it."""
    from kerascls.data import make_pipeline, resolve_augment

    split_name, split = (
        ("test", data.test) if data.test is not None else ("validation", data.validation)
    )
    best = run.load_model("best")
    pipeline = make_pipeline(split, 256, training=False, one_hot=False)
    # A model trained on mirrored images also gets the flip-TTA figure (an extra line).
    flip_tta = resolve_augment(run.info["recipe"]["augment"]).horizontal_flip
    report = evaluate_model(best, pipeline, data.class_names, split=split_name, flip_tta=flip_tta)
    report.write(run.path)
    if verbose:
        print(report.table())
    run.update(
        status="finished",
        epochs_completed=epochs_done,
        train_seconds=round(train_seconds, 1),
        best_val_accuracy=max(val_acc) if val_acc else None,
        metrics={
            split_name: {
                "accuracy": report.accuracy,
                "top5_accuracy": report.top5_accuracy,
                "macro_f1": report.macro_f1,
                "flip_tta_accuracy": report.flip_tta_accuracy,
            }
        },
    )
    from kerascls.train.hparams import log_hparams
    from kerascls.train.tracking import finish_mlflow_run

    log_hparams(run.path, run.info)  # TensorBoard's HParams tab: one row per run
    finish_mlflow_run(run.path, run.info)  # when the recipe asked for MLflow
    return run
