"""Image folders: `root/<split>/<class>/*.jpg` -> `ImageDataset`.

Layout, with class names taken from the folder names, sorted:

    root/train/<class>/*           required (or root/<class>/*: root is then train/)
    root/validation/<class>/*      optional, also spelt val/ or valid/
    root/test/<class>/*            optional

Files with the extensions jpg, jpeg, png, bmp, gif and webp (any case) are images, also in
sub-folders of a class folder; other files are ignored. Every image is checked once up front
(see `kerascls.data.scan`); the ones that cannot be read are skipped with one warning that
names them. Mistakes in the layout are `DataError`s that say what to change.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from kerascls.data.dataset import ImageDataset, Split
from kerascls.data.fingerprint import combine, files_fingerprint
from kerascls.data.holdout import holdout_count, stratified_split
from kerascls.data.images import IMAGE_EXTENSIONS, is_image_name
from kerascls.data.scan import ImageInfo, check_images, describe_bad_files
from kerascls.errors import DataError

logger = logging.getLogger(__name__)

_VALIDATION_DIRS = ("validation", "val", "valid")
_HINT = "expected ROOT/train/<class>/ image folders (or ROOT/<class>/)"


def load_image_folder(
    root: str | os.PathLike[str],
    image_size: int | tuple[int, int] | None = None,
    validation_size: float | int | None = None,
    seed: int = 0,
) -> ImageDataset:
    """Load a folder of images with one sub-folder per class.

    Args:
        root: the dataset folder (see the module docstring for the layout).
        image_size: (height, width) or one int for square images; every image is resized
            to it. None: the most common size among the training images (each one is
            opened by the up-front check anyway, so this costs nothing).
        validation_size: used only when there is no validation/ folder: the fraction
            (e.g. 0.1) or count of training images held out, stratified by class. None:
            10%, at most 5,000, at least one per class. 0: no validation split.
        seed: seed of that hold-out; the same seed gives the same split.

    Returns:
        An `ImageDataset` whose splits hold file paths; `source` re-opens it.

    Raises:
        DataError: root missing, no images, an empty class folder, or validation/test
            classes that differ from train's.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())  # flowers/train/<class>/*.png
        >>> for name in ("tulip", "rose", "daisy"):
        ...     (root / "train" / name).mkdir(parents=True)
        ...     for i in range(4):
        ...         image = Image.fromarray(np.zeros((30, 40, 3), np.uint8))
        ...         image.save(root / "train" / name / f"{i}.png")
        >>> ds = load_image_folder(root, image_size=(24, 24))
        >>> ds.class_names, ds.image_size, ds.counts()["train"]
        (('daisy', 'rose', 'tulip'), (24, 24), [3, 3, 3])
    """
    root_path = Path(root).expanduser().resolve()
    split_dirs, listed = _layout(root_path)
    class_names = tuple(sorted(listed["train"]))
    infos = _readable_images(listed, split_dirs, root_path)
    size, size_reason = _resolve_image_size(image_size, listed["train"], infos)
    splits = {name: _make_split(files, class_names, infos, size) for name, files in listed.items()}
    train, validation = _hold_out(splits["train"], splits.get("validation"), validation_size, seed)
    source: dict[str, Any] = {
        "kind": "image_folder",
        "root": str(root_path),
        "image_size": list(size),
        "image_size_reason": size_reason,
        "validation_size": validation_size,
        "seed": seed,
        "layout": {name: str(path) for name, path in split_dirs.items()},
    }
    dataset = ImageDataset(class_names, size, train, validation, splits.get("test"), source)
    source.update(counts=dataset.counts(), fingerprint=_fingerprint(dataset, root_path, infos))
    return dataset


def _hold_out(
    train: Split, validation: Split | None, size: float | int | None, seed: int
) -> tuple[Split, Split | None]:
    """train and validation, with a validation split held out of train when there is none."""
    if validation is None and holdout_count(len(train), size, train.num_classes) > 0:
        keep, holdout = stratified_split(train.labels, size, seed)
        return train.subset(keep), train.subset(holdout)
    return train, validation


def _layout(root: Path) -> tuple[dict[str, Path], dict[str, dict[str, list[str]]]]:
    """The split folders under `root`, and for each split: class name -> its image files
    (sorted), every split with train's classes."""
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"image folder {root} {what}; {_HINT}")
    split_dirs = _find_split_dirs(root)
    listed = {name: _list_classes(path) for name, path in split_dirs.items()}
    for name in ("validation", "test"):
        if name in listed:
            _check_same_classes(split_dirs[name], set(listed[name]), set(listed["train"]), root)
    return split_dirs, listed


def _readable_images(
    listed: dict[str, dict[str, list[str]]], split_dirs: dict[str, Path], root: Path
) -> dict[str, ImageInfo]:
    """Each readable image file's `ImageInfo`; one warning names the files that are not,
    and a class folder with no readable image is a DataError."""
    all_files = [f for classes in listed.values() for files in classes.values() for f in files]
    results = dict(zip(all_files, check_images(all_files), strict=True))
    bad = [(f, r) for f, r in results.items() if isinstance(r, str)]
    if bad:
        named = [(os.path.relpath(f, root), reason) for f, reason in bad]
        logger.warning(
            "skipping %d file(s) under %s that are not readable images: %s",
            len(bad),
            root,
            describe_bad_files(named),
        )
    infos = {f: r for f, r in results.items() if isinstance(r, ImageInfo)}
    for name, classes in listed.items():
        for cls, files in classes.items():
            if not any(f in infos for f in files):
                folder = split_dirs[name] / cls
                raise DataError(
                    f"class folder {folder} has no readable images (all {len(files)} files "
                    "failed to open); add images or remove the folder"
                )
    return infos


