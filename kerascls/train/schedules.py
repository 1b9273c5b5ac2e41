"""Learning-rate schedules, and the optimizer built from a recipe.

The schedules are registered Keras objects so that a checkpoint that holds the optimizer
(best.keras, last.keras, the BackupAndRestore state) loads back with safe mode on.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerascls.train.recipe import Recipe


@keras.saving.register_keras_serializable(package="kerascls")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak_lr`, then cosine decay to `final_lr`.

    Args:
        peak_lr: the learning rate at the end of the warm-up.
        total_steps: steps of the whole run: an int, or a `keras.Variable` that a
            time-budgeted run sets once it has measured its speed (`kerascls.train.budget`).
        warmup_steps: steps of the linear warm-up.
        final_lr: the learning rate at the last step.
        warmup_fraction: if given, the warm-up is this fraction of `total_steps` instead,
            so that it follows a budget's length (5 warm-up epochs of a 100-epoch recipe
            must not fill a whole 5-minute budget).

    Example:
        >>> schedule = WarmupCosine(0.1, total_steps=100, warmup_steps=10)
        >>> round(float(schedule(10)), 4), round(float(schedule(100)), 4)
        (0.1, 0.0)
        >>> total = keras.Variable(1000, dtype="int64", trainable=False)
        >>> budgeted = WarmupCosine(0.1, total_steps=total, warmup_fraction=0.05)
        >>> _ = total.assign(100)  # the budget re-plans: warm-up and decay follow
        >>> round(float(budgeted(5)), 4), round(float(budgeted(100)), 4)
        (0.1, 0.0)
    """

    def __init__(
        self,
        peak_lr: float,
        total_steps,
        warmup_steps: int = 0,
        final_lr: float = 0.0,
        warmup_fraction: float | None = None,
    ):
        self.peak_lr = float(peak_lr)
        self.total_steps = total_steps
        self.warmup_steps = int(warmup_steps)
        self.final_lr = float(final_lr)
        self.warmup_fraction = None if warmup_fraction is None else float(warmup_fraction)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.maximum(ops.cast(self.total_steps, "float32"), 1.0)
        if self.warmup_fraction is None:
            warmup = ops.cast(self.warmup_steps, "float32")
        else:
            warmup = ops.floor(self.warmup_fraction * total)
        warm_lr = self.peak_lr * step / ops.maximum(warmup, 1.0)
        progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
        cosine = self.final_lr + 0.5 * (self.peak_lr - self.final_lr) * (
            1.0 + ops.cos(math.pi * progress)
        )
        return ops.where(step < warmup, warm_lr, cosine)

    def get_config(self) -> dict:
        return {
            "peak_lr": self.peak_lr,
            "total_steps": int(ops.convert_to_numpy(self.total_steps)),
            "warmup_steps": self.warmup_steps,
            "final_lr": self.final_lr,
            "warmup_fraction": self.warmup_fraction,
        }


