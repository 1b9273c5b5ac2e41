"""Run folders: one self-describing folder per training run under logs/.

Layout:

    logs/<dataset>/<model>-<YYYYmmdd-HHMMSS>/
        run.json            model, classes, input shape, normalisation, data source,
                            recipe, versions, status, final metrics
        train/ validation/  TensorBoard event files
        best.keras last.keras history.csv report.json classification_report.csv
        backup/             BackupAndRestore state while a run is unfinished

Commands given no run use the newest one, so every file in a run folder is written with
`kerascls.runs.atomic` (a temporary name, then a rename): a run killed at any moment never
leaves a half-written file. run.json is read and written as a `RunInfo` (record.py),
history.csv read by `Run.history()` (history.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascls.errors import KerasclsError
from kerascls.runs.atomic import write_json_atomic
from kerascls.runs.record import RunInfo

if TYPE_CHECKING:
    import numpy as np

RUN_FILE = "run.json"
DEFAULT_LOGDIR = "logs"


def new_run_dir(logdir: str | os.PathLike, dataset_name: str, run_name: str) -> Path:
    """Create and return a fresh run folder; never reuse an existing one."""
    parent = Path(logdir) / dataset_name
    parent.mkdir(parents=True, exist_ok=True)
    path, n = parent / run_name, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = parent / f"{run_name}-{n}"


def default_run_name(model_name: str) -> str:
    return f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass
class Run:
    """A training run folder and its run.json.

    Example (`trained_run`: a run of a tiny CNN, 4 epochs on red, green and blue images,
    which the tests hand the example; yours are under logs/):
        >>> logdir = trained_run.path.parents[1]
        >>> run = load_run(logdir=logdir)       # the newest run under logdir ("logs")
        >>> model = run.load_model()            # best.keras, Keras safe mode on
        >>> run.class_names, run.input_shape, run.model_name, model.output_shape
        (['blue', 'green', 'red'], (16, 16, 3), 'cnn', (None, 3))
        >>> run.info.status, run.info.epochs_completed   # run.json, typed (runs/record.py)
        ('finished', 4)
        >>> run.history()["epoch"].tolist()              # history.csv, one row an epoch
        [0.0, 1.0, 2.0, 3.0]
    """

    path: Path
    info: RunInfo = field(default_factory=RunInfo)  # run.json (a dict is read as one)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not isinstance(self.info, RunInfo):
            self.info = RunInfo.from_dict(self.info)

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.info.input_shape)

    @property
    def model_name(self) -> str | None:
        return self.info.model.name if self.info.model is not None else None

    def checkpoint(self, which: str = "best") -> Path:
        """Path of best.keras or last.keras; a clear error when it is not there yet."""
        path = self.path / f"{which}.keras"
        if not path.exists():
            raise KerasclsError(
                f"run {self.path} has no {which}.keras: the run ended before its first epoch "
                f"finished; train it again or pick another run"
            )
        return path

    def load_model(self, which: str = "best", compile: bool = False):
        """Load best.keras (or last.keras) with Keras safe mode on; for inference unless
        `compile=True` also restores the optimizer and loss."""
        from kerascls.models import load_model

        return load_model(self.checkpoint(which), compile=compile)

    def dataset(self):
        """The run's data, rebuilt from the source that run.json describes."""
        from kerascls.data import dataset_from_source

        return dataset_from_source(self.info.dataset)

    def save(self) -> None:
        """Write run.json atomically."""
        write_json_atomic(self.path / RUN_FILE, self.info.to_dict())

    def update(self, **fields: Any) -> None:
        """Set fields of run.json (by their key: `status="finished"`) and rewrite it
        atomically; a key `RunInfo` does not know is kept as it is."""
        self.info.update(**fields)
        self.save()

    def history(self, missing_ok: bool = False) -> dict[str, np.ndarray]:
        """history.csv as float columns ("epoch" 0-based, "loss", "val_accuracy", ...), one
        value per epoch: a resumed run's repeated epoch gives its last row.

        Raises:
            KerasclsError: no epoch has been logged yet (with `missing_ok`: no columns).
        """
        # here, not at the top: numpy stays out of `import kerascls.runs` (CLI start-up)
        from kerascls.runs.history import HISTORY_FILE, read_history

        try:
            return read_history(self.path / HISTORY_FILE)
        except KerasclsError:
            if missing_ok:
                return {}
            raise

    def truncate_history(self, epochs: int) -> None:
        """Keep the first `epochs` rows of history.csv (a resumed run drops the rows of
        epochs its backup does not hold)."""
        from kerascls.runs.history import HISTORY_FILE, truncate_history

        truncate_history(self.path / HISTORY_FILE, epochs)


def find_runs(logdir: str | os.PathLike = DEFAULT_LOGDIR) -> list[Path]:
    """Every run folder under `logdir`, oldest first (by the time run.json records)."""
    runs = []
    for run_file in Path(logdir).glob(f"**/{RUN_FILE}"):
        try:
            created = json.loads(run_file.read_text()).get("created", 0.0)
        except (OSError, json.JSONDecodeError):
            continue  # not ours, or unreadable: skip rather than fail every command
        runs.append((created, run_file.stat().st_mtime, run_file.parent))
    return [path for *_, path in sorted(runs)]


def load_run(
    path: str | os.PathLike | None = None, logdir: str | os.PathLike = DEFAULT_LOGDIR
) -> Run:
    """Open a run folder; with no path, the newest run under `logdir`."""
    if path is None:
        runs = find_runs(logdir)
        if not runs:
            raise KerasclsError(
                f"no training runs under {os.path.abspath(logdir)}: train one first "
                f"(python examples/cifar10.py) or pass a run folder"
            )
        path = runs[-1]
    path = Path(path)
    if path.is_file() and path.name == RUN_FILE:
        path = path.parent
    run_file = path / RUN_FILE
    if not run_file.exists():
        raise KerasclsError(f"{path} is not a run folder (no {RUN_FILE} in it)")
    try:
        info = RunInfo.from_dict(json.loads(run_file.read_text()))
    except json.JSONDecodeError as err:
        raise KerasclsError(
            f"{run_file} is not valid JSON ({err}); was it edited by hand?"
        ) from None
    except (TypeError, AttributeError) as err:
        raise KerasclsError(
            f"{run_file} is not a run record ({err}); was it edited by hand?"
        ) from None
    return Run(path=path, info=info)
