"""Which file to serve, and what the server says about it (name, version, export figures).

`best_export(run)` picks what `kerascls-serve --run RUN` serves: the run's INT8 TFLite file
when kerascls-export wrote one that passed its checks, else the next best export, else the
run's best.keras. `describe_model(path)` gathers what /v1/models reports: the file's
format and precision (from the runner), its run's model name, and the figures that
exports/manifest.json recorded for it (size, accuracy, agreement with Keras).

Example:
    >>> from kerascls.runs import load_run
    >>> best_export(load_run())                                  # doctest: +SKIP
    PosixPath('logs/cifar10/resnet20-20261204-101500/exports/model_int8.tflite')
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kerascls.errors import KerasclsError
from kerascls.runs import load_run

# (format, precision) in the order they are preferred: small and fast on a CPU first.
PREFERENCE = (
    ("tflite", "int8"),
    ("onnx", "int8"),
    ("tflite", "dynamic"),
    ("tflite", "fp16"),
    ("tflite", "float32"),
    ("onnx", "float32"),
    ("savedmodel", "float32"),
    ("keras", "float32"),
)
# Files kerascls-export writes, for an exports/ folder without a manifest.
FILE_NAMES = {
    ("tflite", "int8"): "model_int8.tflite",
    ("onnx", "int8"): "model_int8.onnx",
    ("tflite", "dynamic"): "model_dynamic.tflite",
    ("tflite", "fp16"): "model_fp16.tflite",
    ("tflite", "float32"): "model_float32.tflite",
    ("onnx", "float32"): "model.onnx",
    ("savedmodel", "float32"): "saved_model",
    ("keras", "float32"): "model.keras",
}
MANIFEST = "manifest.json"


def read_manifest(run_path: Path) -> dict[str, Any] | None:
    """The run's exports/manifest.json, or None when it has none (or it is unreadable)."""
    path = Path(run_path) / "exports" / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def best_export(run: Any) -> Path:
    """The file `kerascls-serve --run` serves: see the module docstring.

    Raises:
        KerasclsError: the run has neither a usable export nor a best.keras.
    """
    run_path = Path(run.path)
    manifest = read_manifest(run_path)
    candidates: dict[tuple[str, str], Path] = {}
    if manifest is not None:
        for entry in manifest.get("exports", []):
            if not isinstance(entry, dict) or entry.get("status") != "passed":
                continue  # failed its checks, or never written
            key = (entry.get("format"), entry.get("precision"))
            path = run_path / str(entry.get("path", ""))
            if key in FILE_NAMES and entry.get("path") and path.exists():
                candidates.setdefault(key, path)
    else:
        for key, name in FILE_NAMES.items():
            path = run_path / "exports" / name
            if path.exists():
                candidates[key] = path
    for key in PREFERENCE:
        if key in candidates:
            return candidates[key]
    best = run_path / "best.keras"
    if best.exists():
        return best
    raise KerasclsError(
        f"run {run_path} has no export that passed its checks and no best.keras; export it "
        f"(kerascls-export --run {run_path} --tflite --int8) or pass --model FILE"
    )


def run_of(path: Path) -> Path | None:
    """The run folder a model file sits in (<run>/best.keras, <run>/exports/<file>)."""
    path = Path(path).resolve()
    for folder in (path.parent, path.parent.parent):
        if (folder / "run.json").is_file():
            return folder
    return None


def manifest_entry(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the manifest entry of `path`, the manifest) when its run's manifest lists it."""
    run = run_of(path)
    if run is None:
        return None, None
    manifest = read_manifest(run)
    if manifest is None:
        return None, None
    target = Path(path).resolve()
    for entry in manifest.get("exports", []):
        path = entry.get("path") if isinstance(entry, dict) else None
        if path and (run / str(path)).resolve() == target:
            return entry, manifest
    return None, manifest


def file_digest(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of a model file (of saved_model.pb for a folder)."""
    path = Path(path)
    target = path / "saved_model.pb" if path.is_dir() else path
    digest = hashlib.sha256()
    try:
        with open(target, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "unknown"
    return digest.hexdigest()[:12]


def describe_model(path: Path, runner: Any) -> dict[str, Any]:
    """What /v1/models says about one served model.

    name: the run's model (e.g. "resnet20"), else the file's stem; version: the run
    folder's name and the file's digest, so two exports of one run are told apart.
    """
    path = Path(path)
    run = run_of(path)
    name, run_name, run_classes = path.stem, None, None
    if run is not None:
        run_name = run.name
        try:
            info = load_run(run).info
            name = str((info.model.name if info.model else None) or name)
            run_classes = info.class_names
        except (OSError, KerasclsError):
            pass
    digest = file_digest(path)
    entry, manifest = manifest_entry(path)
    figures: dict[str, Any] | None = None
    if entry is not None:
        figures = {
            key: entry[key] for key in ("status", "size_bytes", "checks", "path") if key in entry
        }
        if manifest is not None and "keras" in manifest:
            figures["keras"] = manifest["keras"]
    names = runner.class_names
    if not names and run_classes and len(run_classes) == runner.num_classes:
        names = run_classes  # a file without metadata, inside the run it came from
    names = names or [f"class_{i}" for i in range(runner.num_classes)]
    return {
        "name": name,
        "version": f"{run_name}@{digest}" if run_name else digest,
        "run": str(run) if run is not None else None,
        "file": str(path),
        "format": runner.format,
        "precision": runner.precision,
        "class_names": list(names),
        "num_classes": int(runner.num_classes),
        "input_size": [int(runner.input_size[0]), int(runner.input_size[1])],
        "manifest": figures,
    }
