"""Content fingerprints of a dataset's splits: has the data changed since a run trained on it?

A fingerprint is a hash per split plus a combined one, stored in `ImageDataset.source`
(and so in every run's run.json) as:

    {"train": {"files": 45000, "bytes": 123456, "hash": "..."}, "validation": ...,
     "combined": "..."}

For an image folder each split's hash covers every file's path relative to the dataset
root, its size and the BLAKE2b hash of its bytes, which the up-front scan
(`kerascls.data.scan`) computes while it reads the file anyway. For in-memory arrays it
covers the pixel bytes and the labels. `describe_changes` compares two of them, for
`--resume` and the report.

Example:
    >>> import numpy as np
    >>> from kerascls.data import from_arrays
    >>> x = np.zeros((8, 4, 4, 3), np.uint8)
    >>> a = from_arrays(x, np.arange(8) % 2, validation_size=2).source["fingerprint"]
    >>> x[0, 0, 0, 0] = 1  # one pixel of one training image
    >>> b = from_arrays(x, np.arange(8) % 2, validation_size=2).source["fingerprint"]
    >>> describe_changes(a, a), describe_changes(a, b)
    ([], ['the training split changed (same 6 images, different content)'])
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kerascls.data.scan import ImageInfo

SPLIT_LABELS = {"train": "training", "validation": "validation", "test": "test"}


def _hasher() -> Any:
    return hashlib.blake2b(digest_size=16)


def files_fingerprint(
    paths: Sequence[str], root: str | os.PathLike[str], infos: Mapping[str, ImageInfo]
) -> dict[str, Any]:
    """The fingerprint of one file split, from the digests the scan recorded.

    Sorted by relative path, so that the order of the split (a seeded hold-out) does not
    matter, only which files it holds and what they contain.

    Example:
        >>> info = ImageInfo((4, 4), False, digest="ab", nbytes=10)
        >>> files_fingerprint(["/d/a.png"], "/d", {"/d/a.png": info})["files"]
        1
    """
    rows = sorted((os.path.relpath(path, root), infos[path]) for path in paths)
    h = _hasher()
    for relative, info in rows:
        # "/" on every OS, so a folder copied between machines keeps its fingerprint
        h.update(f"{relative.replace(os.sep, '/')}\0{info.nbytes}\0{info.digest}\n".encode())
    total = sum(info.nbytes for _, info in rows)
    return {"files": len(rows), "bytes": total, "hash": h.hexdigest()}


def arrays_fingerprint(images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The fingerprint of one in-memory split: its pixels, shape and labels.

    Example:
        >>> fp = arrays_fingerprint(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1]))
        >>> fp["images"], len(fp["hash"])
        (2, 32)
    """
    h = _hasher()
    h.update(repr(images.shape).encode())
    h.update(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(labels, dtype=np.int64).data)
    return {"images": len(labels), "bytes": int(images.nbytes), "hash": h.hexdigest()}


def combine(splits: Mapping[str, Mapping[str, Any] | None], class_names: Sequence[str]) -> dict:
    """Per-split fingerprints plus a combined hash over them and the class names.

    Example:
        >>> sorted(combine({"train": {"hash": "ab"}, "test": None}, ["cat"]))
        ['combined', 'train']
    """
    present = {name: fp for name, fp in splits.items() if fp is not None}
    h = _hasher()
    h.update("\0".join(class_names).encode())
    for name in sorted(present):
        h.update(f"\n{name}:{present[name]['hash']}".encode())
    return {**present, "combined": h.hexdigest()}


def recorded_fingerprint(source: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fingerprint a dataset's description records (`ImageDataset.source`, run.json's
    "dataset"), or {} for one made before fingerprints existed.

    Example:
        >>> recorded_fingerprint({"kind": "image_folder", "fingerprint": {"combined": "ab"}})
        {'combined': 'ab'}
        >>> recorded_fingerprint({"kind": "cifar10"}), recorded_fingerprint(None)
        ({}, {})
    """
    return dict((source or {}).get("fingerprint") or {})


def describe_changes(before: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> list[str]:
    """One phrase per split whose content differs between two fingerprints; [] if none do.

    Fingerprints missing on either side (a run.json from before fingerprints) compare as
    unchanged: nothing is known.

    Example:
        >>> old = {"train": {"files": 9, "hash": "a"}, "combined": "x"}
        >>> describe_changes(old, {"train": {"files": 10, "hash": "b"}, "combined": "y"})
        ['the training split changed (9 -> 10 files)']
    """
    if not before or not now or before.get("combined") == now.get("combined"):
        return []
    changes = []
    for name, label in SPLIT_LABELS.items():
        old, new = before.get(name), now.get(name)
        if old is None and new is None:
            continue
        if old is None or new is None:
            changes.append(f"the {label} split was {'added' if old is None else 'removed'}")
            continue
        if old.get("hash") == new.get("hash"):
            continue
        unit = "files" if "files" in new else "images"
        count_old, count_new = old.get(unit), new.get(unit)
        if count_old != count_new:
            changes.append(f"the {label} split changed ({count_old} -> {count_new} {unit})")
        else:
            changes.append(
                f"the {label} split changed (same {count_new} {unit}, different content)"
            )
    return changes or ["the class names changed"]
