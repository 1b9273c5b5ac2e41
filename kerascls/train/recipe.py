"""The training recipe: every knob of a run, with its default, in one dataclass.

A recipe is plain data: it is written into the run folder's run.json and read back to
resume or reproduce a run, so every field is JSON-serialisable.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kerascls.errors import KerasclsError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "triangle")
STRATEGIES = ("default", "mirrored", "multiworker")
# MLflow's own default store since 3.x, a file in the current folder that `mlflow ui` reads
# (its plain-folder store, ./mlruns, is in maintenance mode): kerascls/train/tracking.py
DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"
# The default recipe's epochs: 440 steps on CIFAR-10's 45,000 training images. On a small
# folder the run plans more (kerascls/train/plan.py).
DEFAULT_EPOCHS = 10


@dataclass
class Recipe:
    """Everything that decides how a model is trained; the defaults are kerascls's one
    default recipe.

    `Recipe()` is what `kerascls-train`, `python examples/cifar10.py` and
    `Recipe.preset("fast")` train: airbench94's algorithm on kerascls's pieces (the
    "airbench" CNN with patch whitening and scale-free BatchNorm, Nesterov SGD at batch 1024
    on a short triangular schedule, label smoothing 0.2, lookahead averaging, flips and
    2-pixel reflected translations, bf16 where the CPU has the instructions). On a folder of
    photos the run then plans itself (kerascls/train/plan.py): image size, batch size,
    augmentation and how long to train, each printed with its reason.

    Example:
        >>> Recipe().model, Recipe().epoch_count(), Recipe().batch_size
        ('airbench', 10, 1024)
        >>> recipe = Recipe(model="resnet20", epochs=2, batch_size=64)
        >>> recipe.validate()
        >>> Recipe.from_dict(recipe.to_dict()) == recipe
        True
    """

    # --- data -----------------------------------------------------------------------------
    data_dir: str | None = None  # image folder root/<split>/<class>/; None: CIFAR-10 download
    image_size: tuple[int, int] | None = None  # None: the dataset's own (32x32 for CIFAR-10)
    # Held out of train/ when there is no validation/ (or val/) folder: a fraction or a
    # count; None: 10%, at most 5,000 and at least one image per class (5,000 on CIFAR-10).
    validation_size: float | int | None = None
    # Seed of that hold-out, apart from the training seed: runs of several seeds are then
    # scored on the same images (a fresh draw of 5,000 alone moves accuracy by about
    # 0.4 points). Runs recorded before this field held out with their training seed.
    validation_seed: int = 0
    batch_size: int = 1024
    # a preset name or AugmentConfig fields; the default: flips and 2-pixel reflected shifts
    augment: str | dict[str, Any] = field(
        default_factory=lambda: {"horizontal_flip": True, "crop_padding": 2, "crop_fill": "reflect"}
    )
    class_weights: bool = False  # weight the loss by inverse class frequency
    oversample: bool = False  # draw every class equally often instead
    # Fit batch size (and lr with it) and augmentation to the data: a recipe written for
    # 45,000 CIFAR images, run on 300 photos (kerascls/train/adapt.py). Fields named in
    # `set_by_user` stay as given (the command line lists the flags the user passed).
    adapt_to_data: bool = True
    set_by_user: tuple[str, ...] = ()

    # --- model ----------------------------------------------------------------------------
    model: str = "airbench"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    standardize: bool = True  # measure channel mean/std and put them in the model
    # Start from learnt weights (kerascls/train/transfer_learning.py): an earlier run's
    # folder, whose weights are copied by layer name (a new head when the classes differ);
    # or `pretrained`, the keras.applications backbone whose ImageNet weights the
    # "transfer_*" model starts from (set by --pretrained with the "pretrained" preset).
    init_from: str | None = None
    pretrained: str | None = None
    # Two-phase fine-tuning of a "transfer_*" model: the head alone on the frozen backbone
    # for this fraction of the run, then the backbone's top `fine_tune_unfreeze` layers
    # (None: all, BatchNorm excepted) at `fine_tune_lr_factor` times the learning rate.
    # None: no phases (the backbone stays as the model was built).
    fine_tune_switch: float | None = None
    fine_tune_unfreeze: int | None = None
    fine_tune_lr_factor: float = 0.1

    # Progressive resizing (kerascls/train/resolution.py): the first `low_res_share` of the
    # run's steps train on images whose sides are `low_res_scale` times the run's size,
    # the rest at full size. 1: one size throughout. The plan sets it on photo folders.
    low_res_scale: float = 1.0
    low_res_share: float = 0.5
    # Distillation (kerascls/train/teacher_targets.py): train towards a mix of the labels and the
    # mean probabilities of these earlier runs (same classes, size and hold-out).
    distill_from: tuple[str, ...] = ()
    distill_weight: float = 0.5  # the teachers' share of each target
    # Train this many `fast` runs of other seeds on the same data first and distill from
    # them (kerascls/train/teachers.py); they are kept and reused under
    # <logdir>/<data>/teachers/. 0: none (or the runs named in distill_from).
    teachers: int = 0

    # --- optimisation ---------------------------------------------------------------------
    # None: planned by the run, DEFAULT_EPOCHS or more on a small folder (bounded in time on
    # a CPU: kerascls/train/plan.py); a number: exactly that many
    epochs: int | None = None
    # How many times the default's length a run with epochs=None trains: DEFAULT_EPOCHS x
    # this, and on a small folder the plan's minimum steps and CPU time cap x this too
    # (the "long" preset: 2)
    length_scale: float = 1.0
    optimizer: str = "sgd"  # one of OPTIMIZERS
    # airbench94's hyperparameters in Keras's conventions: its lr 11.5 "per 1024 examples"
    # on a summed loss with Nesterov momentum 0.85 is 11.5 / (1 + 1 / 0.15) = 1.5 on Keras's
    # mean loss. Peak learning rate for batch_size; the plan scales it with the batch.
    lr: float = 1.5
    momentum: float = 0.85  # SGD only
    nesterov: bool = True  # SGD only
    # Decoupled, as Keras applies it: w -= lr * weight_decay * w each step, outside the
    # momentum. With SGD momentum 0.9 that is 10x weaker than the same number as coupled L2
    # (PyTorch's SGD weight_decay), so 5e-3 here matches the classic 5e-4 CIFAR recipe.
    # Not applied to BatchNorm parameters or biases. airbench94's coupled 0.0153 per 1024
    # examples shrinks the weights by about 1.3% a step at the peak: 0.009 at lr 1.5 here.
    weight_decay: float = 0.009
    schedule: str = "triangle"  # one of SCHEDULES
    warmup_epochs: float = 2.3  # linear warm-up for "cosine" and "triangle" (23% of 10)
    step_epochs: tuple[int, ...] = ()  # "step": epochs at which lr is multiplied by step_gamma
    step_gamma: float = 0.1
    label_smoothing: float = 0.2
    focal_gamma: float = 0.0  # > 0: focal loss instead of cross-entropy
    clipnorm: float | None = None  # clip the global gradient norm to this value
    # SGD only (Adam and AdamW ignore it): BatchNorm biases ("beta") take steps this many
    # times larger (airbench: 64, for its BatchNorm without a learned scale); 1: the same
    # as every weight.
    bias_lr_scale: float = 64.0
    # Lookahead weight averaging every 5 steps (kerascls/train/lookahead.py, airbench's).
    lookahead: bool = True
    # Seconds from the start of `fit` to the evaluated run: the run measures its speed on
    # its first steps and sets the schedule's length so that it ends in time, annealed.
    # `epochs` is then only an upper bound. None: train for `epochs`.
    time_budget: float | None = None

    # --- callbacks ------------------------------------------------------------------------
    reduce_lr_patience: int = 0  # > 0: ReduceLROnPlateau on val_loss (needs schedule="constant")
    reduce_lr_factor: float = 0.2
    early_stopping_patience: int = 0  # > 0: stop when val_accuracy stalls; best weights restored
    # The epoch from which early stopping watches; None: 0 for schedule="constant", half
    # the epochs for a decaying schedule. At a cosine's high learning rates validation
    # accuracy sits on a noisy plateau by design: a long cosine run with patience 10 stopped
    # less than half-way, its learning rate still high (benchmarks/README.md).
    early_stopping_start: int | None = None
    histogram_freq: int = 0  # > 0: weight histograms in TensorBoard every N epochs

    # --- runtime --------------------------------------------------------------------------
    # True: mixed_float16 on GPU, mixed_bfloat16 on CPU; "auto": only where the hardware
    # has the instructions (runtime.mixed_precision_policy)
    # (bf16 trains the airbench model much faster on such CPUs: benchmarks/README.md)
    mixed_precision: bool | str = "auto"
    strategy: str = "default"  # one of STRATEGIES
    seed: int = 0
    steps_per_execution: int = 1  # >1 runs several steps per call into TensorFlow
    logdir: str = "logs"
    run_name: str | None = None  # default: "<model>-<YYYYmmdd-HHMMSS>"
    # MLflow tracking URI (kerascls/train/tracking.py), e.g. "sqlite:///mlflow.db"; None: off
    mlflow: str | None = None

    def validate(self) -> None:
        """Raise KerasclsError naming the first field whose value cannot work: the rules of
        one field (`_FIELD_RULES`) first, then those that look further (`_RECIPE_RULES`).

        Example:
            >>> Recipe(lr=0).validate()
            Traceback (most recent call last):
            ...
            kerascls.errors.KerasclsError: lr must be positive, got 0
        """
        for name, ok, message in _FIELD_RULES:
            value = getattr(self, name)
            if not ok(value):
                raise KerasclsError(message.format(name=name, value=value))
        for rule in _RECIPE_RULES:
            rule(self)

    def warmup_fraction(self) -> float:
        """The warm-up as a fraction of the run ("triangle" keeps it when a time budget
        changes the run's length)."""
        return min(max(self.warmup_epochs / self.epoch_count(), 0.0), 1.0)

    def epoch_count(self) -> int:
        """`epochs`, or DEFAULT_EPOCHS x `length_scale` where the run has not planned them.

        Example:
            >>> Recipe().epoch_count(), Recipe(length_scale=2).epoch_count()
            (10, 20)
        """
        if self.epochs is not None:
            return self.epochs
        return max(round(DEFAULT_EPOCHS * self.length_scale), 1)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Recipe:
        """A named recipe (kerascls/train/presets.py), with some fields changed.

        Example:
            >>> Recipe.preset("fast", epochs=2).model
            'airbench'
        """
        if name not in _PRESETS.recipes:
            known = ", ".join(_PRESETS.recipes)
            raise KerasclsError(f"unknown recipe {name!r}; known: {known}")
        return dataclasses.replace(_PRESETS.recipes[name], **overrides)

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> Recipe:
        """The preset whose optimisation suits `model` (`presets.preset_for_model`), for
        that model, with some fields changed: `Recipe()`'s learning rate, 64x BatchNorm-bias
        steps and lookahead are tuned to airbench, not to a ResNet or a ViT.

        Example:
            >>> recipe = Recipe.for_model("resnet56", epochs=30)
            >>> recipe.model, recipe.lr, recipe.bias_lr_scale, recipe.epochs
            ('resnet56', 0.1, 1.0, 30)
        """
        if _PRESETS.preset_for_model is None:
            raise KerasclsError("no recipe presets registered: import kerascls.train")
        return cls.preset(_PRESETS.preset_for_model(model), model=model, **overrides)

    def early_stopping_start_epoch(self) -> int:
        """The first epoch early stopping watches (see `early_stopping_start`)."""
        if self.early_stopping_start is not None:
            return self.early_stopping_start
        return 0 if self.schedule == "constant" else self.epoch_count() // 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        """The recipe a run.json holds, older ones included.

        Example:
            >>> Recipe.from_dict({"epochs": 3, "fixed": ["epochs"]}).set_by_user
            ('epochs',)
            >>> Recipe.from_dict({"seed": 2}).validation_seed  # held out with its seed
            2
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known - {"tensorboard_images", "fixed"})
        if unknown:
            raise KerasclsError(f"unknown recipe fields {unknown}; known fields: {sorted(known)}")
        values = dict(values)
        # run.json of runs before TensorBoard images became a callback (kerascls.viz)
        values.pop("tensorboard_images", None)
        # run.json of runs before `set_by_user` had its name
        if "fixed" in values:
            values["set_by_user"] = values.pop("fixed")
        # run.json of runs before `validation_seed`: their hold-out followed `seed`
        values.setdefault("validation_seed", values.get("seed", 0))
        # JSON turns tuples into lists; put them back so equality and hashing behave.
        for name in ("image_size", "step_epochs", "set_by_user", "distill_from"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)


