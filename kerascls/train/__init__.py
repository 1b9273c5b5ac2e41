"""Training: the recipe, `fit`, and the run folders it writes."""

from kerascls.runs import Run, find_runs, load_run
from kerascls.train import presets  # noqa: F401  importing registers the named recipes
from kerascls.train.fit import fit
from kerascls.train.kfold import CrossValidation, cross_validate
from kerascls.train.recipe import Recipe

# binds the function over the module of the same name: `kerascls.train.resume` is
# `resume(...)`; the module is sys.modules["kerascls.train.resume"]
from kerascls.train.resume import resume

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
