"""Data the tests make themselves (imported by test modules: `from helpers import ...`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

COLOUR_CLASSES = ("blue", "green", "red")  # sorted, as folder names are


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
