"""Benchmark exported models side by side: size, batch-1 latency, throughput, accuracy.

Every file runs through the same `Runner` interface on the run's validation images, so the
figures compare formats and precisions, not harnesses. Per file:

- size: bytes on disk (a SavedModel folder: all its files);
- latency: `predict_one` on single images after a warm-up, `repeats` timed calls
  (time.perf_counter_ns), reported as the median (p50) and 95th percentile in ms;
- throughput: images/s of `predict` at `batch_size` over the validation images (passes
  repeated until at least MIN_THROUGHPUT_IMAGES images are timed);
- accuracy on the validation split, and top-1 agreement with the first file (the Keras
  baseline when the files come from a run).

`benchmark_run(load_run())` benchmarks the newest run's best.keras and its exports.

Example (an untrained tiny CNN as .keras and .tflite, on random images):
    >>> import tempfile
    >>> from kerascls.export.bench import benchmark_files, format_table
    >>> from kerascls.export.tflite import convert_tflite
    >>> from kerascls.models import create_model
    >>> model = create_model("cnn", 3, (16, 16, 3), filters=(8,), convs_per_stage=1)
    >>> folder = Path(tempfile.mkdtemp())
    >>> model.save(folder / "best.keras")
    >>> _ = (folder / "model.tflite").write_bytes(convert_tflite(model))
    >>> images = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3)).astype("float32")
    >>> rows = benchmark_files([folder / "best.keras", folder / "model.tflite"], images,
    ...                        np.arange(32) % 3, repeats=5, root=folder)
    >>> print(format_table(rows))  # doctest: +ELLIPSIS
    model format precision size p50 ms p95 ms img/s accuracy agree
    best.keras keras float32 ...
    model.tflite tflite float32 ...
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.errors import DataError, KerasclsError
from kerascls.evaluate import top1_agreement
from kerascls.export.formats import FORMATS, runs_here
from kerascls.export.report import format_size
from kerascls.runs.atomic import write_csv_atomic

logger = logging.getLogger(__name__)

FIELDS = (
    "model",
    "format",
    "precision",
    "size_bytes",
    "latency_p50_ms",
    "latency_p95_ms",
    "throughput_ips",
    "accuracy",
    "agreement",
    "images",
    "path",
)
MIN_THROUGHPUT_IMAGES = 256
# what exports/ may hold that a runner reads (.keras is the baseline, not an export)
EXPORT_SUFFIXES = tuple(s for f in FORMATS.values() if f.reader for s in f.reader.suffixes)
EXPORT_MARKERS = tuple(f.reader.marker for f in FORMATS.values() if f.reader and f.reader.marker)
BENCHMARK_FILE = "benchmark.csv"


def path_size(path: str | os.PathLike) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def run_model_files(run: Any) -> list[Path]:
    """best.keras, then every export of the run: those its exports/manifest.json lists, or,
    without a manifest, the .tflite/.onnx/.engine/.plan files and SavedModel folders in
    exports/."""
    files = [run.checkpoint("best")]
    exports = Path(run.path) / "exports"
    manifest = exports / "manifest.json"
    if manifest.is_file():
        try:
            entries = json.loads(manifest.read_text()).get("exports", [])
        except (OSError, json.JSONDecodeError, AttributeError) as err:
            raise KerasclsError(f"cannot read {manifest}: {err}") from None
        for entry in entries:
            if isinstance(entry, dict) and entry.get("status") == "error":
                continue  # the export itself failed (kerascls-export said why): nothing to time
            if isinstance(entry, dict) and not runs_here(entry.get("format")):
                continue  # a bundle to build on the device, not a model to run here
            if not isinstance(entry, dict) or not entry.get("path"):
                logger.warning("%s has an entry without a path: %s; skipped", manifest, entry)
                continue
            path = Path(run.path) / entry["path"]
            if path.exists():
                files.append(path)
            else:
                logger.warning("%s lists %s, which is not there; skipped", manifest, path)
    elif exports.is_dir():
        files += [path for path in sorted(exports.iterdir()) if _is_export(path)]
    unique: dict[Path, None] = dict.fromkeys(p.resolve() for p in files)
    return list(unique)


def _is_export(path: Path) -> bool:
    if path.is_dir():
        return any((path / marker).is_file() for marker in EXPORT_MARKERS)
    return path.suffix.lower() in EXPORT_SUFFIXES


def validation_data(
    run: Any, limit: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The run's validation images (uint8, N x H x W x 3) and labels; with `limit`, a seeded
    stratified sample of that many (the split is ordered by class: never take the head).

    uint8, not float32: a quarter of the memory, and every runner takes either.
    """
    from kerascls.data import holdout_split, split_arrays

    return split_arrays(holdout_split(run.dataset()), limit, seed, dtype=np.uint8)


def _latencies_ms(runner: Any, images: np.ndarray, repeats: int, warmup: int) -> np.ndarray:
    singles = images[: min(len(images), 32)].astype(np.float32)
    for i in range(warmup):
        runner.predict_one(singles[i % len(singles)])
    times = np.empty(repeats, np.float64)
    for i in range(repeats):
        image = singles[i % len(singles)]
        start = time.perf_counter_ns()
        runner.predict_one(image)
        times[i] = time.perf_counter_ns() - start
    return times / 1e6


