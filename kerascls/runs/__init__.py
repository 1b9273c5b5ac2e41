"""Run folders and atomic writes: the layer every other part of kerascls writes through.

A run folder (`logs/<dataset>/<model>-<time>/`) holds everything a training run made;
`load_run` opens one, `find_runs` lists them; `Run.info` is its run.json as a typed
`RunInfo` (record.py), the one owner of that file's keys. `atomic_path` and the `write_*_atomic`
helpers are the one way kerascls writes a file or a folder: a temporary name beside the
target, then a rename.

Example:
    >>> from kerascls.runs import find_runs
    >>> isinstance(find_runs("no-such-logdir"), list)
    True
"""

from kerascls.runs.atomic import (
    atomic_path,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from kerascls.runs.folder import (
    DEFAULT_LOGDIR,
    RUN_FILE,
    Run,
    default_run_name,
    find_runs,
    load_run,
    new_run_dir,
)
from kerascls.runs.record import (
    InitFrom,
    MlflowInfo,
    ModelInfo,
    Normalization,
    RunInfo,
    SplitMetrics,
)
from kerascls.runs.versions import onednn_enabled, package_versions

__all__ = [
    "DEFAULT_LOGDIR",
    "RUN_FILE",
    "InitFrom",
    "MlflowInfo",
    "ModelInfo",
    "Normalization",
    "Run",
    "RunInfo",
    "SplitMetrics",
    "atomic_path",
    "default_run_name",
    "find_runs",
    "load_run",
    "new_run_dir",
    "onednn_enabled",
    "package_versions",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
