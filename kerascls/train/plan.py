"""The plan of a run: what the recipe becomes on this data and this machine, and why.

A recipe is written for CIFAR-10 (45,000 images of 32x32, 10 epochs at batch 1024). A
user's folder is a few hundred to a few thousand photos of 100-500 pixels, trained on a
laptop. `plan_run` fits the one to the other, one decision at a time, each printed at the
start of the run with its reason and kept in run.json under "plan":

- image size: on a CPU, photos train at 64x64 at most (compute grows with the square of
  the side: 64 px costs about a fifth of 150 px, which is what lets a folder of 3,000
  photos train for 400 steps in minutes); on a GPU at the folder's own size (up to 224).
  Whether 96 or 128 px would pay for their cost on photos with full detail is not
  measured (benchmarks/README.md: the folders there carry 32 px of detail);
- the order of resolutions: one size throughout. Progressive resizing
  (kerascls/train/resolution.py: the first half of the steps at half the side, a
  quarter of the compute a step) was measured on the benchmark's 150 px photo folders
  and did not pay on a CPU: at the same steps it ends about 30% sooner and scores 0 to
  1.6 points lower, and given the time it saves as more steps it scored lower still
  (benchmarks/README.md, "Progressive resizing"). The plan says so on a folder where
  it applies, and `--low-res 0.5` trades those points for the time;
- batch size, learning rate and augmentation: `adapt_recipe_to_data` (kerascls/train/adapt.py);
- how long: the recipe's epochs, and on a small folder more of them, so that the run takes
  at least `MIN_STEPS` optimizer steps (10 epochs of 3,000 photos are only a hundred).
  Those extra epochs are bounded on a CPU by a time cap (`CPU_TIME_CAP`): the run measures
  its speed on its first steps and shortens its schedule to end in time (TimeBudget). On a
  GPU they run in full.

Every decision is one flag away (--image-size, --low-res, --model, --batch-size, --epochs,
--time-budget), and a field the user set (named in `recipe.set_by_user`) is never changed;
`--no-plan` (`adapt_to_data=False`) trains the recipe exactly as written.

Example:
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.train.recipe import Recipe
    >>> data = from_arrays(np.zeros((600, 32, 32, 3), np.uint8), np.arange(600) % 2)
    >>> plan = plan_run(Recipe(), data, Machine(gpu=False))
    >>> plan.recipe.batch_size, plan.recipe.epochs, plan.recipe.time_budget
    (64, 45, 480.0)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from kerascls.train.adapt import adapt_recipe_to_data
from kerascls.train.progress import format_seconds
from kerascls.train.recipe import Recipe
from kerascls.train.resolution import low_resolution_size, takes_any_size

CPU_MAX_SIDE = 64  # photos train at most this large on a CPU, from scratch
# ...and this large when fine-tuning an ImageNet backbone, whose features were learnt at
# 224 px and fade below about 96
TRANSFER_CPU_MAX_SIDE = 128
MIN_STEPS = 400  # optimizer steps a run takes at least (the default takes 440 on CIFAR-10)
MAX_EPOCHS = 60  # a small folder's epochs are raised to at most this
CPU_TIME_CAP = 480.0  # seconds: the extra epochs of a small folder end by then on a CPU
# what --low-res 0.5 would start at, said in the plan where it applies: images that stay
# at least LOW_RES_MIN_SIDE pixels at LOW_RES_SCALE of their side
LOW_RES_SCALE = 0.5
LOW_RES_MIN_SIDE = 32


@dataclass(frozen=True)
class Machine:
    """What the plan needs to know about the computer: is there a GPU."""

    gpu: bool

    @classmethod
    def detect(cls) -> Machine:
        import tensorflow as tf

        return cls(gpu=bool(tf.config.list_physical_devices("GPU")))

    def describe(self) -> str:
        if self.gpu:
            return "a GPU"
        from kerascls.train.runtime import describe_cpu

        return f"this CPU, no GPU: {describe_cpu()}"


@dataclass
class Plan:
    """A recipe fitted to the data and the machine, the data at the size it trains at, and
    one line per decision (what changed, and why)."""

    recipe: Recipe
    data: Any  # the ImageDataset, resized when the plan chose a smaller size
    machine: Machine
    notes: list[str] = field(default_factory=list)
    # True when the plan set the time budget (a cap on the extra epochs it added)
    time_cap: bool = False

    def describe(self) -> str:
        """The lines printed at the start of the run, after the data split."""
        recipe = self.recipe
        height, width = self.data.image_size
        how_long = f"{recipe.epochs} epochs"
        if recipe.time_budget is not None:
            budget = format_seconds(recipe.time_budget)
            how_long = (
                f"up to {recipe.epochs} epochs, ending within {budget}"
                if self.time_cap
                else f"as many epochs as fit in {budget}, start to evaluated run"
            )
        size = f"{height}x{width}"
        if recipe.low_res_scale < 1:
            low = "x".join(map(str, low_resolution_size((height, width), recipe.low_res_scale)))
            size = f"{low}, then {size}"
        lines = [
            f"plan: {recipe.model} at {size}, batch {recipe.batch_size}, {how_long} "
            f"(planned for {self.machine.describe()})"
        ]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """What run.json keeps under "plan"."""
        return {
            "model": self.recipe.model,
            "image_size": list(self.data.image_size),
            "low_res_scale": self.recipe.low_res_scale,
            "low_res_share": self.recipe.low_res_share,
            "batch_size": self.recipe.batch_size,
            "lr": self.recipe.lr,
            "epochs": self.recipe.epochs,
            "time_budget": self.recipe.time_budget,
            "time_cap": self.time_cap,
            "gpu": self.machine.gpu,
            "notes": list(self.notes),
        }


def plan_run(recipe: Recipe, data: Any, machine: Machine | None = None) -> Plan:
    """The run's plan: image size, batch size, augmentation and length, with reasons.

    Args:
        recipe: the recipe as written (a preset and the user's flags, named in
            `recipe.set_by_user`).
        data: the loaded ImageDataset, at the size the folder's photos suggest.
        machine: what to plan for; None: this computer.

    Returns:
        The plan; with `recipe.adapt_to_data` False, the recipe and data unchanged.
    """
    machine = machine or Machine.detect()
    if not recipe.adapt_to_data:
        recipe = dataclasses.replace(recipe, epochs=recipe.epoch_count())
        return Plan(recipe, data, machine, ["as written (--no-plan): nothing fitted"])
    notes: list[str] = []
    user_model = "model" in recipe.set_by_user or recipe.init_from
    if not user_model and data.train.paths is not None:
        notes.append(
            f"model {recipe.model}: the recipe's (--model NAME for another, --pretrained to "
            f"fine-tune ImageNet weights, --init-from RUN to start from an earlier run)"
        )
    data = _plan_image_size(recipe, data, machine, notes)
    _note_resolutions(recipe, data, notes)
    recipe, fitted = adapt_recipe_to_data(recipe, len(data.train), data.image_size)
    notes += fitted
    planned = _plan_length(recipe, len(data.train), machine, notes)
    capped = planned.time_budget is not None and recipe.time_budget is None
    return Plan(planned, data, machine, notes, time_cap=capped)


def _plan_image_size(recipe: Recipe, data: Any, machine: Machine, notes: list[str]) -> Any:
    """On a CPU, photos larger than CPU_MAX_SIDE train at that size (files only: arrays
    in memory keep theirs)."""
    if machine.gpu or "image_size" in recipe.set_by_user or data.train.paths is None:
        return data
    from kerascls.models import get_model_info

    transfer = get_model_info(recipe.model).family == "transfer"
    side = TRANSFER_CPU_MAX_SIDE if transfer else CPU_MAX_SIDE
    height, width = data.image_size
    if max(height, width) <= side:
        return data
    scale = side / max(height, width)
    size = (max(round(height * scale), 1), max(round(width * scale), 1))
    speedup = (height * width) / (size[0] * size[1])
    notes.append(
        f"image size {height}x{width} -> {size[0]}x{size[1]}: on a CPU, about {speedup:.2g}x "
        f"less compute a step (--image-size {height} to keep the detail)"
    )
    return data.resized(size, f"{size[0]}x{size[1]}, planned for a CPU (--image-size to change)")


def _note_resolutions(recipe: Recipe, data: Any, notes: list[str]) -> None:
    """The plan keeps the recipe's resolutions (one size unless the user chose --low-res:
    see the module's docstring); where progressive resizing would apply (a network that
    takes any size, on a folder of images that stay at least LOW_RES_MIN_SIDE pixels at
    half their side) it says what --low-res would do."""
    if "low_res_scale" in recipe.set_by_user or recipe.low_res_scale < 1:
        return  # the user chose the resolutions
    if data.train.paths is None or recipe.strategy != "default":
        return
    size = low_resolution_size(data.image_size, LOW_RES_SCALE)
    if min(size) < LOW_RES_MIN_SIDE or not takes_any_size(recipe.model):
        return
    notes.append(
        f"resolutions: one size (--low-res {LOW_RES_SCALE:g} starts at {size[0]}x{size[1]}: "
        f"about 30% less time, 0 to 1.6 points lower on the benchmark's photo folders)"
    )


def _plan_length(recipe: Recipe, num_train: int, machine: Machine, notes: list[str]) -> Recipe:
    """Epochs left to the plan (None): DEFAULT_EPOCHS, more on a small folder, bounded in
    time on a CPU. A number of epochs, or a time budget, is the user's choice."""
    default = recipe.epoch_count()
    if recipe.epochs is not None or recipe.time_budget is not None:
        return dataclasses.replace(recipe, epochs=default)
    steps_per_epoch = max(math.ceil(num_train / recipe.batch_size), 1)
    # a longer recipe ("long": length_scale 2) asks for that many times the steps and time
    scale = recipe.length_scale
    needed = min(math.ceil(MIN_STEPS * scale / steps_per_epoch), round(MAX_EPOCHS * scale))
    if needed <= default:
        return dataclasses.replace(recipe, epochs=default)
    changes: dict[str, Any] = {"epochs": needed}
    # the warm-up keeps its share of the run (the triangle's 23%)
    changes["warmup_epochs"] = recipe.warmup_epochs * needed / default
    why = f"{steps_per_epoch} steps an epoch: at least {round(MIN_STEPS * scale)} steps in all"
    if machine.gpu:
        notes.append(f"epochs {default} -> {needed} ({why})")
    else:
        changes["time_budget"] = CPU_TIME_CAP * scale
        notes.append(
            f"epochs {default} -> up to {needed} ({why}), within "
            f"{CPU_TIME_CAP * scale / 60:.0f} minutes on this CPU: the speed of the first "
            f"steps sets how many fit (--epochs N or --time-budget T to choose)"
        )
    return dataclasses.replace(recipe, **changes)
