"""The report of one run: each section built from the run folder's files.

Sections, in order (each a <section id=...>): recipe, data, metrics, curves, confusion,
errors, calibration, exports, versions. A section whose files are missing (no
history.csv, no exports, the data folder gone) says so in a note; one section's problem
never stops the others, and never shows a traceback.

The error gallery and the reliability diagram reuse kerascls.viz, and so share its cache
of the validation predictions (predictions.npz in the run folder).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerascls.errors import KerasclsError
from kerascls.report.html import figure_image, headline, key_values, note, page, paragraph, table
from kerascls.runs import ModelInfo

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
BENCHMARK_FILE = "benchmark.csv"  # kerascls.export.bench.BENCHMARK_FILE (kerascls-bench)
# what a section may meet in a half-finished or moved run: shown as a note, not raised
EXPECTED = (KerasclsError, OSError, KeyError, ValueError, TypeError, json.JSONDecodeError)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's contents, or None when it is not there."""
    return json.loads(path.read_text()) if path.exists() else None


def fmt(value: Any, digits: int = 4) -> str:
    """Floats to `digits` places, None to "", the rest as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def setting(value: Any) -> str:
    """A recipe value as written in a recipe: 0.009 not 0.0090, null for None."""
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value) if value is None or not isinstance(value, str) else value


def _recipe(run: Any) -> str:
    info = run.info
    model = info.model or ModelInfo()
    seconds = info.train_seconds
    summary = [
        ("model", model.name),
        ("model kwargs", model.kwargs or {}),
        ("parameters", f"{model.params:,}" if model.params is not None else ""),
        ("status", info.status),
        ("epochs completed", info.epochs_completed),
        ("training time", f"{seconds / 60:.1f} min" if seconds is not None else ""),
        ("dtype policy", info.dtype_policy),
    ]
    recipe = info.recipe or {}
    body = key_values((k, fmt(v)) for k, v in summary)
    if recipe:
        values = ((k, setting(v)) for k, v in sorted(recipe.items()))
        body += "<h3>Recipe</h3>" + key_values(values, columns=3)
    else:
        body += note("run.json records no recipe (a run made by kerascls-optimize?)")
    return body


def _data(run: Any) -> str:
    dataset = run.info.dataset or {}
    names = run.class_names
    pairs = [
        ("source", dataset.get("kind", "")),
        ("location", dataset.get("root") or dataset.get("name") or ""),
        ("image size", "x".join(str(s) for s in run.input_shape[:2])),
        ("classes", f"{len(names)}: {', '.join(names)}"),
        ("split sizes", ", ".join(f"{k} {v}" for k, v in (run.info.split_sizes or {}).items())),
    ]
    body = key_values(pairs)
    counts = dataset.get("counts") or {}
    if counts:
        splits = list(counts)
        rows = [[name, *(counts[s][i] for s in splits)] for i, name in enumerate(names)]
        rows.append(["total", *(sum(counts[s]) for s in splits)])
        body = (
            f'<div class="cols"><div>{body}</div><div>{table(["class", *splits], rows)}</div></div>'
        )
    else:
        body += note("run.json records no per-class counts")
    root = dataset.get("root")
    if root and not Path(root).exists():
        body += note(
            f"the data folder {root} is not there any more: the error gallery (and "
            "predictions not cached yet) cannot be shown"
        )
    return body


def _metrics(run: Any) -> str:
    report = read_json(run.path / "report.json")
    if report is None:
        return note("no report.json: it is written when training finishes")
    figures = [("accuracy", fmt(report.get("accuracy")))]
    for key, label in (
        ("macro_f1", "macro-F1"),
        ("top5_accuracy", "top-5 accuracy"),
        ("flip_tta_accuracy", "accuracy with flip TTA"),
    ):
        if report.get(key) is not None:
            figures.append((label, fmt(report[key])))
    body = headline(figures)
    body += paragraph(
        f"best.keras on the {report.get('split', '?')} split, "
        f"{report.get('num_examples', '?')} images."
    )
    rows = [
        [c["class"], fmt(c["precision"]), fmt(c["recall"]), fmt(c["f1"]), c["support"]]
        for c in report.get("per_class", [])
    ]
    return body + table(["class", "precision", "recall", "F1", "support"], rows, id="per-class")


def _curves(run: Any) -> str:
    from kerascls.viz.curves import plot_curves

    return figure_image(plot_curves(run.history(), run.path.name), "training curves")


def _confusion(run: Any) -> str:
    from kerascls.viz.confusion import plot_confusion_matrix

    report = read_json(run.path / "report.json")
    if report is None or "confusion_matrix" not in report:
        return note("no confusion matrix: report.json is written when training finishes")
    title = f"{report['split']} split, {report['num_examples']} images"
    figure = plot_confusion_matrix(report["confusion_matrix"], run.class_names, title)
    return figure_image(figure, "confusion matrices, raw and row-normalised")


def _errors(run: Any, predictions: Any, count: int = 16) -> str:
    from kerascls.viz.errors_gallery import plot_holdout_errors

    figure, wrong = plot_holdout_errors(run.dataset(), predictions, run.class_names, count)
    if not wrong:
        return paragraph(f"No mistakes on the {len(predictions.labels)} validation images.")
    return figure_image(figure, "most confident mistakes", width=640)


def _calibration(run: Any, predictions: Any) -> str:
    from kerascls.viz.calibration import calibration_curve, plot_reliability

    calibration = calibration_curve(predictions.labels, predictions.probabilities)
    body = paragraph(
        f"Expected calibration error {calibration.ece:.4f} "
        f"({calibration.num_examples} validation images, 15 bins)."
    )
    return body + figure_image(
        plot_reliability(calibration, "validation"), "reliability diagram", width=460
    )


def read_benchmark(path: Path) -> dict[str, dict[str, str]]:
    """kerascls-bench's rows by file path ({} when it was never run)."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {row.get("path", ""): row for row in csv.DictReader(f)}


