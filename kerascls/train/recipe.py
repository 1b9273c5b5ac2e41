"""The training recipe: every knob of a run, with its default, in one dataclass.

A recipe is plain data: it is written into the run folder's run.json and read back to
resume or reproduce a run, so every field is JSON-serialisable.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from kerascls.errors import KerasclsError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "triangle")
STRATEGIES = ("default", "mirrored", "multiworker")
# MLflow's own default store since 3.x, a file in the current folder that `mlflow ui` reads
# (its plain-folder store, ./mlruns, is in maintenance mode): kerascls/train/tracking.py
DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"


@dataclass
class Recipe:
    """Everything that decides how a model is trained.

    The defaults are the CIFAR-10 ResNet-20 recipe of examples/cifar10.py: SGD with
    Nesterov momentum, a short linear warm-up then cosine decay, decoupled weight decay
    kept off BatchNorm and biases, label smoothing, and pad-crop-flip augmentation (the
    example adds a 16x16 cutout, a size that suits 32x32 images, not photos in general).

    Example:
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
    batch_size: int = 128
    augment: str | dict[str, Any] = "cifar"  # preset name or AugmentConfig fields
    class_weights: bool = False  # weight the loss by inverse class frequency
    oversample: bool = False  # draw every class equally often instead
    # Fit batch size (and lr with it) and augmentation to the data: a recipe written for
    # 45,000 CIFAR images, run on 300 photos (kerascls/train/adapt.py). Fields in `fixed`
    # stay as given (the command line lists the flags the user passed).
    adapt_to_data: bool = True
    fixed: tuple[str, ...] = ()

    # --- model ----------------------------------------------------------------------------
    model: str = "resnet20"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    standardize: bool = True  # measure channel mean/std and put them in the model

    # --- optimisation ---------------------------------------------------------------------
    epochs: int = 60
    optimizer: str = "sgd"  # one of OPTIMIZERS
    lr: float = 0.1  # peak learning rate (for batch 128; scale linearly with batch size)
    momentum: float = 0.9  # SGD only
    nesterov: bool = True  # SGD only
    # Decoupled, as Keras applies it: w -= lr * weight_decay * w each step, outside the
    # momentum. With SGD momentum 0.9 that is 10x weaker than the same number as coupled L2
    # (PyTorch's SGD weight_decay), so 5e-3 here matches the classic 5e-4 CIFAR recipe.
    # Not applied to BatchNorm parameters or biases.
    weight_decay: float = 5e-3
    schedule: str = "cosine"  # one of SCHEDULES
    warmup_epochs: float = 2.0  # linear warm-up for "cosine" and "triangle"
    step_epochs: tuple[int, ...] = ()  # "step": epochs at which lr is multiplied by step_gamma
    step_gamma: float = 0.1
    label_smoothing: float = 0.1
    focal_gamma: float = 0.0  # > 0: focal loss instead of cross-entropy
    clipnorm: float | None = None  # clip the global gradient norm to this value
    # SGD only: BatchNorm biases ("beta") take steps this many times larger (airbench: 64,
    # for its BatchNorm without a learned scale); 1: the same as every weight.
    bias_lr_scale: float = 1.0
    # Lookahead weight averaging every 5 steps (kerascls/train/lookahead.py, airbench's).
    lookahead: bool = False
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
    # accuracy sits on a noisy plateau by design: a 120-epoch cosine run with patience 10
    # stopped at epoch 48 of 120 (79.8%) while lr was still 0.07.
    early_stopping_start: int | None = None
    histogram_freq: int = 0  # > 0: weight histograms in TensorBoard every N epochs

    # --- runtime --------------------------------------------------------------------------
    # True: mixed_float16 on GPU, mixed_bfloat16 on CPU; "auto": only where the hardware
    # has the instructions (runtime.mixed_precision_policy)
    mixed_precision: bool | str = False
    strategy: str = "default"  # one of STRATEGIES
    seed: int = 0
    steps_per_execution: int = 1  # >1 runs several steps per call into TensorFlow
    logdir: str = "logs"
    run_name: str | None = None  # default: "<model>-<YYYYmmdd-HHMMSS>"
    # MLflow tracking URI (kerascls/train/tracking.py), e.g. "sqlite:///mlflow.db"; None: off
    mlflow: str | None = None

    def validate(self) -> None:
        """Raise KerasclsError naming the first field whose value cannot work."""
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("schedule", self.schedule, SCHEDULES)
        _one_of("strategy", self.strategy, STRATEGIES)
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise KerasclsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise KerasclsError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise KerasclsError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.reduce_lr_patience > 0 and self.schedule != "constant":
            raise KerasclsError(
                f"ReduceLROnPlateau adjusts a constant learning rate, but schedule is "
                f"{self.schedule!r}: pass schedule='constant' or reduce_lr_patience=0"
            )
        if self.early_stopping_start is not None and not (
            0 <= self.early_stopping_start < self.epochs
        ):
            raise KerasclsError(
                f"early_stopping_start must be an epoch in [0, epochs={self.epochs}), "
                f"got {self.early_stopping_start}"
            )
        if self.time_budget is not None and self.time_budget <= 0:
            raise KerasclsError(f"time_budget must be positive seconds, got {self.time_budget}")
        if self.mixed_precision not in (True, False, "auto"):
            raise KerasclsError(
                f"mixed_precision must be True, False or 'auto', got {self.mixed_precision!r}"
            )
        if self.validation_size is not None and (
            isinstance(self.validation_size, bool)
            or not isinstance(self.validation_size, (int, float))
            or self.validation_size < 0
        ):
            raise KerasclsError(
                f"validation_size must be a fraction such as 0.1, a count, or None for the "
                f"default (10%, at most 5,000); got {self.validation_size!r}"
            )
        unknown = sorted(set(self.fixed) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise KerasclsError(f"fixed names fields that a Recipe does not have: {unknown}")
        if self.mlflow is not None and (not isinstance(self.mlflow, str) or not self.mlflow):
            raise KerasclsError(
                f"mlflow must be a tracking URI such as 'sqlite:///mlflow.db', or None for "
                f"no MLflow; got {self.mlflow!r}"
            )
        if self.mlflow is not None and importlib.util.find_spec("mlflow") is None:
            # now, before a run folder exists, not after the data has loaded
            raise KerasclsError(
                "MLflow tracking (--mlflow) needs the mlflow package: pip install -e .[mlflow]"
            )
        if self.bias_lr_scale <= 0:
            raise KerasclsError(f"bias_lr_scale must be positive, got {self.bias_lr_scale}")
        if self.bias_lr_scale != 1.0 and self.optimizer != "sgd":
            raise KerasclsError("bias_lr_scale applies to optimizer 'sgd' only")
        if self.schedule == "step" and not self.step_epochs:
            raise KerasclsError("schedule 'step' needs step_epochs, e.g. (20, 30)")
        from kerascls.models import get_model_info

        get_model_info(self.model)  # an unknown name fails now, not after loading the data
        try:
            from kerascls.data import resolve_augment

            resolve_augment(self.augment)
        except ValueError as err:
            raise KerasclsError(f"augment: {err}") from None
        if self.class_weights and self.oversample:
            raise KerasclsError(
                "use class_weights or oversample, not both: each corrects imbalance"
            )

    def warmup_fraction(self) -> float:
        """The warm-up as a fraction of the run ("triangle" keeps it when a time budget
        changes the run's length)."""
        return min(max(self.warmup_epochs / self.epochs, 0.0), 1.0)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Recipe:
        """A named recipe (`kerascls.train.presets.RECIPES`), with some fields changed.

        Example:
            >>> Recipe.preset("fast", epochs=2).model
            'airbench'
        """
        from kerascls.train.presets import RECIPES

        if name not in RECIPES:
            raise KerasclsError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
        return dataclasses.replace(RECIPES[name], **overrides)

    def early_stopping_start_epoch(self) -> int:
        """The first epoch early stopping watches (see `early_stopping_start`)."""
        if self.early_stopping_start is not None:
            return self.early_stopping_start
        return 0 if self.schedule == "constant" else self.epochs // 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known - {"tensorboard_images"})
        if unknown:
            raise KerasclsError(f"unknown recipe fields {unknown}; known fields: {sorted(known)}")
        values = dict(values)
        # run.json of runs before TensorBoard images became a callback (kerascls.viz)
        values.pop("tensorboard_images", None)
        # JSON turns tuples into lists; put them back so equality and hashing behave.
        for name in ("image_size", "step_epochs", "fixed"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)


def _one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise KerasclsError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
