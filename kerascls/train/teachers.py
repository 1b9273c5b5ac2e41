"""Teachers trained for a run: `--teachers N` trains N `fast` runs, then distills from them.

Distilling from the mean of three 10-epoch `fast` runs gained 0.6 points on CIFAR-10 over
the same wide network alone (benchmarks/README.md: 91.06% against 90.44%), more than
twice the epochs did. `kerascls-train --recipe long --teachers 3` does the whole of it in
one command: the teachers first, then the run itself with `distill_from` set to them
(kerascls/train/teacher_targets.py).

The teachers are ordinary run folders under `<logdir>/<data>/teachers/`, named by their
model and seed and by what decides whether they can teach this run (the images held out
for validation, and the image size): `teachers/airbench-seed1-5000val-0-32x32` is the
seed-1 teacher that held out 5,000 images with hold-out seed 0, at 32x32. They are
kept, so that:

- a command killed while its teachers train continues where it stopped when it is run
  again: a finished teacher is reused, an interrupted one resumed from its last epoch;
- a second run on the same data with the same seed reuses them.

Teacher k (from 1) of a run of seed s has seed s x N + k: the teachers of one run differ
from each other and from the teachers of the runs of seeds s+1, s+2, ..., so runs of
several seeds measure the recipe's spread with their teachers' in it.

Under a time budget (`--time-budget 60m --teachers 3`) the budget is the whole command's:
the teachers take `BUDGET_SHARE` of it between them, each its own time budget (and a
name that says it, so that teachers of another budget are not taken for them), and the
run trains in what they leave, its targets' computation included.

Example (a tiny CNN stands in for the run, and for `fast` as the teachers' recipe; the
real teachers are `Recipe.preset("fast")` on the same data):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.train.recipe import Recipe
    >>> x = np.random.default_rng(0).integers(0, 256, (48, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(48) % 2, class_names=["cat", "dog"], validation_size=16)
    >>> tiny = Recipe(model="cnn", model_kwargs={"filters": (8,), "convs_per_stage": 1},
    ...               epochs=1, augment="none", logdir=tempfile.mkdtemp(), teachers=2)
    >>> student = train_teachers(tiny, data, teacher_recipe=tiny, verbose=0)
    >>> [Path(path).name for path in student.distill_from]
    ['cnn-seed1-16val-0-16x16', 'cnn-seed2-16val-0-16x16']
    >>> train_teachers(tiny, data, teacher_recipe=tiny, verbose=0) == student  # reused
    True
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kerascls.runs import load_run
from kerascls.train.progress import format_seconds
from kerascls.train.recipe import Recipe

TEACHERS_FOLDER = "teachers"  # under <logdir>/<data>/
TEACHER_PRESET = "fast"
# Under a time budget the teachers share this much of it, evenly. At the presets' own
# lengths on CIFAR-10, three `fast` teachers took 22 of the 53.5 minutes of
# `--recipe long --teachers 3` (benchmarks/README.md): the student keeps the larger part.
BUDGET_SHARE = 0.4


def teacher_seeds(seed: int, count: int) -> list[int]:
    """The seeds of a run's `count` teachers: seed x count + 1, ..., seed x count + count.

    Example:
        >>> teacher_seeds(0, 3), teacher_seeds(1, 3)
        ([1, 2, 3], [4, 5, 6])
    """
    return [seed * count + k for k in range(1, count + 1)]


def teacher_budget(recipe: Recipe) -> float | None:
    """Seconds each of the run's teachers may take, start to evaluated run, under its time
    budget; None without one.

    Example:
        >>> teacher_budget(Recipe(time_budget=3600, teachers=3)), teacher_budget(Recipe(teachers=3))
        (480.0, None)
    """
    if recipe.time_budget is None or not recipe.teachers:
        return None
    return recipe.time_budget * BUDGET_SHARE / recipe.teachers


def train_teachers(
    recipe: Recipe,
    data: Any,
    *,
    teacher_recipe: Recipe | None = None,
    callbacks: list | None = None,
    verbose: int | str = "auto",
) -> Recipe:
    """`recipe` with `distill_from` set to its `recipe.teachers` teachers, trained first
    where `<logdir>/<data>/teachers/` does not hold them finished.

    Args:
        recipe: the run to teach (its data, hold-out, seed and logdir).
        data: the loaded ImageDataset the run trains on.
        teacher_recipe: the teachers' recipe before the run's data and seeds are set on
            it; None: `Recipe.preset("fast")`.
        callbacks, verbose: as in `fit`, for each teacher trained.
    """
    from kerascls.train.fit import dataset_name, fit
    from kerascls.train.plan import plan_run

    base = teacher_recipe or Recipe.preset(TEACHER_PRESET)
    # the teachers train on the images at the size the run will (the run's plan: on a
    # CPU, airbench's keeps photos at 64 px, a transfer model's at 128)
    data = plan_run(recipe, data).data
    folder = Path(recipe.logdir) / dataset_name(recipe, data) / TEACHERS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    seeds = teacher_seeds(recipe.seed, recipe.teachers)
    budget = teacher_budget(recipe)
    if verbose != 0:
        each = "" if budget is None else f", up to {format_seconds(budget)} each,"
        print(
            f"teachers: {len(seeds)} runs of seeds {', '.join(map(str, seeds))} first{each} "
            f"kept in {folder} (stopped? run the same command again: it continues them)"
        )
    for number, seed in enumerate(seeds, start=1):
        name = _teacher_name(base.model, seed, data, budget)
        teacher = dataclasses.replace(
            base,
            data_dir=recipe.data_dir,
            validation_size=recipe.validation_size,
            validation_seed=recipe.validation_seed,
            image_size=tuple(data.image_size),
            seed=seed,
            logdir=recipe.logdir,
            run_name=f"{TEACHERS_FOLDER}/{name}",
            mixed_precision=recipe.mixed_precision,
            adapt_to_data=recipe.adapt_to_data,  # --no-plan: the teachers as written too
            time_budget=budget,
            teachers=0,
            distill_from=(),
            set_by_user=tuple(sorted({*base.set_by_user, "image_size", "seed", "validation_size"})),
        )
        done = _finished_or_resumed(folder, name, data, callbacks, verbose)
        if done is None:
            if verbose != 0:
                print(f"\n=== teacher {number} of {len(seeds)}: {base.model}, seed {seed} ===")
            done = fit(teacher, data=data, callbacks=callbacks, verbose=verbose).path
        elif verbose != 0:
            print(f"teacher {number} of {len(seeds)}: {done} (trained before)")
        paths.append(str(Path(done).resolve()))
    return dataclasses.replace(recipe, distill_from=tuple(paths))


def _teacher_name(model: str, seed: int, data: Any, budget: float | None = None) -> str:
    """The folder name of a teacher: what it is, the hold-out and size it can teach, and
    its time budget if it had one."""
    held_out = len(data.validation) if data.validation is not None else 0
    source = getattr(data, "source", None) or {}
    size = "x".join(map(str, data.image_size))
    name = f"{model}-seed{seed}-{held_out}val-{source.get('seed', 0)}-{size}"
    return name if budget is None else f"{name}-{round(budget)}s"


def _finished_or_resumed(
    folder: Path, name: str, data: Any, callbacks: list | None, verbose: int | str
) -> Path | None:
    """The teacher `name` finished, resuming it if it was interrupted; None when there is
    none to continue. A folder killed before its first epoch ended is left as it is, and
    `fit` then names the new one `name-2` (new_run_dir), so those are looked at too."""
    from kerascls.train.resume import resume

    candidates = [folder / name, *sorted(folder.glob(f"{name}-*"))]
    runs = [load_run(path) for path in candidates if (path / "run.json").is_file()]
    for run in runs:
        if run.info.status == "finished":
            return run.path
    for run in runs:
        if (run.path / "backup").is_dir() or (run.path / "best.keras").is_file():
            if verbose != 0:
                print(f"\n=== teacher {run.path.name}: continuing where it stopped ===")
            return resume(run.path, data=data, callbacks=callbacks, verbose=verbose).path
    return None