@dataclass
class _PresetTable:
    """The named recipes, and the rule that picks one of their names for a model.

    kerascls/train/presets.py fills it through `register_presets` when it is imported, and
    kerascls/train/__init__.py imports it, as keras-hub's model packages register their
    presets with the classes that load them: the record is defined here and its values
    there, and this module never imports presets.py.
    """

    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    preset_for_model: Callable[[str], str] | None = None


_PRESETS = _PresetTable()


def register_presets(recipes: Mapping[str, Recipe], preset_for_model: Callable[[str], str]) -> None:
    """Make `recipes` the names `Recipe.preset` knows, and `preset_for_model(model)` (one of
    those names) the choice `Recipe.for_model` makes."""
    _PRESETS.recipes = recipes
    _PRESETS.preset_for_model = preset_for_model


def _one_of(choices: tuple[str, ...]) -> tuple[Callable[[Any], bool], str]:
    """The check and message of a field that must be one of `choices`."""
    message = f"{{name}} must be one of {', '.join(choices)}; got {{value!r}}"
    return (lambda value: value in choices), message


def _at_least_one(value: Any) -> bool:
    return value is None or value >= 1


def _none_or(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


# The rules of one field each, in the order they are checked: (field, check, message).
# A value for which check(value) is False fails with the message, formatted with the
# field's name and value.
_FIELD_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("optimizer", *_one_of(OPTIMIZERS)),
    ("schedule", *_one_of(SCHEDULES)),
    ("strategy", *_one_of(STRATEGIES)),
    ("epochs", _at_least_one, "{name} must be at least 1, got {value}"),
    ("batch_size", _at_least_one, "{name} must be at least 1, got {value}"),
    ("steps_per_execution", _at_least_one, "{name} must be at least 1, got {value}"),
    ("lr", lambda v: v > 0, "lr must be positive, got {value}"),
    ("length_scale", lambda v: v > 0, "length_scale must be positive, got {value}"),
    ("label_smoothing", lambda v: 0 <= v < 1, "label_smoothing must be in [0, 1), got {value}"),
    ("time_budget", _none_or(lambda v: v > 0), "time_budget must be positive seconds, got {value}"),
    (
        "mixed_precision",
        lambda v: v in (True, False, "auto"),
        "mixed_precision must be True, False or 'auto', got {value!r}",
    ),
    (
        "mlflow",
        _none_or(lambda v: isinstance(v, str) and bool(v)),
        "mlflow must be a tracking URI such as 'sqlite:///mlflow.db', or None for no MLflow; "
        "got {value!r}",
    ),
    (
        "mlflow",  # now, before a run folder exists, not after the data has loaded
        _none_or(lambda v: importlib.util.find_spec("mlflow") is not None),
        "MLflow tracking (--mlflow) needs the mlflow package: pip install -e .[mlflow]",
    ),
    ("bias_lr_scale", lambda v: v > 0, "bias_lr_scale must be positive, got {value}"),
    (
        "fine_tune_switch",
        _none_or(lambda v: 0 <= v <= 1),
        "fine_tune_switch must be a fraction of the run in [0, 1], got {value!r}",
    ),
    (
        "low_res_scale",
        lambda v: 0 < v <= 1,
        "low_res_scale must be a fraction of the image side in (0, 1] (1: one size), got {value!r}",
    ),
    (
        "distill_weight",
        lambda v: 0 < v <= 1,
        "distill_weight must be the teachers' share of each target in (0, 1], got {value!r}",
    ),
    (
        "low_res_share",
        lambda v: 0 <= v <= 1,
        "low_res_share must be a fraction of the run in [0, 1], got {value!r}",
    ),
)


