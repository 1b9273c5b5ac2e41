"""Data the tests make themselves (imported by test modules: `from helpers import ...`)."""

from __future__ import annotations

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
