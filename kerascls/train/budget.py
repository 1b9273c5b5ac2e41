"""A time budget for a training run: `Recipe(time_budget=900)`, `--time-budget 15m`.

The run cannot know how many steps fit in the budget until it has measured itself, so
its schedule reads the total number of steps from a variable (`Triangle` and `Lookahead`
both do), and `TimeBudget` sets that variable: after the first few steps, from the
measured seconds per step, and again at the end of every epoch, when the cost of the
validation pass is known too. The run then ends on time with the learning rate annealed
to its final value, leaving a reserve for the final evaluation.

Example:
    >>> parse_duration("15m"), parse_duration("90s"), parse_duration("1.5h"), parse_duration("600")
    (900.0, 90.0, 5400.0, 600.0)
"""

from __future__ import annotations

import logging
import re
import time

import keras
import numpy as np

from kerascls.errors import KerasclsError

log = logging.getLogger(__name__)

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str | float) -> float:
    """Seconds in "900", "900s", "15m", "15min" or "1.5h"; a clear error otherwise."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h)?\s*", str(text).lower())
        if not match:
            raise KerasclsError(
                f"time budget {text!r} is not a duration: write e.g. 900, 900s, 15m or 1.5h"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or ""]
    if seconds <= 0:
        raise KerasclsError(f"time budget must be positive, got {text!r}")
    return seconds


class TimeBudget(keras.callbacks.Callback):
    """Fit the run's total steps into the time left before `deadline`, then stop there.

    Args:
        deadline: `time.perf_counter()` value by which the run must be evaluated.
        total_steps: the `keras.Variable` the schedule and lookahead read.
        steps_per_epoch: training steps in one epoch.
        start_step: steps already done (a resumed run).
        reserve_seconds: kept free at the end, beside `final_passes` validation passes,
            for the final evaluation (reloading best.keras, then plain and flip-TTA).
        on_plan: called with every new total (the run records it to resume with).
        measure_steps: steps timed before the first plan (the first step, which traces
            the graph, is never counted).
        max_steps: the most steps the run may take (the recipe's epochs), however much
            time is left; None: no bound.
        final_images_ratio: images of the final evaluation per validation image (the test
            split may be larger than the validation split).
    """

    def __init__(
        self,
        deadline: float,
        total_steps: keras.Variable,
        steps_per_epoch: int,
        start_step: int = 0,
        reserve_seconds: float = 10.0,
        final_passes: int = 2,
        on_plan=None,
        measure_steps: int = 4,
        max_steps: int | None = None,
        final_images_ratio: float = 1.0,
    ):
        super().__init__()
        self.deadline = deadline
        self.total_steps = total_steps
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.reserve_seconds = float(reserve_seconds)
        self.final_passes = final_passes
        self.on_plan = on_plan
        self.step = int(start_step)
        self.measure_steps = max(int(measure_steps), 1)
        self.max_steps = max_steps
        self.final_images_ratio = float(final_images_ratio)
        self.step_seconds: list[float] = []
        self.validation_seconds: float | None = None
        self._epoch_train_seconds = 0.0
        self._replan_after_measuring = True  # plan as soon as measure_steps are timed
        self._per_step = 1.0  # seconds a step, as last measured

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_train_seconds = 0.0

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        seconds = time.perf_counter() - self._step_start
        self._epoch_train_seconds += seconds
        self.step += 1
        if batch > 0:  # a new epoch's first step waits for the pipeline to refill
            self.step_seconds.append(seconds)
        if len(self.step_seconds) == self.measure_steps and self._replan_after_measuring:
            self._replan_after_measuring = False
            self.plan()
        if self.step >= self.planned_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        # what the epoch took beyond its training steps: mostly the validation pass
        self.validation_seconds = max(
            time.perf_counter() - self._epoch_start - self._epoch_train_seconds, 0.0
        )
        if self.step < self.planned_steps:
            self.plan()
        if self.step >= self.planned_steps:  # no time for another step: end on this epoch
            self.model.stop_training = True

    def speed_changed(self) -> None:
        """The steps from now on cost differently (fine-tuning unfroze the backbone):
        forget the timings so far and plan again once `measure_steps` new ones are in."""
        self.step_seconds = []
        self._replan_after_measuring = True

    @property
    def planned_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self.total_steps))

    def plan(self) -> int:
        """Set the total steps from the measured speed; returns the new total."""
        recent = self.step_seconds[-4 * self.steps_per_epoch :]
        # just after a change of speed, until new steps are timed: the last estimate
        per_step = float(np.median(recent)) if recent else self._per_step
        self._per_step = per_step
        # Before the first validation is timed, guess it at a third of an epoch's steps
        # per validation image (inference costs about a third of training).
        validation = (
            self.validation_seconds
            if self.validation_seconds is not None
            else per_step * self.steps_per_epoch / 3 * 0.1
        )
        reserve = self.reserve_seconds + self.final_passes * validation * self.final_images_ratio
        left = self.deadline - time.perf_counter() - reserve
        per_step_all_in = per_step + validation / self.steps_per_epoch
        more = max(int(left / per_step_all_in), 0)
        # Mid-epoch the run takes at least one more step; at an epoch's end none is owed
        # (one more step there would be a whole epoch's pipeline refill and checkpoints).
        at_epoch_end = self.step % self.steps_per_epoch == 0
        total = self.step + more if at_epoch_end else max(self.step + more, self.step + 1)
        if self.max_steps is not None:
            total = max(min(total, self.max_steps), self.step)
        self.total_steps.assign(total)
        if self.on_plan is not None:
            self.on_plan(total)
        # said once, when the speed is first measured; then each epoch's heading says it
        log.log(
            logging.INFO if self.validation_seconds is None else logging.DEBUG,
            "time budget: %.2f s/step, %d steps planned (%.1f epochs), %.0f s left",
            per_step,
            total,
            total / self.steps_per_epoch,
            left,
        )
        return total