def _validation_size_is_a_size(recipe: Recipe) -> None:
    from kerascls.data.holdout import check_validation_size  # the one check of it

    check_validation_size(recipe.validation_size)


def _set_by_user_names_fields(recipe: Recipe) -> None:
    unknown = sorted(set(recipe.set_by_user) - {f.name for f in dataclasses.fields(recipe)})
    if unknown:
        raise KerasclsError(f"set_by_user names fields that a Recipe does not have: {unknown}")


def _reduce_lr_on_a_constant_schedule(recipe: Recipe) -> None:
    if recipe.reduce_lr_patience > 0 and recipe.schedule != "constant":
        raise KerasclsError(
            f"ReduceLROnPlateau adjusts a constant learning rate, but schedule is "
            f"{recipe.schedule!r}: pass schedule='constant' or reduce_lr_patience=0"
        )


def _early_stopping_starts_within_the_run(recipe: Recipe) -> None:
    start, epochs = recipe.early_stopping_start, recipe.epoch_count()
    if start is not None and not 0 <= start < epochs:
        raise KerasclsError(
            f"early_stopping_start must be an epoch in [0, epochs={epochs}), got {start}"
        )


def _step_schedule_has_steps(recipe: Recipe) -> None:
    if recipe.schedule == "step" and not recipe.step_epochs:
        raise KerasclsError("schedule 'step' needs step_epochs, e.g. (20, 30)")


