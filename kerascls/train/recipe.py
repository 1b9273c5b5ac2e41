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
    batch_size: int = 1024
    # a preset name or AugmentConfig fields; the default: flips and 2-pixel reflected shifts
    augment: str | dict[str, Any] = field(
        default_factory=lambda: {"horizontal_flip": True, "crop_padding": 2, "crop_fill": "reflect"}
    )
    class_weights: bool = False  # weight the loss by inverse class frequency
    oversample: bool = False  # draw every class equally often instead
    # Fit batch size (and lr with it) and augmentation to the data: a recipe written for
    # 45,000 CIFAR images, run on 300 photos (kerascls/train/adapt.py). Fields in `fixed`
    # stay as given (the command line lists the flags the user passed).
    adapt_to_data: bool = True
    fixed: tuple[str, ...] = ()

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

    # --- optimisation ---------------------------------------------------------------------
    # None: planned by the run, DEFAULT_EPOCHS or more on a small folder (bounded in time on
    # a CPU: kerascls/train/plan.py); a number: exactly that many
    epochs: int | None = None
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
    # accuracy sits on a noisy plateau by design: a 120-epoch cosine run with patience 10
    # stopped at epoch 48 of 120 (79.8%) while lr was still 0.07.
    early_stopping_start: int | None = None
    histogram_freq: int = 0  # > 0: weight histograms in TensorBoard every N epochs

    # --- runtime --------------------------------------------------------------------------
    # True: mixed_float16 on GPU, mixed_bfloat16 on CPU; "auto": only where the hardware
    # has the instructions (runtime.mixed_precision_policy)
    # (bf16 trains the airbench model 2.5-3.3x faster on such CPUs: benchmarks/README.md)
    mixed_precision: bool | str = "auto"
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
            value = getattr(self, name)
            if value is not None and value < 1:
                raise KerasclsError(f"{name} must be at least 1, got {value}")
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
            0 <= self.early_stopping_start < self.epoch_count()
        ):
            raise KerasclsError(
                f"early_stopping_start must be an epoch in [0, epochs={self.epoch_count()}), "
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
        if self.schedule == "step" and not self.step_epochs:
            raise KerasclsError("schedule 'step' needs step_epochs, e.g. (20, 30)")
        from kerascls.models import get_model_info

        get_model_info(self.model)  # an unknown name fails now, not after loading the data
        try:
            from kerascls.data import resolve_augment

            resolve_augment(self.augment)
        except ValueError as err:
            raise KerasclsError(f"augment: {err}") from None
        self._validate_transfer()
        self._validate_resolutions()
        if self.class_weights and self.oversample:
            raise KerasclsError(
                "use class_weights or oversample, not both: each corrects imbalance"
            )

    def _validate_transfer(self) -> None:
        from kerascls.models import get_model_info

        if self.init_from is not None and self.pretrained is not None:
            raise KerasclsError(
                "use --init-from RUN or --pretrained, not both: each sets the starting weights"
            )
        if self.fine_tune_switch is None:
            return
        if not 0 <= self.fine_tune_switch <= 1:
            raise KerasclsError(
                f"fine_tune_switch must be a fraction of the run in [0, 1], got "
                f"{self.fine_tune_switch!r}"
            )
        if get_model_info(self.model).family != "transfer":
            raise KerasclsError(
                f"two-phase fine-tuning (fine_tune_switch) needs a transfer_* model with a "
                f"backbone, not {self.model!r}: pass --pretrained, or fine_tune_switch=None"
            )
        if not 0 < self.fine_tune_lr_factor <= 1:
            raise KerasclsError(
                f"fine_tune_lr_factor must be in (0, 1], got {self.fine_tune_lr_factor!r}"
            )

    def _validate_resolutions(self) -> None:
        if not 0 < self.low_res_scale <= 1:
            raise KerasclsError(
                f"low_res_scale must be a fraction of the image side in (0, 1] (1: one "
                f"size), got {self.low_res_scale!r}"
            )
        if not 0 <= self.low_res_share <= 1:
            raise KerasclsError(
                f"low_res_share must be a fraction of the run in [0, 1], got {self.low_res_share!r}"
            )
        if self.low_res_scale == 1:
            return
        from kerascls.train.resolution import takes_any_size

        if not takes_any_size(self.model):
            raise KerasclsError(
                f"{self.model} takes one image size, so it cannot train at low resolution "
                f"first: pass --low-res 1"
            )
        if self.strategy != "default":
            raise KerasclsError(
                f"low-resolution training (low_res_scale) runs with the default strategy, not "
                f"{self.strategy!r}: pass --low-res 1"
            )

    def warmup_fraction(self) -> float:
        """The warm-up as a fraction of the run ("triangle" keeps it when a time budget
        changes the run's length)."""
        return min(max(self.warmup_epochs / self.epoch_count(), 0.0), 1.0)

    def epoch_count(self) -> int:
        """`epochs`, or DEFAULT_EPOCHS where the run has not planned them yet."""
        return DEFAULT_EPOCHS if self.epochs is None else self.epochs

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
        from kerascls.train.presets import preset_for_model

        return cls.preset(preset_for_model(model), model=model, **overrides)

    def early_stopping_start_epoch(self) -> int:
        """The first epoch early stopping watches (see `early_stopping_start`)."""
        if self.early_stopping_start is not None:
            return self.early_stopping_start
        return 0 if self.schedule == "constant" else self.epoch_count() // 2

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
