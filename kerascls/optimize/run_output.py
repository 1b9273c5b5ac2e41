"""Write the result of an optimization as a new, ordinary run folder.

The new folder looks like any training run to the rest of kerascls: run.json with the
fields every command reads (model, class names, input shape, normalization, dataset),
a best.keras that `kerascls.models.load_model` opens, so kerascls-viz and kerascls-export
work on it. It adds "optimized_from" (the parent run) and "optimization" (what was done
and what it measured). Files an optimization exports itself (the QAT INT8 TFLite file) go
to exports/ with the sidecar metadata every export gets and an entry in
exports/manifest.json (`Int8Export`).

Example (a bare model, so no parent run: "optimized_from" is None and the folder goes
under <logdir>/optimized/; from a run it is the parent run's folder):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.models import create_model
    >>> from kerascls.optimize.source import resolve_source
    >>> x = np.zeros((20, 16, 16, 3), np.uint8)
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
    >>> source = resolve_source(model, data=from_arrays(x, np.arange(20) % 2))
    >>> run = write_optimized_run(source, model, optimization={"method": "qat"},
    ...                           metrics={"accuracy": 0.5}, suffix="qat",
    ...                           logdir=tempfile.mkdtemp())
    >>> run.path.parent.name, run.path.name.startswith("cnn-qat-"), run.info.optimized_from
    ('optimized', True, None)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascls.runs import (
    ModelInfo,
    Normalization,
    Run,
    RunInfo,
    default_run_name,
    new_run_dir,
    package_versions,
    write_json_atomic,
)
from kerascls.runs.atomic import atomic_path, write_bytes_atomic

MANIFEST = "manifest.json"
INT8_FILE = "model_int8.tflite"
# An INT8 file passes its check when its top-1 agrees with the reference on this share.
MIN_AGREEMENT = 0.95


@dataclass(frozen=True)
class Int8Export:
    """An INT8 TFLite file to write into a new run's exports/, and what it was checked with.

    Args:
        data: the .tflite file's bytes (int8 input and output).
        quantization: how it was quantized, for the sidecar.
        reference: the model its check compared it with, in words.
        reference_accuracy: the metric holding that model's accuracy (e.g. "qat_accuracy").
    """

    data: bytes
    quantization: str
    reference: str
    reference_accuracy: str


def write_optimized_run(
    source: Any,
    model: Any,
    *,
    optimization: dict[str, Any],
    metrics: dict[str, Any],
    suffix: str,
    logdir: str | os.PathLike = "logs",
    model_recipe: Any = None,
    int8: Int8Export | None = None,
) -> Run:
    """Create a new run folder holding `model` (Keras 3) as best.keras.

    Args:
        source: the `Source` that was optimized (its run, recipe and data).
        model: the Keras 3 model to save.
        optimization: what was done, e.g. `{"method": "qat", "epochs": 2, ...}`.
        metrics: figures measured on the validation split (float and optimized accuracy).
        suffix: appended to the run name, e.g. "qat" -> "resnet20-qat-20261122-101500".
        logdir: root of the run folders.
        model_recipe: the `ModelRecipe` of `model` when it is not the source's (a student).
        int8: an INT8 TFLite file to write as exports/model_int8.tflite, checks from `metrics`.
    """
    recipe = model_recipe or source.recipe
    parent = source.run
    dataset_name = parent.path.parent.name if parent is not None else "optimized"
    run_dir = new_run_dir(logdir, dataset_name, default_run_name(f"{recipe.name}-{suffix}"))
    normalization = (
        Normalization(mean=list(recipe.mean), std=list(recipe.std))
        if recipe.mean is not None
        else None
    )
    info = RunInfo(
        created=time.time(),
        status="finished",
        model=ModelInfo(
            name=recipe.name,
            kwargs=_jsonable(dict(recipe.kwargs)),
            params=int(model.count_params()),
        ),
        class_names=list(source.data.class_names),
        input_shape=list(recipe.input_shape),
        normalization=normalization,
        dataset=parent.info.dataset if parent is not None else source.data.source,
        optimized_from=str(parent.path) if parent is not None else None,
        optimization=optimization,
        metrics={"validation": metrics},
        versions=package_versions(),
    )
    if parent is not None:  # what the parent's data was split into and trained with
        if parent.info.split_sizes is not None:
            info.split_sizes = parent.info.split_sizes
        if parent.info.recipe is not None:
            info.recipe = parent.info.recipe
    with atomic_path(run_dir / "best.keras") as tmp:
        model.save(tmp)
    run = Run(path=run_dir, info=info)
    run.save()
    if int8 is not None:
        write_int8_export(run, source, int8, metrics)
    return run


def add_export(run: Run, filename: str, data: bytes, metadata: dict, checks: dict) -> Path:
    """Write an exported file, its sidecar metadata and its manifest entry into exports/."""
    from kerascls.export.metadata import write_metadata

    exports = run.path / "exports"
    exports.mkdir(exist_ok=True)
    path = exports / filename
    write_bytes_atomic(path, data)
    write_metadata(path, metadata)
    manifest_path = exports / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    # The entry has the shape kerascls-export writes (path relative to the run, status,
    # size_bytes, checks with "passed"), keyed by (format, precision) as there.
    key = (metadata.get("format"), metadata.get("precision"))
    entries = [
        e for e in manifest.get("exports", []) if (e.get("format"), e.get("precision")) != key
    ]
    passed = checks.get("top1_agreement", 0.0) >= MIN_AGREEMENT
    entries.append(
        {
            "format": key[0],
            "precision": key[1],
            "path": str(path.relative_to(run.path)),
            "size_bytes": len(data),
            "checks": {**checks, "min_top1_agreement": MIN_AGREEMENT, "passed": passed},
            "status": "passed" if passed else "failed",
        }
    )
    manifest.update(source=metadata.get("source"), run=str(run.path), exports=entries)
    write_json_atomic(manifest_path, manifest)
    return path


def write_int8_export(run: Run, source: Any, export: Int8Export, metrics: dict) -> Path:
    """Write `export` as exports/model_int8.tflite of `run`, its sidecar and manifest entry.

    The manifest's checks are read from `metrics`: top1_agreement, max_prob_diff, images,
    int8_accuracy (as "accuracy") and `export.reference_accuracy`.
    """
    from kerascls.export.metadata import export_metadata

    height, width = source.recipe.input_shape[:2]
    metadata = export_metadata(
        list(source.data.class_names),
        (height, width),
        fmt="tflite",
        precision="int8",
        input_dtype="int8",
        output_dtype="int8",
        source=str(run.path / "best.keras"),
        quantization=export.quantization,
    )
    checks = {
        "reference": export.reference,
        **{k: metrics[k] for k in ("top1_agreement", "max_prob_diff", "images")},
        "accuracy": metrics["int8_accuracy"],
        "reference_accuracy": metrics[export.reference_accuracy],
    }
    return add_export(run, INT8_FILE, export.data, metadata, checks)


def _jsonable(value: Any) -> Any:
    """Tuples (e.g. filters=(8, 16)) as lists, as run.json stores them from a recipe."""
    return json.loads(json.dumps(value, default=list))