def _predict_timed(runner: Any, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Probabilities of every image and the throughput (images/s) of predicting them."""
    runner.predict(images[:batch_size], batch_size)  # warm-up: tracing, allocation
    if len(images) % batch_size:
        runner.predict(images[: len(images) % batch_size], batch_size)  # the last batch's size
    passes = max(1, math.ceil(MIN_THROUGHPUT_IMAGES / len(images)))
    start = time.perf_counter_ns()
    for _ in range(passes):
        probabilities = runner.predict(images, batch_size)
    seconds = (time.perf_counter_ns() - start) / 1e9
    return probabilities, passes * len(images) / seconds


def benchmark_file(
    path: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    threads: int | None = None,
    repeats: int = 200,
    warmup: int = 10,
    batch_size: int = 64,
) -> tuple[dict[str, Any], np.ndarray]:
    """One file's row (see FIELDS; agreement left None) and its predicted classes."""
    from kerascls.export.runners import load_runner

    runner = load_runner(path, threads=threads)
    if tuple(runner.input_size) != tuple(images.shape[1:3]):
        raise KerasclsError(
            f"{path} takes {runner.input_size} images but the validation images are "
            f"{images.shape[1:3]}: it belongs to another run"
        )
    if runner.num_classes <= int(labels.max()):
        raise KerasclsError(
            f"{path} predicts {runner.num_classes} classes but the validation labels go up "
            f"to {int(labels.max())}: it belongs to another run"
        )
    latencies = _latencies_ms(runner, images, repeats, warmup)
    probabilities, throughput = _predict_timed(runner, images, batch_size)
    predicted = probabilities.argmax(axis=1)
    row = {
        "model": str(path),
        "format": runner.format,
        "precision": runner.precision,
        "size_bytes": path_size(path),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
        "throughput_ips": float(throughput),
        "accuracy": float((predicted == labels).mean()),
        "agreement": None,
        "images": len(labels),
        "path": str(Path(path).resolve()),
    }
    return row, predicted


def benchmark_files(
    paths: Sequence[str | os.PathLike],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    threads: int | None = None,
    repeats: int = 200,
    warmup: int = 10,
    batch_size: int = 64,
    skip_unavailable: bool = False,
    root: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Benchmark each model file on the same images; one row (a dict, keys FIELDS) per file.

    Args:
        paths: model files / SavedModel folders; the first is the baseline for `agreement`.
        images: uint8 or float32 (N, H, W, 3) RGB 0-255 at the models' input size.
        labels: int (N,) true classes.
        threads: CPU threads each runtime may use (default: the runtime's choice).
        repeats: timed batch-1 calls per file (after `warmup` untimed ones).
        batch_size: batch size of the throughput and accuracy pass.
        skip_unavailable: log and skip files that cannot be loaded here (a TensorRT engine
            on a CPU machine) instead of raising.
        root: show model paths relative to this folder (the run folder).

    Raises:
        KerasclsError: a file cannot be loaded (unless skip_unavailable) or does not fit
            the images.
    """
    if len(images) == 0:
        raise DataError("no images to benchmark on")
    if repeats < 1 or batch_size < 1:
        raise ValueError(f"repeats={repeats} and batch_size={batch_size} must be >= 1")
    rows, baseline = [], None
    for path in paths:
        try:
            row, predicted = benchmark_file(
                path,
                images,
                labels,
                threads=threads,
                repeats=repeats,
                warmup=warmup,
                batch_size=batch_size,
            )
        except KerasclsError as err:
            if not skip_unavailable:
                raise
            logger.warning("skipped %s: %s", path, err)
            continue
        baseline = predicted if baseline is None else baseline
        row["agreement"] = top1_agreement(predicted, baseline)
        if root is not None and Path(path).resolve().is_relative_to(Path(root).resolve()):
            row["model"] = str(Path(path).resolve().relative_to(Path(root).resolve()))
        rows.append(row)
    return rows


def benchmark_run(
    run: Any,
    files: Sequence[str | os.PathLike] | None = None,
    *,
    limit: int | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Benchmark a run's models on its validation split.

    Args:
        run: a `kerascls.train.Run`.
        files: the model files; default: best.keras and the run's exports (files that
            cannot run on this machine, such as TensorRT engines without a GPU, are then
            skipped with a warning).
        limit: benchmark on a seeded stratified sample of this many validation images.
        **options: passed to `benchmark_files` (threads, repeats, warmup, batch_size).
    """
    discovered = files is None
    paths = run_model_files(run) if discovered else list(files)
    images, labels = validation_data(run, limit)
    return benchmark_files(
        paths, images, labels, skip_unavailable=discovered, root=run.path, **options
    )


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    header = ["model", "format", "precision", "size", "p50 ms", "p95 ms", "img/s", "accuracy"]
    header.append("agree")
    lines = [
        [
            row["model"],
            row["format"],
            row["precision"],
            format_size(row["size_bytes"]),
            f"{row['latency_p50_ms']:.3f}",
            f"{row['latency_p95_ms']:.3f}",
            f"{row['throughput_ips']:.0f}",
            f"{row['accuracy']:.4f}",
            f"{row['agreement']:.4f}",
        ]
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    left = 3  # text columns are left-aligned, figures right-aligned

    def render(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join(render(cells) for cells in [header, *lines])


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write the rows as CSV (columns FIELDS), atomically."""
    return write_csv_atomic(path, rows, FIELDS)
