"""The callbacks that follow a run's schedule: its length, its phases and its clock.

The schedule's length is an int, or a `keras.Variable` that a time budget sets as it
measures the run's speed; the progress display, the fine-tuning phases and lookahead all
read it, so they stay in step with the budget's plan.
"""

from __future__ import annotations

from typing import Any

import keras

from kerascls.data import ImageDataset, LowResolution
from kerascls.runs import Run
from kerascls.train.budget import TimeBudget
from kerascls.train.lookahead import Lookahead
from kerascls.train.progress import RunProgress
from kerascls.train.recipe import Recipe
from kerascls.train.resolution import ResolutionSwitch
from kerascls.train.transfer_learning import FineTunePhases


def schedule_callbacks(
    recipe: Recipe,
    run: Run,
    data: ImageDataset,
    total_steps: Any,
    steps: int,
    started: float,
    done_steps: int = 0,
    low_resolution: LowResolution | None = None,
) -> list[keras.callbacks.Callback]:
    """The progress display, fine-tuning phases, time budget and lookahead of a run.

    Args:
        recipe: the run's (planned) recipe.
        run: the run, whose run.json they update (planned steps, the phase switch).
        data: the run's data (the final evaluation's size, for the budget's reserve).
        total_steps: the schedule's length: an int, or the variable a budget sets.
        steps: training steps an epoch.
        started: `time.perf_counter()` the budget counts from.
        done_steps: steps already trained (a resumed run).
        low_resolution: the pipeline's low-resolution phase (progressive resizing), which
            `ResolutionSwitch` ends; None: one size.
    """
    deadline = None if recipe.time_budget is None else started + recipe.time_budget
    budget = _time_budget(recipe, run, data, total_steps, steps, done_steps, deadline)
    callbacks = _phase_switches(recipe, run, total_steps, budget, deadline, low_resolution)
    if budget is not None:
        callbacks.append(budget)
    if recipe.lookahead:
        callbacks.append(Lookahead(total_steps, start_step=done_steps))
    # last: its figures then read the plan the budget has just made at the same step
    callbacks.append(
        RunProgress(steps, total_steps, started, deadline=deadline, start_step=done_steps)
    )
    return callbacks


def _time_budget(
    recipe: Recipe,
    run: Run,
    data: ImageDataset,
    total_steps: Any,
    steps: int,
    done_steps: int,
    deadline: float | None,
) -> TimeBudget | None:
    if deadline is None:
        return None
    # the plan's time cap bounds its extra epochs; a budget the user set trains on
    capped = run.info.time_capped
    final = data.test if data.test is not None else data.validation
    return TimeBudget(
        deadline=deadline,
        total_steps=total_steps,
        steps_per_epoch=steps,
        start_step=done_steps,
        on_plan=lambda total: run.update(planned_steps=total),
        max_steps=recipe.epochs * steps if capped else None,
        final_images_ratio=len(final) / max(len(data.validation), 1),
    )


def _phase_switches(
    recipe: Recipe,
    run: Run,
    total_steps: Any,
    budget: TimeBudget | None,
    deadline: float | None,
    low_resolution: LowResolution | None,
) -> list[keras.callbacks.Callback]:
    """The switches that change the cost of a step part-way (fine-tuning's unfrozen
    backbone, full resolution after low): each is recorded in run.json, and the time
    budget re-measures its speed after it."""

    def recorded(key: str):
        def on_switch(step: int) -> None:
            run.update(**{key: step})
            if budget is not None:
                budget.speed_changed()

        return on_switch

    callbacks: list[keras.callbacks.Callback] = []
    if recipe.fine_tune_switch is not None:
        callbacks.append(
            FineTunePhases(
                recipe.fine_tune_switch,
                total_steps,
                recipe.fine_tune_unfreeze,
                recipe.fine_tune_lr_factor,
                on_switch=recorded("fine_tune_switched_at"),
                deadline=deadline,
            )
        )
    if low_resolution is not None:
        callbacks.append(
            ResolutionSwitch(
                low_resolution.active,
                recipe.low_res_share,
                total_steps,
                on_switch=recorded("full_resolution_from_step"),
            )
        )
    return callbacks
