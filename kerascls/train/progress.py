"""The progress display of a run: Keras's bar, headed by the planned epochs and time left.

Keras prints "Epoch 3/100000" for a run whose length a time budget decides as it goes.
`RunProgress` replaces Keras's own ProgbarLogger (Keras adds none when one is given). Once
the first steps are timed it says how long the run should take, and it heads each epoch
with what the run will really do: the epochs planned so far and the time left:

    expected: about 5 min 50 s in all, 10 epochs at 0.71 s a step (ends by 12:41:07)
    Epoch 3/14 · 2 min 40 s left (ends by 12:41:07)

Example:
    >>> progress = RunProgress(steps_per_epoch=10, total_steps=140, started=0.0)
    >>> progress.planned_epochs()
    14
    >>> format_seconds(160), format_seconds(42.4), format_seconds(3720)
    ('2 min 40 s', '42 s', '1 h 2 min')
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
from keras.src.utils import io_utils


def format_seconds(seconds: float) -> str:
    """A duration as people read it: '42 s', '2 min 40 s', '1 h 2 min'."""
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class RunProgress(keras.callbacks.ProgbarLogger):
    """Keras's progress bar with each epoch's line giving the planned epochs and time left.

    Args:
        steps_per_epoch: training steps in one epoch.
        total_steps: the run's planned steps: an int, or the `keras.Variable` a time
            budget sets as it measures the run's speed.
        started: `time.perf_counter()` when the run started (the process start for the
            command line).
        deadline: `time.perf_counter()` by which a budgeted run ends; None: the time left
            is estimated from the epochs done so far.
        start_step: steps already done (a resumed run).
        measure_steps: steps timed (after the first, which traces the graph) before the
            expected duration is printed.
    """

    def __init__(
        self,
        steps_per_epoch: int,
        total_steps: Any,
        started: float,
        deadline: float | None = None,
        start_step: int = 0,
        measure_steps: int = 4,
    ):
        super().__init__()
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.total_steps = total_steps
        self.started = started
        self.deadline = deadline
        self._first_epoch = start_step // self.steps_per_epoch
        self._fit_started: float | None = None
        self.measure_steps = max(int(measure_steps), 1)
        self._step_seconds: list[float] = []
        self._step_started = 0.0
        self.expected_seconds: float | None = None

    def planned_epochs(self) -> int:
        total = int(keras.ops.convert_to_numpy(self.total_steps))
        return max(math.ceil(total / self.steps_per_epoch), 1)

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        self._fit_started = time.perf_counter()

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        super().on_train_batch_end(batch, logs)
        if self.expected_seconds is not None or batch == 0:
            return
        self._step_seconds.append(time.perf_counter() - self._step_started)
        if len(self._step_seconds) == self.measure_steps:
            self.expected_seconds = self.expected_total()
            if self.verbose:
                finish = time.localtime(time.time() + self.expected_seconds - self.elapsed())
                io_utils.print_msg(
                    f"\nexpected: about {format_seconds(self.expected_seconds)} in all, "
                    f"{self.planned_epochs()} epochs at {self.step_time():.2f} s a step "
                    f"(ends by {time.strftime('%H:%M:%S', finish)})"
                )

    def step_time(self) -> float:
        """The median of the timed steps, in seconds."""
        ordered = sorted(self._step_seconds)
        return ordered[len(ordered) // 2] if ordered else 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def expected_total(self) -> float:
        """Seconds from the run's start to its end: so far, plus the planned steps left at
        the measured speed (and a tenth more for validation passes), within the deadline."""
        steps_left = int(keras.ops.convert_to_numpy(self.total_steps)) - self._steps_done()
        total = self.elapsed() + max(steps_left, 0) * self.step_time() * 1.1
        if self.deadline is not None:
            total = min(total, self.deadline - self.started)
        return total

    def _steps_done(self) -> int:
        return self._first_epoch * self.steps_per_epoch + len(self._step_seconds) + 1

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose:
            line = f"Epoch {epoch + 1}/{self.planned_epochs()}"
            left = self.seconds_left(epoch)
            if left is not None:
                finish = time.strftime("%H:%M:%S", time.localtime(time.time() + left))
                line += f" · {format_seconds(left)} left (ends by {finish})"
            io_utils.print_msg(line)

    def seconds_left(self, epoch: int) -> float | None:
        """Seconds until the run ends: the mean epoch so far times the epochs still
        planned, and never past the deadline of a budgeted run; None before anything can
        be said (the first epoch of a run without a deadline)."""
        now = time.perf_counter()
        estimate = None
        done = epoch - self._first_epoch
        if done >= 1 and self._fit_started is not None:
            per_epoch = (now - self._fit_started) / done
            estimate = per_epoch * max(self.planned_epochs() - epoch, 0)
        if self.deadline is not None:
            to_deadline = max(self.deadline - now, 0.0)
            estimate = to_deadline if estimate is None else min(estimate, to_deadline)
        return estimate
