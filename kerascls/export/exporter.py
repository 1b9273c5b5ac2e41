"""Export a trained model to the formats asked for, verify each one, write the manifest.

`export_model` is the front door of kerascls-export: for each (format, precision) pair it
converts, writes the sidecar metadata, runs the file on held-out images, compares it with
the Keras model (verify.py) and records the figures in exports/manifest.json. A format that
cannot be exported here (no GPU for TensorRT, say) is recorded with its one-line reason and
the others still export.

`export_model(load_run(), [("tflite", "int8")])` exports the newest run's best.keras
(top1_agreement 0.996 on the CIFAR-10 ResNet-20).

Example (an untrained tiny CNN and random images instead of a run):
    >>> import tempfile
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> from kerascls.export import export_model
    >>> from kerascls.models import create_model
    >>> x = np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    >>> data = from_arrays(x, np.arange(64) % 2, class_names=["cat", "dog"])
    >>> model = create_model("cnn", 2, (16, 16, 3), filters=(8,))
    >>> manifest = export_model(None, [("tflite", "int8")], model=model, data=data,
    ...                         out_dir=tempfile.mkdtemp())
    >>> entry = manifest.entries[0]
    >>> entry["format"], entry["precision"], 0 <= entry["checks"]["top1_agreement"] <= 1
    ('tflite', 'int8', True)
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascls.errors import KerasclsError
from kerascls.evaluate import predict_arrays
from kerascls.export import formats as fmt
from kerascls.export.metadata import export_metadata, write_metadata
from kerascls.export.verify import DEFAULT_MAX_DROP, compare
from kerascls.runs.atomic import atomic_path, write_bytes_atomic, write_json_atomic

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DEFAULT_CALIBRATION_IMAGES = 300


@dataclass
class ExportOptions:
    """How to export; the defaults are kerascls-export's.

    Args:
        io_dtype: input/output type of full-INT8 TFLite files: "int8", "uint8", "float32".
        opset: ONNX opset.
        calibration_images: training images (stratified) that calibrate INT8 ranges.
        verify_images: held-out images to check on (None: the whole validation split).
        max_drop: accuracy points an INT8 export may lose before it fails.
        threads: CPU threads for running the exports during verification.
    """

    io_dtype: str = "int8"
    opset: int = 17
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    verify_images: int | None = None
    max_drop: float = DEFAULT_MAX_DROP
    threads: int | None = None


@dataclass
class Manifest:
    """What one export call wrote, and whether each file passed its checks."""

    folder: Path
    keras: dict[str, Any]
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Entries whose checks failed (exported, but not faithful enough)."""
        return [e for e in self.entries if e["status"] == "failed"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Entries that could not be exported at all."""
        return [e for e in self.entries if e["status"] == "error"]


def plan_exports(formats: list[str], precisions: list[str]) -> list[tuple[str, str]]:
    """(format, precision) pairs for the formats and precisions asked for.

    Each format exports every asked-for precision it supports; a format that supports none
    of them exports its default (float32) precision.

    Example:
        >>> plan_exports(["tflite", "onnx", "savedmodel"], ["int8"])
        [('tflite', 'int8'), ('onnx', 'int8'), ('savedmodel', 'float32')]
    """
    if not formats:
        raise KerasclsError(
            "choose at least one format: " + ", ".join(f"--{name}" for name in fmt.FORMATS)
        )
    plan = []
    for name in formats:
        if name not in fmt.FORMATS:
            raise KerasclsError(f"unknown export format {name!r}; known: {', '.join(fmt.FORMATS)}")
        supported = fmt.FORMATS[name].precisions
        chosen = [p for p in (precisions or ["float32"]) if p in supported] or [supported[0]]
        plan += [(name, p) for p in chosen if (name, p) not in plan]
    return plan


def export_model(
    run: Any,
    plan: list[tuple[str, str]],
    *,
    model: Any = None,
    data: Any = None,
    out_dir: str | Path | None = None,
    options: ExportOptions | None = None,
    source: str | os.PathLike[str] | None = None,
) -> Manifest:
    """Export `run`'s best model (or `model`) as `plan` says; verify; write the manifest.

    Args:
        run: a `kerascls.train.Run` (class names, input size, data), or None when `model`
            and `data` are given.
        plan: (format, precision) pairs, see `plan_exports`.
        model: a Keras model to export instead of the run's best.keras.
        data: the `ImageDataset` for calibration and checks (default: the run's data).
        out_dir: where files go (default: the run's exports/ folder).
        options: `ExportOptions`.
        source: the file `model` was loaded from, recorded in the manifest and sidecars
            (default: the run's best.keras when `model` is None, else nothing).
    """
    options = options or ExportOptions()
    model_given = model is not None
    model = model if model_given else run.load_model("best")
    data = data if data is not None else run.dataset()
    class_names = list(run.class_names) if run is not None else list(data.class_names)
    input_size = tuple(int(d) for d in model.inputs[0].shape[1:3])
    folder = Path(out_dir) if out_dir else run.path / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    if source is not None:
        source = str(Path(source).resolve())
    elif model_given is False and run is not None:
        source = str(run.checkpoint("best"))
    checks, calibration = _held_out_checks(model, data, plan, options)
    manifest = Manifest(folder=folder, keras=checks.keras)

    with tempfile.TemporaryDirectory(dir=folder, prefix=".work.") as work:
        builder = _Builder(model, Path(work), options, calibration, input_size)
        for name, precision in plan:
            manifest.entries.append(
                _export_entry(builder, name, precision, folder, checks, class_names, source, run)
            )
    _write_manifest(manifest, run, source)
    return manifest


@dataclass(frozen=True)
class _Checks:
    """The held-out images every export is checked on, and the Keras model's answers."""

    images: Any
    labels: Any
    reference: Any  # the Keras model's probabilities on `images`
    options: ExportOptions

    @property
    def keras(self) -> dict[str, Any]:
        """The manifest's "keras" entry: the Keras model's accuracy and the image count."""
        accuracy = float((self.reference.argmax(1) == self.labels).mean())
        return {"accuracy": accuracy, "images": len(self.labels)}

    def verify(self, path: Path, name: str, precision: str) -> dict[str, Any]:
        """Run the exported file on the images and compare it with the Keras model."""
        from kerascls.export.runners import load_runner

        runner = load_runner(path, threads=self.options.threads)
        probabilities = runner.predict(self.images, batch_size=256)
        return compare(
            probabilities,
            self.reference,
            self.labels,
            quantized=fmt.is_quantized(name, precision),
            precision=precision,
            max_drop=self.options.max_drop,
        )


def _held_out_checks(model: Any, data: Any, plan: list, options: ExportOptions) -> tuple:
    """The `_Checks` of `model` on `data`, and INT8 calibration images when `plan` has INT8."""
    # Imported here: kerascls.data brings TensorFlow, and importing kerascls.export must not.
    from kerascls.data import calibration_images, holdout_split, split_arrays

    # Validation images, else test: an export is checked on whatever the model never saw.
    images, labels = split_arrays(holdout_split(data, test_fallback=True), options.verify_images)
    checks = _Checks(images, labels, predict_arrays(model, images), options)
    calibration = None
    if any(p == "int8" for _, p in plan):
        calibration = calibration_images(data, options.calibration_images)
    return checks, calibration


def _export_entry(
    builder: _Builder,
    name: str,
    precision: str,
    folder: Path,
    checks: _Checks,
    class_names: list[str],
    source: str | None,
    run: Any,
) -> dict[str, Any]:
    """Export, describe and check one (format, precision): its manifest entry.

    A format that cannot be exported here is an entry with status "error" and the reason.
    """
    entry: dict[str, Any] = {"format": name, "precision": precision}
    try:
        path, checked = builder.export(name, precision, folder)
        meta = export_metadata(
            class_names,
            builder.input_size,
            fmt=name,
            precision=precision,
            source=source,
            **builder.io_types(name, precision),
        )
        write_metadata(path, meta)
        entry.update(_describe(path, run, folder))
        entry["checks"] = checks.verify(checked, name, precision)
        entry["status"] = "passed" if entry["checks"]["passed"] else "failed"
    except KerasclsError as err:
        entry.update(status="error", reason=str(err))
    return entry


class _Builder:
    """Converts one model into each format, sharing intermediate files (the float ONNX)."""

    def __init__(self, model, work: Path, options: ExportOptions, calibration, input_size):
        self.model, self.work, self.options = model, work, options
        self.calibration, self.input_size = calibration, input_size
        self._onnx: dict[str, Path] = {}

    def io_types(self, name: str, precision: str) -> dict[str, str]:
        if name == "tflite" and precision == "int8":
            return {"input_dtype": self.options.io_dtype, "output_dtype": self.options.io_dtype}
        return {}

    def onnx(self, precision: str) -> Path:
        """The float32 or INT8 (QDQ) ONNX file, converted once per call."""
        from kerascls.export.onnx import export_onnx, quantize_onnx_int8

        if precision not in self._onnx:
            if precision == "int8":
                self._onnx["int8"] = quantize_onnx_int8(
                    self.onnx("float32"), self.work / "model_int8.onnx", self.calibration
                )
            else:
                self._onnx["float32"] = export_onnx(
                    self.model, self.work / "model.onnx", self.options.opset
                )
        return self._onnx[precision]

    def export(self, name: str, precision: str, folder: Path) -> tuple[Path, Path]:
        """Write one export into `folder`; return (what was written, the file to check).

        The format's row in FORMATS names the method that writes it and the name of what
        it writes, so a new format is a row and a method, with no dispatch to keep in step.
        """
        spec = fmt.FORMATS.get(name)
        if spec is None:
            raise KerasclsError(f"unknown export format {name!r}")
        write = getattr(self, spec.writer)
        return write(precision, folder / fmt.output_name(name, precision))

    def write_savedmodel(self, precision: str, target: Path) -> tuple[Path, Path]:
        from kerascls.export.savedmodel import export_savedmodel

        return export_savedmodel(self.model, target), target

    def write_tflite(self, precision: str, target: Path) -> tuple[Path, Path]:
        from kerascls.export.tflite import convert_tflite

        data = convert_tflite(self.model, precision, self.calibration, self.options.io_dtype)
        write_bytes_atomic(target, data)
        return target, target

    def write_onnx(self, precision: str, target: Path) -> tuple[Path, Path]:
        with atomic_path(target) as tmp:
            shutil.copyfile(self.onnx(precision), tmp)
        return target, target

    def write_tensorrt(self, precision: str, target: Path) -> tuple[Path, Path]:
        from kerascls.export import tensorrt as trt

        trt.check_tensorrt_ready()  # before converting anything: a clear error, no waste
        if trt.tftrt_available():
            from kerascls.export.savedmodel import export_savedmodel

            saved = export_savedmodel(self.model, self.work / "saved_model")
            path = target.parent / fmt.output_name("tensorrt", precision, variant="tftrt")
            trt.convert_tftrt(saved, path, precision, self.calibration)
            return path, path
        onnx = self.onnx("int8" if precision == "int8" else "float32")
        return trt.build_engine(onnx, target, precision, self.input_size), target

    def write_jetson(self, precision: str, target: Path) -> tuple[Path, Path]:
        from kerascls.export.jetson import write_jetson_bundle

        int8 = self.onnx("int8") if precision == "int8" else None
        return write_jetson_bundle(
            self.onnx("float32"), target, precision, self.input_size, int8_onnx=int8
        )


def _describe(path: Path, run: Any, folder: Path) -> dict[str, Any]:
    from kerascls.export.bench import path_size

    size = path_size(path)
    base = run.path if run is not None else folder
    try:
        shown = str(path.resolve().relative_to(Path(base).resolve()))
    except ValueError:
        shown = str(path.resolve())
    return {"path": shown, "size_bytes": int(size)}


def _write_manifest(manifest: Manifest, run: Any, source: str | None) -> None:
    """Merge this call's entries into exports/manifest.json (older entries of other files
    stay: exporting INT8 today does not forget yesterday's ONNX)."""
    import json

    path = manifest.folder / MANIFEST
    old: list[dict[str, Any]] = []
    if path.exists():
        try:
            old = json.loads(path.read_text()).get("exports", [])
        except (OSError, json.JSONDecodeError, AttributeError):
            old = []
    new_keys = {(e["format"], e["precision"]) for e in manifest.entries}
    kept = [e for e in old if (e.get("format"), e.get("precision")) not in new_keys]
    write_json_atomic(
        path,
        {
            "source": source,
            "run": str(run.path) if run is not None else None,
            "updated": datetime.datetime.now().isoformat(timespec="seconds"),
            "keras": manifest.keras,
            # each entry names its own source: older entries may come from another file
            "exports": kept + [{**entry, "source": source} for entry in manifest.entries],
        },
    )