def _model_is_registered(recipe: Recipe) -> None:
    from kerascls.models import get_model_info

    get_model_info(recipe.model)  # an unknown name fails now, not after loading the data


def _augment_resolves(recipe: Recipe) -> None:
    from kerascls.data import resolve_augment

    try:
        resolve_augment(recipe.augment)
    except ValueError as err:
        raise KerasclsError(f"augment: {err}") from None


def _one_source_of_starting_weights(recipe: Recipe) -> None:
    if recipe.init_from is not None and recipe.pretrained is not None:
        raise KerasclsError(
            "use --init-from RUN or --pretrained, not both: each sets the starting weights"
        )


def _fine_tuning_has_a_backbone(recipe: Recipe) -> None:
    from kerascls.models import get_model_info

    if recipe.fine_tune_switch is None:
        return
    if get_model_info(recipe.model).family != "transfer":
        raise KerasclsError(
            f"two-phase fine-tuning (fine_tune_switch) needs a transfer_* model with a "
            f"backbone, not {recipe.model!r}: pass --pretrained, or fine_tune_switch=None"
        )
    if not 0 < recipe.fine_tune_lr_factor <= 1:
        raise KerasclsError(
            f"fine_tune_lr_factor must be in (0, 1], got {recipe.fine_tune_lr_factor!r}"
        )


