"""Package versions and the CPU kernels in use: what decides whether a run can be
reproduced, recorded in every run.json and export manifest.

Example:
    >>> sorted(package_versions())[:3]
    ['keras', 'kerascls', 'numpy']
"""

from __future__ import annotations

import platform
from importlib import metadata


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide whether a run can be reproduced."""
    versions = {"python": platform.python_version()}
    for name in ("kerascls", "tensorflow", "keras", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    # Training speed on a CPU depends on it as much as on the versions (2x on AVX2).
    versions["tensorflow_onednn"] = "on" if onednn_enabled() else "off"
    return versions


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process.

    `import kerascls` asks for them (TF_ENABLE_ONEDNN_OPTS=1) unless the user said
    otherwise; they are off if TensorFlow was imported before kerascls.
    """
    from tensorflow.python.util import _pywrap_util_port  # no public API tells this

    return bool(_pywrap_util_port.IsMklEnabled())
