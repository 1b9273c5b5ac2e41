"""pytest set-up shared by tests/ and the docstring examples of kerascls/ (doctests).

`python -m pytest` collects both (pyproject.toml: testpaths, --doctest-modules), in one
process: an example must leave no state behind that a later test or example would see.
"""

import sys

import pytest


@pytest.fixture(autouse=True)
def _doctest_isolation(request, monkeypatch):
    """Run each doctest in an empty folder of its own, and fail one that leaves Keras'
    global mixed-precision policy changed.

    The folder: an example that writes a relative path (logs/, exports/) leaves nothing in
    the checkout, and none can lean on the checkout's own logs/ folder.
    """
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    yield
    keras = sys.modules.get("keras")
    if keras is not None and keras.mixed_precision.global_policy().name != "float32":
        keras.mixed_precision.set_global_policy("float32")
        pytest.fail("the example left Keras' mixed-precision policy changed: restore float32")