@keras.saving.register_keras_serializable(package="kerascls")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy: linear rise to `peak_lr` over `pct_start` of the run, then
    linear fall to `peak_lr / final_div`.

    Example:
        >>> schedule = OneCycle(0.4, total_steps=100, pct_start=0.25)
        >>> round(float(schedule(25)), 3)
        0.4
    """

    def __init__(
        self,
        peak_lr: float,
        total_steps,
        pct_start: float = 0.25,
        initial_div: float = 25.0,
        final_div: float = 1e4,
    ):
        self.peak_lr = float(peak_lr)
        self.total_steps = total_steps  # an int, or a time budget's keras.Variable
        self.pct_start = float(pct_start)
        self.initial_div = float(initial_div)
        self.final_div = float(final_div)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.maximum(ops.cast(self.total_steps, "float32"), 1.0)
        up_steps = ops.maximum(self.pct_start * total, 1.0)
        down_steps = ops.maximum(total - up_steps, 1.0)
        start, end = self.peak_lr / self.initial_div, self.peak_lr / self.final_div
        rising = start + (self.peak_lr - start) * step / up_steps
        falling = self.peak_lr + (end - self.peak_lr) * ops.clip(
            (step - up_steps) / down_steps, 0, 1
        )
        return ops.where(step < up_steps, rising, falling)

    def get_config(self) -> dict:
        return {
            "peak_lr": self.peak_lr,
            "total_steps": int(ops.convert_to_numpy(self.total_steps)),
            "pct_start": self.pct_start,
            "initial_div": self.initial_div,
            "final_div": self.final_div,
        }


@keras.saving.register_keras_serializable(package="kerascls")
class Triangle(keras.optimizers.schedules.LearningRateSchedule):
    """airbench's short schedule: linear from `start_factor * peak_lr` up to `peak_lr` over
    the first `warmup_fraction` of the steps, then linear down to `final_factor * peak_lr`
    at the last step.

    `total_steps` may be a `keras.Variable`: a time-budgeted run sets it once it has
    measured its own speed (see `kerascls.train.budget`), and the warm-up follows.

    Example:
        >>> schedule = Triangle(1.0, total_steps=100, warmup_fraction=0.25)
        >>> [round(float(schedule(s)), 3) for s in (0, 25, 100)]
        [0.2, 1.0, 0.07]
    """

    def __init__(
        self,
        peak_lr: float,
        total_steps,
        warmup_fraction: float = 0.23,
        start_factor: float = 0.2,
        final_factor: float = 0.07,
    ):
        self.peak_lr = float(peak_lr)
        self.total_steps = total_steps
        self.warmup_fraction = float(warmup_fraction)
        self.start_factor = float(start_factor)
        self.final_factor = float(final_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.maximum(ops.cast(self.total_steps, "float32"), 1.0)
        warmup = ops.maximum(ops.floor(self.warmup_fraction * total), 1.0)
        rising = self.start_factor + (1.0 - self.start_factor) * step / warmup
        progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
        falling = 1.0 + (self.final_factor - 1.0) * progress
        return self.peak_lr * ops.where(step < warmup, rising, falling)

    def get_config(self) -> dict:
        return {
            "peak_lr": self.peak_lr,
            "total_steps": int(ops.convert_to_numpy(self.total_steps)),
            "warmup_fraction": self.warmup_fraction,
            "start_factor": self.start_factor,
            "final_factor": self.final_factor,
        }


def learning_rate(
    recipe: Recipe, steps_per_epoch: int, total_steps=None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate (a float or a schedule) that `recipe.schedule` names.

    `total_steps` (an int or a `keras.Variable`) overrides epochs x steps_per_epoch; the
    time budget passes a variable it sets once the run's speed is known.
    """
    total = recipe.epoch_count() * steps_per_epoch if total_steps is None else total_steps
    if recipe.schedule == "constant":
        return recipe.lr
    if recipe.schedule == "step":
        # PiecewiseConstantDecay keeps the old value at a boundary step itself; step - 1
        # makes the new rate start with the first step of the named epoch.
        boundaries = [int(epoch * steps_per_epoch) - 1 for epoch in recipe.step_epochs]
        values = [recipe.lr * recipe.step_gamma**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if recipe.schedule == "cosine":
        if isinstance(total, keras.Variable):  # a time budget: the warm-up keeps its share
            return WarmupCosine(
                recipe.lr, total_steps=total, warmup_fraction=recipe.warmup_fraction()
            )
        warmup = int(recipe.warmup_epochs * steps_per_epoch)
        return WarmupCosine(recipe.lr, total_steps=total, warmup_steps=warmup)
    if recipe.schedule == "triangle":
        return Triangle(recipe.lr, total_steps=total, warmup_fraction=recipe.warmup_fraction())
    return OneCycle(recipe.lr, total_steps=total)


@keras.saving.register_keras_serializable(package="kerascls")
class BiasScaledSGD(keras.optimizers.SGD):
    """SGD whose steps on BatchNorm biases ("beta") are `bias_lr_scale` times larger.

    airbench trains its scale-free BatchNorm biases 64x faster than the weights: a bias is
    one number per channel and moves far less per step than a whole kernel does. Weight
    decay stays the same for both (it is applied from the base learning rate).

    Example:
        >>> optimizer = BiasScaledSGD(0.1, bias_lr_scale=64.0, momentum=0.9)
        >>> optimizer.get_config()["bias_lr_scale"]
        64.0
    """

    def __init__(self, *args, bias_lr_scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias_lr_scale = float(bias_lr_scale)
        self._scaled_keys: set = set()

    def build(self, variables):
        if not self.built:
            # update_step sees the backend's variables, not Keras', so names are matched
            # here and looked up by the optimizer's own variable key.
            self._scaled_keys = {self._var_key(v) for v in variables if v.path.endswith("beta")}
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) in self._scaled_keys:
            learning_rate = learning_rate * self.bias_lr_scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "bias_lr_scale": self.bias_lr_scale}


def build_optimizer(
    recipe: Recipe, steps_per_epoch: int, total_steps=None
) -> keras.optimizers.Optimizer:
    """The optimizer of the recipe, with weight decay kept off normalization layers, biases
    and ViT class tokens and position embeddings.

    Decoupled weight decay on BatchNorm's gamma/beta only shrinks the scale that the next
    convolution undoes, and hurts accuracy; biases are excluded by convention. With
    `bias_lr_scale` (airbench's scale-free BatchNorm) the BatchNorm biases are decayed
    as airbench does.
    """
    lr = learning_rate(recipe, steps_per_epoch, total_steps)
    clip = {"global_clipnorm": recipe.clipnorm} if recipe.clipnorm else {}
    decay = recipe.weight_decay or None
    if recipe.optimizer == "sgd" and recipe.bias_lr_scale != 1.0:
        optimizer = BiasScaledSGD(
            lr,
            bias_lr_scale=recipe.bias_lr_scale,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov,
            weight_decay=decay,
            **clip,
        )
        if decay:
            optimizer.exclude_from_weight_decay(var_names=["gamma", "bias"])
        return optimizer
    if recipe.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            lr, momentum=recipe.momentum, nesterov=recipe.nesterov, weight_decay=decay, **clip
        )
    elif recipe.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr, weight_decay=decay, **clip)
    else:
        optimizer = keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay, **clip)
    if decay:
        # ViTs' class token and position embeddings are not decayed either (DeiT, timm)
        optimizer.exclude_from_weight_decay(
            var_names=["gamma", "beta", "bias", "class_token", "position_embedding"]
        )
    return optimizer
