"""Data the tests make themselves (imported by test modules: `from helpers import ...`)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

COLOUR_CLASSES = ("blue", "green", "red")  # sorted, as folder names are
# the CNN of the tests' tiny runs: two stages of one small convolution each
TINY_MODEL = {"filters": (8, 16), "convs_per_stage": 1}


def colour_recipe(colour_folder: Path, tmp_path: Path, **fields):
    """A tiny CNN's recipe on a colour folder, with `tiny_run`'s hold-out (20%, seed 0):
    one epoch of Adam at batch 16, no augmentation, runs under tmp_path/logs."""
    from kerascls.train import Recipe

    values = dict(
        data_dir=str(colour_folder),
        validation_size=0.2,
        model_kwargs=TINY_MODEL,
        epochs=1,
        batch_size=16,
        optimizer="adam",
        lr=0.007,
        schedule="constant",
        augment="none",
        logdir=str(tmp_path / "logs"),
    )
    return Recipe.for_model("cnn", **{**values, **fields})


def write_colour_folder(root: Path, per_class: int = 36, seed: int = 0, size: int = 16) -> Path:
    """root/train/<colour>/*.png: three colour classes that a tiny CNN learns in an epoch."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(COLOUR_CLASSES):
        folder = root / "train" / name
        folder.mkdir(parents=True)
        channel = {"red": 0, "green": 1, "blue": 2}[name]
        for i in range(per_class):
            pixels = rng.integers(0, 110, size=(size, size, 3))
            pixels[..., channel] += 140
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{label}_{i}.png")
    return root


def colour_dataset(n_per_class: int = 40, size: int = 16, seed: int = 0):
    """Three classes that a tiny CNN learns in one epoch: red, green or blue images, in
    memory (an ImageDataset with a 25% validation split)."""
    from kerascls.data import from_arrays

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(3):
        x = rng.integers(0, 90, size=(n_per_class, size, size, 3))
        x[..., label] += 160
        images.append(x)
        labels += [label] * n_per_class
    return from_arrays(
        np.concatenate(images).astype("uint8"),
        np.array(labels),
        class_names=["red", "green", "blue"],
        validation_size=0.25,
        seed=seed,
    )


def copy_run(run, root: Path):
    """A copy of a run folder at root/logs/<dataset>/<run name>, opened with load_run.

    For a test that writes into its run (exports, a resumed evaluation, a child run in the
    same logdir): the shared run it copies stays as it was. The copy's logdir,
    `copy.path.parents[1]`, holds this run alone.
    """
    from kerascls.runs import load_run

    target = Path(root) / "logs" / run.path.parent.name / run.path.name
    shutil.copytree(run.path, target)
    return load_run(target)


def folder_listing(folder: Path) -> dict[str, int]:
    """Every file under `folder` and its size: to check that a shared folder was not changed."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- serving (tests/test_serve_unit.py, tests/test_serve_e2e.py) -----------------------------

SERVE_EXPORTS = [
    ("tflite", "int8"),
    ("tflite", "float32"),
    ("onnx", "float32"),
    ("savedmodel", "float32"),
]
PNG = {"content-type": "image/png"}
DASHBOARD = Path(__file__).resolve().parents[1] / "monitoring" / "grafana-dashboard.json"


def export_for_serving(run, root: Path):
    """A copy of `run` (under root) with SERVE_EXPORTS written by kerascls-export's code,
    each checked (status "passed"): exports/model_int8.tflite, model_float32.tflite,
    model.onnx, saved_model/."""
    from kerascls.export import export_model

    served = copy_run(run, root)
    manifest = export_model(served, SERVE_EXPORTS)
    assert [e["status"] for e in manifest.entries] == ["passed"] * len(SERVE_EXPORTS), (
        manifest.entries
    )
    return served


def colour_png(colour: str, size=(24, 40), seed: int = 0, fmt: str = "PNG") -> bytes:
    """An image file's bytes of one colour class (the tiny run's models take 16x16: a
    server must resize)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 110, size=(*size, 3))
    pixels[..., {"red": 0, "green": 1, "blue": 2}[colour]] += 140
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


@contextmanager
def serving(
    live, timeout: float = 60.0, raise_server_exceptions: bool = True, **kwargs
) -> Iterator:
    """A TestClient of `create_app(live, **kwargs)` (candidate=, shadow=, settings=),
    started and ready (/readyz 200): the app in-process, no port. With
    raise_server_exceptions=False a 500 is an answer, not an exception in the test."""
    from fastapi.testclient import TestClient

    from kerascls.serve import create_app

    app = create_app(live, **kwargs)
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        deadline = time.monotonic() + timeout
        while client.get("/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready: {client.get('/readyz').json()}")
            time.sleep(0.05)
        yield client
