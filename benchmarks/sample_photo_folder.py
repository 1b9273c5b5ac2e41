"""A small photo folder of mixed sizes, made from the photos scikit-learn ships.

Users bring a few hundred photos of mixed sizes in train/<class>/ and nothing else. This
writes such a folder without a download: random crops (60 to 420 pixels a side, any
aspect) of scikit-learn's two sample photographs, a Chinese temple and a flower, saved as
JPEGs at quality 90. The two classes differ in colour and texture, not only in size.

`--source skimage` makes a harder, six-class folder the same way from scikit-image's
colour photographs (astronaut, cat, coffee, rocket, Hubble deep field, a stained tissue
slide): the class is the photograph a crop came from, so small crops of plain regions
(sky, background) are hard to tell apart. The model comparison of issue 22 uses it.

Usage:
    python benchmarks/sample_photo_folder.py ../photos            # 150 photos a class
    python benchmarks/sample_photo_folder.py ../photos --per-class 40 --test 20
    python benchmarks/sample_photo_folder.py ../photos6 --source skimage --per-class 100
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
)


def source_photos(source: str) -> dict[str, np.ndarray]:
    """Class name -> RGB photograph, from a package's bundled sample images (no download)."""
    if source == "sklearn":
        from sklearn.datasets import load_sample_images

        return dict(zip(("temple", "flower"), load_sample_images().images, strict=True))
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS}


def write_photo_folder(
    root: Path, per_class: int = 150, test: int = 0, seed: int = 0, source: str = "sklearn"
) -> Path:
    rng = np.random.default_rng(seed)
    for name, photo in source_photos(source).items():
        height, width = photo.shape[:2]
        for split, count in (("train", per_class), ("test", test)):
            if count == 0:
                continue
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                h = int(rng.integers(60, min(420, height)))
                w = int(rng.integers(60, min(420, width)))
                top = int(rng.integers(0, height - h))
                left = int(rng.integers(0, width - w))
                crop = Image.fromarray(photo[top : top + h, left : left + w])
                if rng.random() < 0.5:
                    crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                crop.save(folder / f"{name}_{i:04d}.jpg", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--test", type=int, default=0, help="test/ photos per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--source",
        choices=("sklearn", "skimage"),
        default="sklearn",
        help="sklearn: 2 classes (temple, flower); skimage: 6 classes",
    )
    args = parser.parse_args()
    root = write_photo_folder(Path(args.root), args.per_class, args.test, args.seed, args.source)
    classes = len(source_photos(args.source))
    print(f"wrote {root}: train/ {classes * args.per_class} photos, test/ {classes * args.test}")


if __name__ == "__main__":
    main()
