"""Starting a run from learnt weights: an earlier run's, or ImageNet's, then fine-tuning.

Three ways in, one idea:

- `--init-from RUN`: `init_from_run` copies an earlier kerascls run's best.keras into the
  new model, layer by layer, matched by name, wherever every weight's shape fits. The
  head starts fresh when the classes differ, and "standardize" keeps the new data's
  statistics. `source_model_of` says which model (and kwargs) to build so that they fit.
- `--pretrained [BACKBONE]`: `pretrained_model` names the registered `transfer_*` model of
  a keras.applications backbone (ImageNet weights, downloaded once; offline, the error
  names the file and the folder to put it in: `kerascls.models.transfer`).
- Two-phase fine-tuning inside ONE `model.fit` (the run's checkpoints, time budget and
  resume are built around a single fit): `FineTunePhases` trains the head on a frozen
  backbone, then unfreezes the backbone's top layers (BatchNorm kept frozen, so in
  inference mode) at `lr_factor` times the learning rate. `prepare_optimizer_for_phases`
  must run first, after compile: Keras 3 optimizers refuse variables they were not built
  with, so the optimizer is built with every variable that may ever train.

Example:
    >>> pretrained_model(), pretrained_model("ResNet50")
    ('transfer_mobilenetv3small', 'transfer_resnet50')
    >>> FineTunePhases(switch_fraction=0.3, total_steps=100).switch_step()
    30
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras

from kerascls.errors import KerasclsError
from kerascls.models import get_model_info, list_models, unfreeze_top_layers
from kerascls.models.transfer import backbone_of
from kerascls.runs import RUN_FILE, Run, load_run

log = logging.getLogger(__name__)

# what --pretrained alone starts from: the cheapest backbone on a CPU
DEFAULT_BACKBONE = "mobilenetv3small"
# layers that are measured on the data, not learnt: they keep the new run's values
DATA_LAYERS = ("standardize",)
_MAX_LISTED = 5  # fresh layers named one by one in the notes; the rest are counted


# --- --pretrained -------------------------------------------------------------------------


def pretrained_backbones() -> dict[str, str]:
    """backbone -> registered transfer model, read from the registry's `transfer` family."""
    return {
        get_model_info(name).default_kwargs["backbone"]: name
        for name in list_models()
        if get_model_info(name).family == "transfer"
    }


def pretrained_model(backbone: str | None = None) -> str:
    """The registered model that starts from `backbone`'s ImageNet weights.

    Args:
        backbone: "mobilenetv3small", "efficientnetb0" or "resnet50" (any case; "-", "_"
            and a "transfer_" prefix are ignored); None: `DEFAULT_BACKBONE`.

    Raises:
        KerasclsError: an unknown backbone (the message lists the choices).

    Example:
        >>> pretrained_model("efficientnet-b0")
        'transfer_efficientnetb0'
    """
    choices = pretrained_backbones()
    key = (backbone or DEFAULT_BACKBONE).lower().replace("-", "").replace("_", "")
    key = key.removeprefix("transfer")
    if key not in choices:
        raise KerasclsError(
            f"--pretrained {backbone!r} is not a backbone with ImageNet weights: choose one "
            f"of {', '.join(sorted(choices))}"
        )
    return choices[key]


# --- --init-from --------------------------------------------------------------------------


def _open_run(run_dir: str | os.PathLike) -> Run:
    path = Path(run_dir)
    if not path.exists():
        raise KerasclsError(
            f"--init-from {path}: no such run folder; pass a folder a kerascls run wrote, "
            f"e.g. logs/<dataset>/<model>-<time>"
        )
    if not (path / RUN_FILE).is_file() and path.name != RUN_FILE:
        raise KerasclsError(
            f"--init-from {path}: not a kerascls run folder (no {RUN_FILE}); pass a folder a "
            f"training run wrote, e.g. logs/<dataset>/<model>-<time>"
        )
    return load_run(path)


