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
    >>> run.info.status, run.info.epochs_completed, (run.path / "best.keras").is_file()
    ('finished', 1, True)
    >>> 0 <= run.info.metrics["validation"].accuracy <= 1  # no test split: validation
    True

`_train` runs the steps of a run in order, each a function below: `_prepare` (data, plan,
run folder, pipelines), `_build` (model, compile, starting weights), `_record`
(run.json), `_fit` (callbacks, `model.fit`) and `_finish` (evaluate best.keras, report).
`resume` (resume.py) runs the same steps on an interrupted run.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kerascls.data import (
    LowResolution,
    balanced_class_weights,
    channel_statistics,
    describe_splits,
    load_cifar10,
    load_image_folder,
    make_pipeline,
    resolve_augment,
)
from kerascls.errors import KerasclsError
from kerascls.evaluate import evaluate_model
from kerascls.models import create_model
from kerascls.models.airbench import init_whitening, takes_whitening
from kerascls.models.saving import global_dtype_policy
from kerascls.runs import (
    InitFrom,
    ModelInfo,
    Normalization,
    Run,
    RunInfo,
    SplitMetrics,
    default_run_name,
    new_run_dir,
    package_versions,
)
from kerascls.train.callbacks import attach_run, build_callbacks
from kerascls.train.cluster import (
    build_for_multiworker,
    cluster_error,
    is_chief,
    worker_folder,
)
from kerascls.train.hparams import log_hparams
from kerascls.train.plan import Plan, plan_run
from kerascls.train.recipe import Recipe
from kerascls.train.resolution import any_size_view, low_resolution_size
from kerascls.train.resume_state import Resumed
from kerascls.train.runtime import make_strategy, mixed_precision_policy, set_seed
from kerascls.train.schedule_callbacks import schedule_callbacks
from kerascls.train.schedules import build_optimizer
from kerascls.train.teacher_targets import with_teacher_targets
from kerascls.train.teachers import train_teachers
from kerascls.train.tracking import MlflowLogger, finish_mlflow_run, start_mlflow_run
from kerascls.train.transfer_learning import init_from_run, prepare_optimizer_for_phases

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
    if recipe.data_dir:
        return load_image_folder(
            recipe.data_dir,
            image_size=recipe.image_size,
            validation_size=recipe.validation_size,
            seed=recipe.validation_seed,
        )
    return load_cifar10(validation_size=recipe.validation_size, seed=recipe.validation_seed)


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
    With `recipe.teachers` (and no `distill_from`), its teachers train first, each a run
    folder of its own (kerascls/train/teachers.py).

    Args:
        recipe: every knob of the run.
        data: an ImageDataset to use instead of loading what the recipe names.
        callbacks: more Keras callbacks, run after kerascls's own.
        verbose: Keras' fit verbosity (1: a progress bar per epoch).
        started: the `time.perf_counter()` a time budget counts from; None: now (the
            command line passes its process's start).

    Returns:
        The finished run (its folder, and run.json as `run.info`, a `RunInfo`).
    """
    started = time.perf_counter() if started is None else started
    if recipe.teachers and not recipe.distill_from:
        recipe.validate()  # a wrong field fails now, not after the teachers' training
        data = data if data is not None else load_data(recipe)
        recipe = train_teachers(recipe, data, callbacks=callbacks, verbose=verbose)
        if recipe.time_budget is None:
            # the run's own time (a small folder's CPU time cap) counts from here; a time
            # budget the user set is the whole command's, so the run gets what is left
            started = time.perf_counter()
    return _train(recipe, None, data, callbacks, verbose, started=started)


@dataclass
class _Prepared:
    """What a run trains on, settled before any model exists (`_prepare`)."""

    recipe: Recipe  # as planned for the data and the machine
    data: Any  # the ImageDataset
    plan: Plan | None  # None: a resumed run (planned when it started)
    data_changes: list[str]  # a resumed run: how its data changed since
    normalization: Normalization | None
    run_dir: Path
    low_resolution: LowResolution | None  # progressive resizing's first phase
    train_ds: Any
    val_ds: Any
    steps: int  # training steps an epoch
    total_steps: Any  # the schedule's length: an int, or the variable a budget sets
    resumed: Resumed | None


def _train(
    recipe: Recipe, resumed: Resumed | None, data, callbacks, verbose, started: float
) -> Run:
    """The steps of a run, new (`fit`) or resumed (`resume`): prepare, build, record, fit,
    finish."""
    recipe.validate()
    # First: a multi-worker strategy must set TensorFlow's collectives up before any op runs.
    strategy = make_strategy(recipe.strategy)
    set_seed(recipe.seed)
    prep = _prepare(recipe, resumed, data, verbose)
    policy = mixed_precision_policy(prep.recipe.mixed_precision)
    # Multi-worker: every worker trains, only the chief writes into the run folder.
    with worker_folder(prep.run_dir) as write_dir:
        try:
            with global_dtype_policy(policy):  # evaluation (_finish) runs in float32 again
                model, sized_model, start_notes = _build(prep, strategy, verbose)
                run = _record(prep, model, start_notes, write_dir)
                history, seconds = _fit(prep, run, model, sized_model, callbacks, verbose, started)
        except _CLUSTER_ERRORS as err:
            if prep.recipe.strategy != "multiworker":
                raise
            raise cluster_error(err) from None
        if write_dir != prep.run_dir:  # a non-chief worker: the chief evaluates and reports
            return Run(path=prep.run_dir, info=run.info)
    return _finish(run, prep.data, history, seconds, verbose)


# --- prepare: data, plan, run folder, pipelines --------------------------------------


def _prepare(recipe: Recipe, resumed: Resumed | None, data, verbose) -> _Prepared:
    """The data and, for a new run, its plan; the run folder; the input pipelines."""
    data = data if data is not None else load_data(recipe)
    if resumed is not None:
        data = _at_trained_size(data, resumed)
    if data.validation is None or len(data.validation) == 0:
        raise KerasclsError(
            "training needs a validation split to pick the best epoch: add a validation/ "
            "folder or set validation_size above 0"
        )
    data_changes = resumed.check_data(data) if resumed else []
    plan = None
    if resumed is None:  # a resumed run's recipe was planned when it started
        plan = plan_run(recipe, data)
        recipe, data = plan.recipe, plan.data
        if verbose != 0 and is_chief():
            print(describe_splits(data))
            print(plan.describe())
    if recipe.distill_from:  # the teachers' targets on the images at the size trained
        policy = mixed_precision_policy(recipe.mixed_precision)  # the run's own precision
        data = with_teacher_targets(
            data, recipe.distill_from, recipe.distill_weight, verbose, policy
        )
    normalization = _normalization(recipe, data, resumed)
    run_dir = resumed.run.path if resumed else _new_run_dir(recipe, data)
    if resumed and is_chief():
        resumed.align_history()
    low_resolution = _low_resolution(recipe, data)
    train_ds, val_ds = _pipelines(recipe, data, low_resolution)
    steps = _steps_per_epoch(train_ds, len(data.train.labels), recipe.batch_size)
    return _Prepared(
        recipe=recipe,
        data=data,
        plan=plan,
        data_changes=data_changes,
        normalization=normalization,
        run_dir=run_dir,
        low_resolution=low_resolution,
        train_ds=train_ds,
        val_ds=val_ds,
        steps=steps,
        total_steps=_total_steps(recipe, resumed, steps),
        resumed=resumed,
    )


def _at_trained_size(data, resumed: Resumed):
    """A resumed run's folder at the size the run trains at: its plan may have chosen a
    smaller one than the photos' own (64x64 on a CPU), which the recipe does not hold."""
    size = tuple(resumed.run.input_shape[:2])
    if data.image_size == size or data.train.paths is None:
        return data
    return data.resized(size, f"{size[0]}x{size[1]}, the size the run trains at")


def _normalization(recipe: Recipe, data, resumed: Resumed | None) -> Normalization | None:
    if not recipe.standardize:
        return None
    if resumed is not None and resumed.run.info.normalization is not None:
        return resumed.run.info.normalization
    mean, std = channel_statistics(data.train)
    return Normalization(mean=np.asarray(mean).tolist(), std=np.asarray(std).tolist())


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


def _low_resolution(recipe: Recipe, data) -> LowResolution | None:
    """The pipeline's low-resolution phase (progressive resizing), or None."""
    if recipe.low_res_scale >= 1:
        return None
    size = low_resolution_size(data.image_size, recipe.low_res_scale)
    return LowResolution(size, tf.Variable(True, trainable=False, name="low_resolution"))


def _pipelines(recipe: Recipe, data, low_resolution: Any = None) -> tuple[Any, Any]:
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


def _steps_per_epoch(train_pipeline, num_train: int, batch_size: int) -> int:
    steps = int(train_pipeline.cardinality())
    # the pipeline keeps the last partial batch
    return steps if steps > 0 else max(-(-num_train // batch_size), 1)


def _total_steps(recipe: Recipe, resumed: Resumed | None, steps: int) -> Any:
    """The schedule's length: fixed, or a variable the time budget sets once it has measured
    the run's speed (a resumed budgeted run keeps the length it had planned)."""
    total_steps: Any = recipe.epochs * steps
    if recipe.time_budget is not None:
        planned = resumed.run.info.planned_steps if resumed else None
        total_steps = keras.Variable(planned or total_steps, dtype="int64", trainable=False)
    return total_steps


# --- build: model, compile, starting weights -----------------------------------------


def _build(prep: _Prepared, strategy, verbose) -> tuple[keras.Model, keras.Model, list[str]]:
    """The compiled model, with its starting weights (a new run), and what was copied.

    `model` is what trains; `sized_model` is the same network at its own input size, which
    checkpoints save (one object unless the run starts at low resolution, when `model`
    takes any size: kerascls/train/resolution.py).
    """
    recipe, data = prep.recipe, prep.data
    model, sized_model = _build_and_compile(
        recipe,
        strategy,
        len(data.class_names),
        (*data.image_size, 3),
        prep.normalization,
        prep.steps,
        prep.total_steps,
    )
    start_notes: list[str] = []
    if prep.resumed is None:
        _init_from_data(model, data.train, recipe.seed)
        # after the data's own init: the learnt weights (whitening too) win
        start_notes = _init_from_run(recipe, model, verbose)
    if recipe.strategy == "multiworker":
        build_for_multiworker(model, strategy, prep.train_ds)
    return model, sized_model, start_notes


def _build_and_compile(
    recipe, strategy, num_classes, input_shape, normalization, steps, total_steps
) -> tuple[keras.Model, keras.Model]:
    """The compiled model that trains, and the same network at its input size (the same
    object, unless the run starts at low resolution)."""
    with strategy.scope():
        kwargs = dict(recipe.model_kwargs)
        if normalization is not None:
            kwargs.update(mean=normalization.mean, std=normalization.std)
        sized_model = create_model(recipe.model, num_classes, input_shape, **kwargs)
        model = sized_model
        if recipe.low_res_scale < 1:
            model = any_size_view(sized_model)
        model.compile(
            optimizer=build_optimizer(recipe, steps, total_steps),
            loss=build_loss(recipe),
            metrics=build_metrics(num_classes),
            steps_per_execution=recipe.steps_per_execution,
        )
        if recipe.fine_tune_switch is not None:  # the optimizer must know every variable
            prepare_optimizer_for_phases(model)
    return model, sized_model


def _init_from_data(model: keras.Model, train, seed: int) -> None:
    """Layers that start from the data: airbench's whitening conv, from 5,000 images."""
    if not takes_whitening(model):
        return
    count = min(len(train), 5000)
    sample = train.subset(np.random.default_rng(seed).permutation(len(train))[:count])
    images = np.concatenate(
        [batch.numpy() for batch, _ in make_pipeline(sample, 500, training=False)]
    )
    init_whitening(model, images)


def _init_from_run(recipe: Recipe, model: keras.Model, verbose) -> list[str]:
    """With `recipe.init_from`: copy the earlier run's weights in, and say what was copied."""
    if not recipe.init_from:
        return []
    notes = init_from_run(model, recipe.init_from)
    if verbose != 0 and is_chief():
        for line in notes:
            print(f"init: {line}")
    return notes


# --- record: run.json ----------------------------------------------------------------


def _record(prep: _Prepared, model: keras.Model, start_notes: list[str], write_dir: Path) -> Run:
    """Write run.json as training starts: what rebuilds and reuses the run (a resumed run
    keeps what it had, and the figures its training adds later)."""
    recipe, data = prep.recipe, prep.data
    info = prep.resumed.run.info.copy() if prep.resumed else RunInfo(created=time.time())
    splits = (("train", data.train), ("validation", data.validation), ("test", data.test))
    info.update(
        status="running",
        model=ModelInfo(name=recipe.model, kwargs=recipe.model_kwargs, params=model.count_params()),
        class_names=list(data.class_names),
        input_shape=[*data.image_size, 3],
        normalization=prep.normalization,
        dataset=data.source,
        split_sizes={name: len(split.labels) for name, split in splits if split is not None},
        recipe=recipe.to_dict(),
        # what mixed_precision came to on this machine ("auto" depends on it)
        dtype_policy=model.dtype_policy.name,
        versions=package_versions(),
    )
    if prep.plan is not None:
        info.plan = prep.plan.to_dict()
    if start_notes:
        info.init_from = InitFrom(run=recipe.init_from, notes=start_notes)
    if prep.data_changes:  # run.json's dataset is now the new data; keep what changed
        info.data_changed_on_resume = prep.data_changes
    run = Run(path=write_dir, info=info)
    run.save()
    return run


# --- fit: callbacks, model.fit -------------------------------------------------------


def _fit(
    prep: _Prepared, run: Run, model, sized_model, callbacks, verbose, started: float
) -> tuple[keras.callbacks.History, float]:
    """Train: kerascls's callbacks, then the tracker's and the caller's; Keras' History and
    the seconds `model.fit` took."""
    recipe, data = prep.recipe, prep.data
    tracking = _start_tracking(recipe, run) if run.path == prep.run_dir else []
    class_weight = None
    if recipe.class_weights:
        class_weight = balanced_class_weights(data.train.labels, len(data.class_names))
    attach_run(callbacks or [], run.path, prep.val_ds, list(data.class_names))
    fit_started = time.perf_counter()
    history = model.fit(
        # a repeating pipeline + steps_per_epoch: the pipeline's length is unknown to
        # Keras (it may drop an undecodable file); this keeps every epoch `steps` long.
        prep.train_ds,
        steps_per_epoch=prep.steps,
        validation_data=prep.val_ds,
        # known length: Keras otherwise warns "ran out of data" after validation
        validation_steps=-(-len(data.validation) // recipe.batch_size),
        # a budgeted run stops itself when its planned steps are done
        epochs=recipe.epochs if recipe.time_budget is None else 100_000,
        callbacks=_callbacks(prep, run, sized_model, started) + tracking + list(callbacks or []),
        class_weight=class_weight,
        shuffle=False,  # the pipeline shuffles, seeded
        verbose=verbose,
    )
    return history, time.perf_counter() - fit_started


def _callbacks(prep: _Prepared, run: Run, sized_model, started: float) -> list:
    """kerascls's own callbacks: the schedule's (progress, phases, budget, resizing,
    lookahead), then checkpoints, history, TensorBoard and backup."""
    return schedule_callbacks(
        prep.recipe,
        run,
        prep.data,
        prep.total_steps,
        prep.steps,
        started,
        done_steps=_epochs_logged(run) * prep.steps,
        low_resolution=prep.low_resolution,
    ) + build_callbacks(
        prep.recipe,
        run.path,
        saved_model=sized_model,
        # from the run folder on every worker: with a different "best" a non-chief would
        # save (and read the variables collectively) on epochs the chief does not, and the
        # cluster would hang
        initial_best=prep.resumed.best_so_far() if prep.resumed else None,
    )


def _start_tracking(recipe: Recipe, run: Run) -> list[keras.callbacks.Callback]:
    """With `recipe.mlflow`: start (or, resumed, reopen) the MLflow run, keep its id in
    run.json, and return the callback that logs each epoch; else nothing."""
    if not recipe.mlflow:
        return []
    experiment = f"kerascls/{dataset_name(recipe)}"
    run.update(mlflow=start_mlflow_run(recipe.mlflow, run.path, run.info, experiment))
    return [MlflowLogger(recipe.mlflow, run.info.mlflow.run_id)]


def _epochs_logged(run: Run) -> int:
    """Epochs the run folder's history.csv holds (0 before the first one ends)."""
    return len(run.history(missing_ok=True).get("epoch", ()))


# --- finish: evaluate best.keras, report ---------------------------------------------


def _finish(run: Run, data, history, train_seconds: float, verbose) -> Run:
    """Fail the run if its loss became NaN; else evaluate it and record the figures."""
    if np.isnan(history.history.get("loss", [0.0])[-1]):
        run.update(status="failed", error="loss became NaN; lower lr or enable clipnorm")
        finish_mlflow_run(run.path, run.info, status="FAILED")
        raise KerasclsError(
            f"training stopped: the loss became NaN (run folder {run.path}); "
            f"lower --lr or set clipnorm in the recipe"
        )
    epochs_done = len(history.epoch) and history.epoch[-1] + 1
    return _evaluate_and_record(
        run, data, epochs_done, history.history.get("val_accuracy", []), train_seconds, verbose
    )


def _evaluate_and_record(
    run: Run, data, epochs_done: int, val_acc: list[float], train_seconds: float, verbose
) -> Run:
    """Evaluate best.keras on the test split (validation when there is none) and record it."""
    split_name, split = (
        ("test", data.test) if data.test is not None else ("validation", data.validation)
    )
    best = run.load_model("best")
    pipeline = make_pipeline(split, 256, training=False, one_hot=False)
    # A model trained on mirrored images also gets the flip-TTA figure (an extra line).
    augment = Recipe.from_dict(run.info.recipe).augment
    flip_tta = resolve_augment(augment).horizontal_flip
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
            split_name: SplitMetrics(
                accuracy=report.accuracy,
                top5_accuracy=report.top5_accuracy,
                macro_f1=report.macro_f1,
                flip_tta_accuracy=report.flip_tta_accuracy,
            )
        },
    )
    log_hparams(run.path, run.info)  # TensorBoard's HParams tab: one row per run
    finish_mlflow_run(run.path, run.info)  # when the recipe asked for MLflow
    return run