def _exports(run: Any) -> str:
    from kerascls.export.report import format_size

    manifest = read_json(run.path / "exports" / "manifest.json")
    if manifest is None or not manifest.get("exports"):
        return note("no exports yet: make some with kerascls-export --tflite --int8")
    bench = read_benchmark(run.path / "exports" / BENCHMARK_FILE)

    def latency(path: str) -> str:
        # benchmark.csv's paths are as given to kerascls-bench; match on the file name
        for key, row in bench.items():
            if key and Path(key).name == Path(path).name and row.get("latency_p50_ms"):
                return f"{float(row['latency_p50_ms']):.2f} ms"
        return ""

    keras_accuracy = fmt(manifest.get("keras", {}).get("accuracy"))
    rows = [["keras", "float32", "best.keras", "", keras_accuracy, "", latency("best.keras"), ""]]
    for entry in manifest["exports"]:
        checks = entry.get("checks") or {}
        path = entry.get("path", "")
        size = format_size(entry["size_bytes"]) if entry.get("size_bytes") else ""
        rows.append(
            [
                entry.get("format"),
                entry.get("precision"),
                path,
                size,
                fmt(checks.get("accuracy")),
                fmt(checks.get("top1_agreement")),
                latency(path),
                entry.get("status", ""),
            ]
        )
    header = ["format", "precision", "file", "size", "accuracy", "top-1 agreement"]
    body = table([*header, "latency p50", "status"], rows, id="exports-table")
    if not bench:
        body += note("latency: not benchmarked yet (kerascls-bench writes exports/benchmark.csv)")
    return body


def _versions(run: Any) -> str:
    versions = run.info.versions or {}
    if not versions:
        return note("run.json records no package versions")
    return key_values(sorted(versions.items()))


def _guarded(build: Callable[..., str], *args: Any) -> str:
    try:
        return build(*args)
    except EXPECTED as err:
        logger.debug("report section %s failed", build.__name__, exc_info=True)
        return note(f"not shown: {err}")


def _predictions(run: Any, recompute: bool) -> tuple[Any, str | None]:
    from kerascls.viz.predictions import run_predictions

    try:
        return run_predictions(run, recompute=recompute), None
    except EXPECTED as err:
        return None, f"no validation predictions: {err}"


def build_report(run: Any, recompute: bool = False) -> str:
    """The HTML of one run's report (see the module for its sections)."""
    predictions, missing = _predictions(run, recompute)

    def needs_predictions(build: Callable[..., str]) -> str:
        return note(missing) if missing else _guarded(build, run, predictions)

    sections = [
        ("recipe", "Run", _guarded(_recipe, run)),
        ("data", "Data", _guarded(_data, run)),
        ("metrics", "Metrics", _guarded(_metrics, run)),
        ("curves", "Curves", _guarded(_curves, run)),
        ("confusion", "Confusion matrices", _guarded(_confusion, run)),
        ("errors", "Confident mistakes", needs_predictions(_errors)),
        ("calibration", "Calibration", needs_predictions(_calibration)),
        ("exports", "Exports", _guarded(_exports, run)),
        ("versions", "Versions", _guarded(_versions, run)),
    ]
    subtitle = f"{run.path}  ({run.info.status or 'unknown status'})"
    return page(f"kerascls report: {run.path.name}", subtitle, sections)


def write_report(run: Any, out: str | os.PathLike | None = None, recompute: bool = False) -> Path:
    """Write the run's report, atomically, to `out` (default <run>/report.html)."""
    from kerascls.viz.files import write_bytes_atomic

    target = Path(out) if out else run.path / REPORT_FILE
    return write_bytes_atomic(target, build_report(run, recompute).encode("utf-8"))