def source_model_of(run_dir: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """The model name and kwargs an `--init-from` run should build so the weights fit.

    A transfer model is rebuilt with `weights=None`: its backbone's weights come from the
    run, so nothing is downloaded.

    Example:
        >>> source_model_of("no/such/run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        kerascls.errors.KerasclsError: --init-from no/such/run: no such run folder; ...
    """
    run = _open_run(run_dir)
    model = run.info.model
    name, kwargs = (model.name, dict(model.kwargs or {})) if model else (None, {})
    if not name:
        raise KerasclsError(f"{run.path / RUN_FILE} names no model; pass --model explicitly")
    if name in list_models() and get_model_info(name).family == "transfer":
        kwargs["weights"] = None
    return name, kwargs


def _layer_pairs(target: Any, source: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, target layer, source layer of that name or None), into nested models too."""
    by_name = {layer.name: layer for layer in source.layers} if source is not None else {}
    for layer in target.layers:
        match = by_name.get(layer.name)
        path = prefix + layer.name
        if isinstance(layer, keras.Model) and isinstance(match, keras.Model):
            yield from _layer_pairs(layer, match, path + "/")
        elif layer.weights or layer.name in DATA_LAYERS:
            yield path, layer, match


def _mismatch(layer: Any, source: Any) -> str | None:
    """Why `source`'s weights cannot go into `layer`, or None when they fit."""
    if source is None:
        return "not in the earlier run"
    if len(layer.weights) != len(source.weights):
        return f"{len(source.weights)} weights there, {len(layer.weights)} here"
    for mine, theirs in zip(layer.weights, source.weights, strict=True):
        if tuple(mine.shape) != tuple(theirs.shape):
            return f"{mine.name} {tuple(theirs.shape)} -> {tuple(mine.shape)}"
    return None


def _copy_weights(model: Any, source: Any) -> tuple[int, list[str], list[str]]:
    """Copy every layer whose weights fit; (copied, fresh-layer notes, kept data layers)."""
    copied, fresh, kept = 0, [], []
    for path, layer, match in _layer_pairs(model, source):
        if layer.name in DATA_LAYERS:
            kept.append(path)  # measured on this run's data (fit.py), not learnt
            continue
        reason = _mismatch(layer, match)
        if reason is None:
            layer.set_weights(match.get_weights())
            copied += 1
        else:
            fresh.append(f"{path} starts fresh ({reason})")
    return copied, fresh, kept


def init_from_run(model: Any, run_dir: str | os.PathLike) -> list[str]:
    """Copy an earlier run's learnt weights into `model`, layer by matching layer.

    Layers are matched by name (nested backbones layer by layer too) and copied when every
    weight's shape matches; the others (the head, when the classes differ) keep their fresh
    initialisation. "standardize" keeps `model`'s own statistics, measured on the new data.

    Args:
        model: the new run's model, built (and, for data-initialised layers such as
            airbench's whitening, initialised) already.
        run_dir: the earlier run's folder; its best.keras is read.

    Returns:
        One-line notes for the user: what was copied and what starts fresh.

    Raises:
        KerasclsError: no such run folder, no best.keras, or not one layer fits (the
            message names the earlier run's model to pass as --model).

    Example:
        >>> import json, tempfile
        >>> from kerascls.models import create_model
        >>> earlier = Path(tempfile.mkdtemp())
        >>> stats = {"mean": (120.0, 110.0, 100.0), "std": (60.0, 60.0, 60.0)}
        >>> create_model("cnn", 10, (8, 8, 3), filters=(4,), **stats).save(earlier / "best.keras")
        >>> info = {"model": {"name": "cnn", "kwargs": {"filters": [4]}},
        ...         "class_names": list("abcdefghij")}
        >>> _ = (earlier / "run.json").write_text(json.dumps(info))
        >>> new_stats = {"mean": (90.0, 90.0, 90.0), "std": (50.0, 50.0, 50.0)}
        >>> model = create_model("cnn", 2, (8, 8, 3), filters=(4,), **new_stats)
        >>> notes = init_from_run(model, earlier)
        >>> notes[0].split(": ")[-1]
        '4 layers copied, 1 starts fresh'
        >>> for note in notes[1:]:
        ...     print(note)
        head_dense starts fresh (kernel (4, 10) -> (4, 2))
        standardize keeps the new data's statistics
    """
    run = _open_run(run_dir)
    source = run.load_model("best")  # safe mode; kerascls layers registered
    source_name = run.model_name or source.name
    copied, fresh, kept = _copy_weights(model, source)
    if copied == 0:
        hint = (
            f"it trained model {source_name!r}: pass --model {source_name} (or leave "
            f"--model out to build that run's model), or drop --init-from"
            if source_name != model.name
            else "its model kwargs differ: build it with that run's model kwargs"
        )
        raise KerasclsError(f"--init-from {run.path}: no layer's weights fit this model; {hint}")
    classes_before = len(run.info.class_names or []) or source.output_shape[-1]
    classes_now = model.output_shape[-1]
    classes = f"{classes_before} classes" + (
        f" -> {classes_now}" if classes_before != classes_now else ""
    )
    notes = [
        f"weights from {run.path} ({source_name}, {classes}): {copied} layers copied, "
        f"{len(fresh)} {'starts' if len(fresh) == 1 else 'start'} fresh"
    ]
    notes += fresh[:_MAX_LISTED]
    if len(fresh) > _MAX_LISTED:
        notes.append(f"... and {len(fresh) - _MAX_LISTED} more layers start fresh")
    notes += [f"{path} keeps the new data's statistics" for path in kept]
    return notes


# --- two-phase fine-tuning ----------------------------------------------------------------

PHASE_VARIABLE = "fine_tune_phase"  # an optimizer variable: 1, then 2 once switched


def _base_optimizer(model: Any) -> Any:
    """The optimizer that holds the learning rate (inside a mixed-precision loss scaler)."""
    optimizer = model.optimizer
    return getattr(optimizer, "inner_optimizer", optimizer)


def _phase_variable(model: Any) -> Any | None:
    found = [v for v in _base_optimizer(model).variables if v.name == PHASE_VARIABLE]
    return found[0] if found else None


@contextlib.contextmanager
def _backbone_unfrozen(model: Any) -> Iterator[list[Any]]:
    """The model's trainable variables with its whole backbone trainable; flags restored."""
    net = backbone_of(model)  # a ModelError (a KerasclsError) for a model without one
    flags = [(layer, layer.trainable) for layer in (net, *net.layers)]
    net.trainable = True
    try:
        yield list(model.trainable_variables)
    finally:
        for layer, trainable in flags:  # the backbone first: its setter sets every layer
            layer.trainable = trainable


def prepare_optimizer_for_phases(model: Any) -> None:
    """Build the compiled model's optimizer for both phases of `FineTunePhases`.

    Keras 3 optimizers make their slots for the variables they are built with and refuse
    others later, so the backbone is made trainable for the build, then frozen again as
    it was. The optimizer also gets a variable that holds the phase: saved and restored
    with its other variables (backup/), so a resumed run knows whether it had switched.
    Call it after `compile` (inside the strategy's scope), before `fit` and before any
    restore, in the first run and in every resumed one alike: Keras skips restoring an
    optimizer whose variables do not match in number.

    Raises:
        KerasclsError: the model is not compiled, has no backbone, or its optimizer was
            already built without the backbone's variables.

    Example:
        >>> from kerascls.models import create_model
        >>> model = create_model("transfer_mobilenetv3small", 2, (32, 32, 3), weights=None)
        >>> model.compile("adam", "categorical_crossentropy")
        >>> prepare_optimizer_for_phases(model)
        >>> len(model.trainable_variables) < len(model.optimizer._trainable_variables)
        True
    """
    if getattr(model, "optimizer", None) is None:
        raise KerasclsError("compile the model before prepare_optimizer_for_phases(model)")
    with _backbone_unfrozen(model) as variables:
        if model.optimizer.built:
            _check_prepared(model, variables)
            return
        model.optimizer.build(variables)
    _base_optimizer(model).add_variable((), initializer="ones", dtype="int32", name=PHASE_VARIABLE)


def _check_prepared(model: Any, variables: list[Any]) -> None:
    optimizer = _base_optimizer(model)
    known = getattr(optimizer, "_trainable_variables_indices", {})
    missing = [v.path for v in variables if optimizer._var_key(v) not in known]
    if missing or _phase_variable(model) is None:
        example = f" ({len(missing)} variables unknown, e.g. {missing[0]})" if missing else ""
        raise KerasclsError(
            f"the optimizer was built before the backbone could train{example}: call "
            f"prepare_optimizer_for_phases(model) right after compile, before fit"
        )


@keras.saving.register_keras_serializable(package="kerascls")
class PhaseScaled(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule, times `factor` once `phase` (a variable) reaches 2.

    Example:
        >>> decay = keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
        >>> phase = keras.Variable(2, dtype="int32", trainable=False)
        >>> round(float(PhaseScaled(decay, phase, factor=0.1)(0)), 3)
        0.1
    """

    def __init__(self, schedule: Any, phase: Any, factor: float):
        self.schedule = schedule
        self.phase = phase  # the optimizer's variable while training; an int once deserialized
        self.factor = float(factor)

    def __call__(self, step):
        scale = keras.ops.where(keras.ops.greater_equal(self.phase, 2), self.factor, 1.0)
        return self.schedule(step) * keras.ops.cast(scale, "float32")

    def get_config(self) -> dict:
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "phase": int(keras.ops.convert_to_numpy(self.phase)),
            "factor": self.factor,
        }

    @classmethod
    def from_config(cls, config: dict) -> PhaseScaled:
        schedule = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(schedule, config["phase"], config["factor"])


class FineTunePhases(keras.callbacks.Callback):
    """Train the head on a frozen backbone, then fine-tune its top layers, in one `fit`.

    Phase 1 (until `switch_fraction` of the run's steps) trains what is trainable with the
    backbone frozen, so no gradient flows back through it. At the switch the backbone's top
    `unfreeze_layers` layers (all of them for None) become trainable, BatchNormalization
    excepted (a frozen BatchNormalization runs in inference mode, its statistics intact),
    the learning rate is multiplied by `lr_factor` for the rest of the run, and the train
    function is rebuilt, so the next step of the same `fit` trains the new set.

    The phase is an optimizer variable (`prepare_optimizer_for_phases`), saved with the
    backup: a run resumed after the switch comes back unfrozen at the lowered rate (read
    at its first step, after the restore). A schedule is wrapped in `PhaseScaled`; a
    constant learning rate (a variable, also restored) is multiplied once, at the switch,
    so ReduceLROnPlateau can still set it.

    Args:
        switch_fraction: the fraction of the run's steps spent in phase 1, in [0, 1].
        total_steps: the run's steps: an int, or the `keras.Variable` a time budget sets
            (read at every step, so the switch follows the budget's plan).
        unfreeze_layers: how many top layers of the backbone to unfreeze; None: all.
        lr_factor: the learning rate of phase 2 relative to the schedule, in (0, 1].
        on_switch: called with the step at which phase 2 starts (e.g. to note it in
            run.json).
        deadline: for a time-budgeted run, the `time.perf_counter()` by which it ends:
            the switch then comes at `switch_fraction` of the time from the fit's start
            to the deadline, or at that fraction of the steps, whichever is first. (The
            budget re-plans the steps as it measures them, and cheap phase-1 steps would
            push a step-based switch towards the end.)

    Example:
        >>> phases = FineTunePhases(switch_fraction=0.5, total_steps=40, unfreeze_layers=10)
        >>> phases.switch_step(), phases.lr_factor
        (20, 0.1)
    """

    def __init__(
        self,
        switch_fraction: float = 0.5,
        total_steps: int | keras.Variable = 1,
        unfreeze_layers: int | None = None,
        lr_factor: float = 0.1,
        on_switch: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ):
        super().__init__()
        if not 0.0 <= switch_fraction <= 1.0:
            raise KerasclsError(f"switch_fraction must be in [0, 1], got {switch_fraction!r}")
        if not 0.0 < lr_factor <= 1.0:
            raise KerasclsError(f"lr_factor must be in (0, 1], got {lr_factor!r}")
        valid_count = isinstance(unfreeze_layers, int) and not isinstance(unfreeze_layers, bool)
        if unfreeze_layers is not None and not (valid_count and unfreeze_layers >= 0):
            raise KerasclsError(
                f"unfreeze_layers must be None (all) or an int >= 0, got {unfreeze_layers!r}"
            )
        self.switch_fraction = float(switch_fraction)
        self.total_steps = total_steps
        self.unfreeze_layers = unfreeze_layers
        self.lr_factor = float(lr_factor)
        self.on_switch = on_switch
        self.deadline = deadline
        self._switch_time: float | None = None
        self.phase: int | None = None  # unknown until the first step (after a restore)
        self.switched_at: int | None = None

    def switch_step(self) -> int:
        """The step at which phase 2 starts, from the run's current total."""
        total = int(keras.ops.convert_to_numpy(self.total_steps))
        return int(self.switch_fraction * max(total, 0))

    def on_train_begin(self, logs=None) -> None:
        if not self.model.optimizer.built:  # otherwise Keras builds it at the first step
            with self.model.distribute_strategy.scope():
                prepare_optimizer_for_phases(self.model)
        with _backbone_unfrozen(self.model) as variables:
            _check_prepared(self.model, variables)
        optimizer = _base_optimizer(self.model)
        schedule = optimizer._learning_rate  # the schedule itself, not its current value
        if isinstance(schedule, PhaseScaled):  # e.g. loaded from a file: bind to this run's
            schedule = schedule.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            phase = _phase_variable(self.model)
            optimizer.learning_rate = PhaseScaled(schedule, phase, self.lr_factor)
        self.phase = None
        if self.deadline is not None:
            now = time.perf_counter()
            self._switch_time = now + self.switch_fraction * max(self.deadline - now, 0.0)

    def _switch_due(self, step: int) -> bool:
        late = self._switch_time is not None and time.perf_counter() >= self._switch_time
        return late or step >= self.switch_step()

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if self.phase is None:  # this fit's first step: the backup (if any) is restored now
            restored = int(keras.ops.convert_to_numpy(_phase_variable(self.model)))
            if restored == 2:
                self._enter(2, step)
            else:
                self._enter(2 if self._switch_due(step) else 1, step)
        elif self.phase == 1 and self._switch_due(step):
            # once switched, a budget that re-plans a longer run never switches back
            self._enter(2, step)

    def _enter(self, phase: int, step: int) -> None:
        net = backbone_of(self.model)
        variable = _phase_variable(self.model)
        if phase == 1:
            net.trainable = False
        else:
            count = self.unfreeze_layers if self.unfreeze_layers is not None else len(net.layers)
            unfrozen = unfreeze_top_layers(self.model, count)
            if int(keras.ops.convert_to_numpy(variable)) != 2:  # the switch itself
                self._lower_constant_lr()
                variable.assign(2)
                self.switched_at = step
                log.info(
                    "fine-tuning from step %d: %d backbone layers unfrozen, learning rate x%g",
                    step, unfrozen, self.lr_factor,
                )  # fmt: skip
                if self.on_switch is not None:
                    self.on_switch(step)
        self.phase = phase
        # Keras traced its train step with the old trainable set; make it trace the new one
        self.model.make_train_function(force=True)

    def _lower_constant_lr(self) -> None:
        optimizer = _base_optimizer(self.model)
        if not isinstance(optimizer._learning_rate, PhaseScaled):  # a variable: set it once
            current = keras.ops.convert_to_numpy(optimizer.learning_rate)
            optimizer.learning_rate = float(current) * self.lr_factor