def _low_resolution_can_run(recipe: Recipe) -> None:
    if recipe.low_res_scale == 1:
        return
    from kerascls.train.resolution import takes_any_size

    if not takes_any_size(recipe.model):
        raise KerasclsError(
            f"{recipe.model} takes one image size, so it cannot train at low resolution "
            f"first: pass --low-res 1"
        )
    if recipe.strategy != "default":
        raise KerasclsError(
            f"low-resolution training (low_res_scale) runs with the default strategy, not "
            f"{recipe.strategy!r}: pass --low-res 1"
        )


def _one_imbalance_correction(recipe: Recipe) -> None:
    if recipe.class_weights and recipe.oversample:
        raise KerasclsError("use class_weights or oversample, not both: each corrects imbalance")


def _distillation_keeps_the_draw(recipe: Recipe) -> None:
    if (recipe.distill_from or recipe.teachers) and recipe.oversample:
        raise KerasclsError(
            "distillation (distill_from, teachers) and oversample do not mix: oversampling "
            "draws by class label, distillation trains towards mixed targets; use "
            "class_weights"
        )


def _teachers_are_a_count(recipe: Recipe) -> None:
    if recipe.teachers < 0:
        raise KerasclsError(f"teachers must be a count of runs, 0 for none; got {recipe.teachers}")


# The rules that look at more than one field, or ask another module, in the order they are
# checked (after _FIELD_RULES); each raises KerasclsError with its message.
_RECIPE_RULES: tuple[Callable[[Recipe], None], ...] = (
    _validation_size_is_a_size,
    _set_by_user_names_fields,
    _reduce_lr_on_a_constant_schedule,
    _early_stopping_starts_within_the_run,
    _step_schedule_has_steps,
    _model_is_registered,
    _augment_resolves,
    _one_source_of_starting_weights,
    _fine_tuning_has_a_backbone,
    _low_resolution_can_run,
    _one_imbalance_correction,
    _distillation_keeps_the_draw,
    _teachers_are_a_count,
)
