"""Training: the recipe, `fit`, and the run folders it writes."""

from kerascls.runs import Run, find_runs, load_run
from kerascls.train.fit import fit, resume
from kerascls.train.kfold import CrossValidation, cross_validate
from kerascls.train.recipe import Recipe

__all__ = [
    "CrossValidation",
    "Recipe",
    "Run",
    "cross_validate",
    "find_runs",
    "fit",
    "load_run",
    "resume",
]
