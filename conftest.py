"""pytest set-up shared by tests/ and the docstring examples of kerascls/ (doctests).

`python -m pytest` collects both (pyproject.toml: testpaths, --doctest-modules), in one
process: an example must leave no state behind that a later test or example would see.
"""

import sys

import pytest


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
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    before = _policy()
    yield
    after = _policy()
    if after != before:
        sys.modules["keras"].mixed_precision.set_global_policy(before)
        pytest.fail(f"the example changed Keras' mixed-precision policy ({before} -> {after})")


def _policy() -> str:
    keras = sys.modules.get("keras")  # not imported yet: Keras' default
    return keras.mixed_precision.global_policy().name if keras is not None else "float32"
