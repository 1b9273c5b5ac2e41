"""A comparison page of several runs: one table, overlaid curves, the recipe differences.

Columns of the table: model, epochs completed, training minutes, accuracy and macro-F1
(report.json, else run.json's metrics), INT8 accuracy and INT8 file size (the INT8 export
in exports/manifest.json, when there is one), the parameter count and the data: the first
characters of the content fingerprint of the splits the run trained and was scored on,
so that runs on different data, or on a changed copy, stand out; a note under
the table says which. The curves are drawn twice: by epoch, and by training minutes (the
axis on which time-budgeted runs and recipes of different speeds compare). The recipe
differences leave out `logdir` and `run_name`, which say where a run was written, not how
it was trained.

Example:
    >>> recipe_differences([{"lr": 0.1, "epochs": 5}, {"lr": 0.2, "epochs": 5}])
    ['lr']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerascls.report.html import figure_image, note, page, table
from kerascls.report.sections import EXPECTED, fmt, read_json, setting
from kerascls.runs import ModelInfo

COMPARISON_FILE = "comparison.html"
_IGNORED = {"logdir", "run_name"}
_MISSING = object()


def recipe_differences(recipes: Sequence[dict[str, Any]]) -> list[str]:
    """The recipe fields whose values are not the same in every recipe, sorted."""
    keys = sorted({key for recipe in recipes for key in recipe} - _IGNORED)
    return [key for key in keys if len({repr(recipe.get(key, _MISSING)) for recipe in recipes}) > 1]


def run_labels(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Short names for runs: each folder's name, with as many parent folders as it takes to
    tell runs of the same name apart.

    Example:
        >>> run_labels(["a/logs/x/tiny", "b/logs/x/tiny", "b/logs/x/big"])
        ['a/logs/x/tiny', 'b/logs/x/tiny', 'big']
    """
    parts = [Path(p).parts for p in paths]
    labels = []
    for mine in parts:
        depth = 1
        while depth < len(mine) and any(
            other != mine and other[-depth:] == mine[-depth:] for other in parts
        ):
            depth += 1
        labels.append("/".join(mine[-depth:]))
    return labels


def data_fingerprint(run: Any) -> str | None:
    """The combined content fingerprint of the run's splits (run.json), or None for a run
    made before fingerprints were recorded."""
    from kerascls.data import recorded_fingerprint

    return recorded_fingerprint(run.info.dataset).get("combined")


def _data_note(runs: Sequence[Any], labels: Sequence[str]) -> str:
    prints = {label: data_fingerprint(run) for run, label in zip(runs, labels, strict=True)}
    known = {label: value for label, value in prints.items() if value}
    unknown = [label for label, value in prints.items() if not value]
    lines = []
    if len(set(known.values())) > 1:
        groups: dict[str, list[str]] = {}
        for label, value in known.items():
            groups.setdefault(value[:12], []).append(label)
        described = "; ".join(f"{key}: {', '.join(names)}" for key, names in groups.items())
        lines.append(f"these runs did not see the same data ({described})")
    elif len(known) > 1:
        lines.append(
            f"{', '.join(known)} saw the same data (fingerprint {next(iter(known.values()))[:12]})"
        )
    if unknown:
        lines.append(
            f"no data fingerprint recorded (runs made before it existed): {', '.join(unknown)}"
        )
    return "".join(note(line) for line in lines)


def _int8(run: Any) -> dict[str, Any]:
    manifest = read_json(run.path / "exports" / "manifest.json") or {}
    for entry in manifest.get("exports", []):
        if entry.get("precision") == "int8" and entry.get("status") != "error":
            return entry
    return {}


def _row(run: Any, label: str) -> list[Any]:
    from kerascls.export.report import format_size

    info = run.info
    model = info.model or ModelInfo()
    report = read_json(run.path / "report.json") or {}
    if not report and info.metrics:
        report = next(iter(info.metrics.values())).to_dict()
    int8 = _int8(run)
    minutes = f"{info.train_seconds / 60:.1f}" if info.train_seconds is not None else ""
    params = model.params
    return [
        label,
        model.name or "",
        info.epochs_completed if info.epochs_completed is not None else "",
        minutes,
        fmt(report.get("accuracy")),
        fmt(report.get("macro_f1")),
        fmt((int8.get("checks") or {}).get("accuracy")),
        format_size(int8["size_bytes"]) if int8.get("size_bytes") else "",
        f"{params:,}" if params else "",
        (data_fingerprint(run) or "not recorded")[:12],
    ]


def _curves(runs: Sequence[Any], labels: Sequence[str]) -> str:
    import numpy as np

    from kerascls.viz.files import new_figure

    figure = new_figure(12, 4.5)
    by_epoch, by_time = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    missing = []
    for run, label in zip(runs, labels, strict=True):
        try:
            history = run.history()
        except EXPECTED:
            missing.append(label)
            continue
        if "val_accuracy" not in history:
            missing.append(label)
            continue
        by_epoch.plot(history["epoch"] + 1, history["val_accuracy"], marker=".", label=label)
        if "epoch_seconds" in history:
            minutes = np.cumsum(history["epoch_seconds"]) / 60
            by_time.plot(minutes, history["val_accuracy"], marker=".", label=label)
    notes = note(f"no validation accuracy history: {', '.join(missing)}") if missing else ""
    if len(missing) == len(runs):
        return notes
    by_epoch.set_xlabel("epoch")
    by_time.set_xlabel("training minutes (end of each epoch)")
    for ax in (by_epoch, by_time):
        ax.set_ylabel("validation accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure_image(figure, "validation accuracy of each run, by epoch and by minute") + notes


def _differences(runs: Sequence[Any], labels: Sequence[str]) -> str:
    recipes = [run.info.recipe or {} for run in runs]
    keys = recipe_differences(recipes)
    if not keys:
        return note("the runs have the same recipe (apart from where they were written)")
    rows = [[key, *(setting(recipe.get(key, "(not set)")) for recipe in recipes)] for key in keys]
    return table(["field", *labels], rows, id="recipe-diff")


def build_comparison(runs: Sequence[Any]) -> str:
    """The HTML of the comparison of `runs` (see the module)."""
    header = ["run", "model", "epochs", "minutes", "accuracy", "macro-F1"]
    header += ["INT8 accuracy", "INT8 size", "parameters", "data"]
    labels = run_labels([run.path.resolve() for run in runs])
    rows = []
    for run, label in zip(runs, labels, strict=True):
        try:
            rows.append(_row(run, label))
        except EXPECTED as err:
            rows.append([label, f"not shown: {err}"])
    sections = [
        ("runs", "Runs", table(header, rows, id="runs-table") + _data_note(runs, labels)),
        ("curves", "Validation accuracy", _curves(runs, labels)),
        ("recipe-differences", "Recipe differences", _differences(runs, labels)),
    ]
    places = ", ".join(str(run.path) for run in runs)
    return page(f"kerascls comparison of {len(runs)} runs", places, sections)


def write_comparison(runs: Sequence[Any], out: str | os.PathLike | None = None) -> Path:
    """Write the comparison page, atomically, to `out` (default ./comparison.html)."""
    from kerascls.viz.files import write_bytes_atomic

    target = Path(out) if out else Path(COMPARISON_FILE)
    return write_bytes_atomic(target, build_comparison(runs).encode("utf-8"))
