"""The session fixtures of tests/ and of the docstring examples (a pytest plugin that the
root conftest.py loads), each built once however many test files use it:

- `colour_folder`: an image folder, train/{blue,green,red}/*.png, 60 16x16 PNGs a class;
- `tiny_run`: a finished run of a tiny CNN trained on it (4 epochs of Adam, 144 training
  and 36 validation images, label smoothing 0.05, not the default), with best.keras,
  report.json, run.json;
- `exported_run`: a copy of `tiny_run` with the exports kerascls-serve's tests serve
  (INT8 and float32 TFLite, ONNX, SavedModel; tests/helpers.py `export_for_serving`).

All are shared: tests read them and never write into them. A test that writes into its
run folder (exports, a resume, a child run next to it) works on `copy_run(tiny_run, dir)`
(tests/helpers.py). Teardown fails if any of them changed.
"""

import pytest
from helpers import (
    colour_recipe,
    export_for_serving,
    folder_listing,
    write_colour_folder,
)


def _unchanged(folder, before: dict[str, int], name: str) -> None:
    after = folder_listing(folder)
    if after != before:
        changed = sorted(set(after.items()) ^ set(before.items()))[:5]
        pytest.fail(f"the shared {name} was written into (copy it first): {changed}")


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """root/train/{blue,green,red}/*.png: 60 16x16 colour PNGs a class (180 in all)."""
    root = write_colour_folder(tmp_path_factory.mktemp("shared") / "colours", per_class=60)
    before = folder_listing(root)
    yield root
    _unchanged(root, before, "colour_folder")


@pytest.fixture(scope="session")
def tiny_run(colour_folder, tmp_path_factory):
    """A tiny CNN trained on `colour_folder`: validation 20% (36 images), batch 16 (not
    adapted: 144 training images give 9 steps an epoch), label smoothing 0.05 (not the
    default 0.1, so a run made from it can be seen to inherit it)."""
    from kerascls.train import fit

    root = tmp_path_factory.mktemp("tiny_run")
    recipe = colour_recipe(
        colour_folder,
        root,
        early_stopping_patience=0,
        epochs=4,
        weight_decay=0.0,
        label_smoothing=0.05,
        run_name="tiny",
    )
    run = fit(recipe, verbose=0)
    before = folder_listing(run.path)
    yield run
    _unchanged(run.path, before, "tiny_run")


@pytest.fixture(scope="session")
def exported_run(tiny_run, tmp_path_factory):
    """A copy of `tiny_run` whose exports/ holds model_int8.tflite, model_float32.tflite,
    model.onnx and saved_model/, each passed its checks (the serving tests' models)."""
    run = export_for_serving(tiny_run, tmp_path_factory.mktemp("exported_run"))
    before = folder_listing(run.path)
    yield run
    _unchanged(run.path, before, "exported_run")