def _fingerprint(dataset: ImageDataset, root: Path, infos: dict[str, ImageInfo]) -> Any:
    """The dataset's content hash, from the hashes the scan computed while checking each
    file (data/fingerprint.py)."""
    splits = {"train": dataset.train, "validation": dataset.validation, "test": dataset.test}
    return combine(
        {
            name: files_fingerprint(split.paths, root, infos) if split is not None else None
            for name, split in splits.items()
        },
        dataset.class_names,
    )


def _find_split_dirs(root: Path) -> dict[str, Path]:
    subdirs = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if "train" not in subdirs:
        return {"train": root}  # root holds the class folders directly
    found = {"train": subdirs["train"]}
    validation = [subdirs[name] for name in _VALIDATION_DIRS if name in subdirs]
    if len(validation) > 1:
        names = ", ".join(f"{p.name}/" for p in validation)
        raise DataError(f"{root} has {names} folders; keep one (they name the same split)")
    if validation:
        found["validation"] = validation[0]
    if "test" in subdirs:
        found["test"] = subdirs["test"]
    ignored = sorted(set(subdirs) - {p.name for p in found.values()})
    if ignored:
        logger.warning(
            "ignoring folder(s) %s next to train/ in %s: only train/, validation/ (val/, "
            "valid/) and test/ are splits",
            ", ".join(f"{name}/" for name in ignored),
            root,
        )
    return found


def _list_classes(split_dir: Path) -> dict[str, list[str]]:
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    listed = {p.name: _image_files(p) for p in classes}
    if not any(listed.values()):
        loose = _image_files(split_dir, recursive=False)
        if loose:
            raise DataError(
                f"{split_dir} holds {len(loose)} images but no class folders; move each "
                f"class's images into its own folder, {split_dir}/<class>/"
            )
        raise DataError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {split_dir}; {_HINT}"
        )
    empty = [name for name, files in listed.items() if not files]
    if empty:
        raise DataError(
            f"class folder(s) without images in {split_dir}: {', '.join(empty)}; add images "
            "or remove the folder(s)"
        )
    return listed


def _image_files(folder: Path, recursive: bool = True) -> list[str]:
    if not recursive:
        names = (e.path for e in os.scandir(folder) if e.is_file())
        return sorted(f for f in names if is_image_name(os.path.basename(f)))
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(os.path.join(dirpath, f) for f in filenames if is_image_name(f))
    return sorted(found)


def _check_same_classes(split_dir: Path, classes: set[str], train: set[str], root: Path) -> None:
    if classes == train:
        return
    parts = []
    if train - classes:
        parts.append(f"missing {sorted(train - classes)}")
    if classes - train:
        parts.append(f"not in train/: {sorted(classes - train)}")
    raise DataError(
        f"the classes of {os.path.relpath(split_dir, root)}/ differ from train/: "
        f"{'; '.join(parts)}; every split needs the same class folders"
    )


# Sides the default image size is chosen from, for photos of mixed or large sizes.
_SIDES = (32, 48, 64, 96, 128, 160, 192, 224)


def _resolve_image_size(
    image_size: int | tuple[int, int] | None,
    train: dict[str, list[str]],
    infos: dict[str, ImageInfo],
) -> tuple[tuple[int, int], str]:
    """The size every image is resized to, and why (for the run's first lines)."""
    if image_size is None:
        sizes = [infos[f].size for files in train.values() for f in files if f in infos]
        return default_image_size(sizes)
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise DataError(f"image_size={image_size!r} must be (height, width) with positive sizes")
    return size, "as asked"


def default_image_size(sizes: list[tuple[int, int]]) -> tuple[tuple[int, int], str]:
    """The image size a folder gets when none is given, and why.

    Data of one size (at most 224 pixels a side) keeps it: CIFAR-10 stays 32x32. Photos
    of mixed or large sizes go square, at the largest of 32, 48, 64, 96, 128, 160, 192 and
    224 that is not above their median short side: upsampling adds no detail, and compute
    grows with the square of the side.

    Example:
        >>> default_image_size([(32, 32)] * 9 + [(40, 30)])
        ((32, 32), '32x32, the size of most training images')
        >>> default_image_size([(375, 500), (480, 640), (20, 20), (3000, 2000)])[0]
        (224, 224)
    """
    common, count = Counter(sizes).most_common(1)[0]
    if 2 * count >= len(sizes) and max(common) <= _SIDES[-1]:
        return common, f"{common[0]}x{common[1]}, the size of most training images"
    short = float(np.median([min(size) for size in sizes]))
    side = max([s for s in _SIDES if s <= short] or [_SIDES[0]])
    return (side, side), (
        f"{side}x{side}: the training images' median short side is {short:.0f} pixels "
        f"(--image-size to change)"
    )


def _make_split(
    classes: dict[str, list[str]],
    class_names: tuple[str, ...],
    infos: dict[str, ImageInfo],
    image_size: tuple[int, int],
) -> Split:
    paths, labels = [], []
    for label, cls in enumerate(class_names):
        kept = [f for f in classes[cls] if f in infos]
        paths.extend(kept)
        labels.extend([label] * len(kept))
    return Split(
        labels=np.asarray(labels, dtype=np.int64),
        num_classes=len(class_names),
        image_size=image_size,
        paths=np.asarray(paths, dtype=str),
        needs_pil=np.asarray([infos[f].needs_pil for f in paths], dtype=bool),
    )
