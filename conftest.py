"""pytest set-up shared by tests/ and the docstring examples of kerascls/ (doctests).

`python -m pytest` collects both (pyproject.toml: testpaths, --doctest-modules), in one
process: an example must leave no state behind that a later test or example would see.

`import kerascls` first, as every command and example does: it turns TensorFlow's oneDNN
kernels on before TensorFlow loads, so the tests run the same kernels as users do. The
session fixtures (tests/shared_fixtures.py) serve both: an example whose text names
`trained_run` gets a copy of the tests' tiny trained run instead of training its own.
"""

import kerascls  # noqa: F401, I001  (before anything imports TensorFlow)

import os
import sys
from pathlib import Path

import pytest

# tests/helpers.py and tests/shared_fixtures.py, for the doctests of kerascls/ too
sys.path.insert(0, str(Path(__file__).parent / "tests"))
pytest_plugins = ["shared_fixtures"]  # not "fixtures": a name pytest uses itself


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """Put TF_USE_LEGACY_KERAS back as it was before collection.

    Collecting kerascls/ for its doctests imports every module, kerascls.optimize's too,
    and importing tensorflow-model-optimization sets TF_USE_LEGACY_KERAS=1 in os.environ
    for good (tfmot's keras/compat.py). Every module is loaded by then, tfmot's Keras
    resolved; only the processes the tests start would still see the variable, and a
    fresh process that merely builds a Keras 3 model must not (test_models_api checks it).
    """
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        return (yield)
    finally:
        if before is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = before


@pytest.fixture(autouse=True)
def _doctest_isolation(request, monkeypatch):
    """Run each doctest in an empty folder of its own, and fail one that leaves Keras'
    global mixed-precision policy changed (it is put back first).

    The folder: an example that writes a relative path (logs/, exports/) leaves nothing in
    the checkout, and none can lean on the checkout's own logs/ folder.
    """
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    tmp_path = request.getfixturevalue("tmp_path")
    monkeypatch.chdir(tmp_path)
    if "trained_run" in (request.node.dtest.docstring or ""):
        from helpers import copy_run

        run = copy_run(request.getfixturevalue("tiny_run"), tmp_path / "trained")
        request.getfixturevalue("doctest_namespace")["trained_run"] = run
    before = _policy()
    yield
    after = _policy()
    if after != before:
        sys.modules["keras"].mixed_precision.set_global_policy(before)
        pytest.fail(f"the example changed Keras' mixed-precision policy ({before} -> {after})")


def _policy() -> str:
    keras = sys.modules.get("keras")  # not imported yet: Keras' default
    return keras.mixed_precision.global_policy().name if keras is not None else "float32"
