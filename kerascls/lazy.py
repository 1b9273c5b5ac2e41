"""Lazy package attributes: public names imported from their module on first use.

`import kerascls` must not import TensorFlow (the oneDNN switch is set before it loads,
and `kerascls-export --help` answers in a fraction of a second). A package lists its
public names and the modules that define them, and `lazy_getattr` builds the module-level
`__getattr__` (PEP 562) that imports each one when it is first read.

Example:
    >>> namespace = {}
    >>> __getattr__ = lazy_getattr("demo", {"dumps": "json"}, namespace)
    >>> __getattr__("dumps")([1])
    '[1]'
    >>> "dumps" in namespace  # cached: the next read does not come back here
    True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(
    package: str, names: dict[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `names[name]` and caches the value in `namespace`.

    Args:
        package: the package's name, for the AttributeError of an unknown name.
        names: public name -> the module that defines it.
        namespace: the package's `globals()`.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
