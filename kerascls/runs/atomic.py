"""Atomic writes: every file or folder kerascls writes appears whole or not at all.

Commands given no run use the newest one, and runs get killed: a reader must see the old
file or the new one, never a part. So everything is written to a temporary name beside its
final place (same folder, hence same file system) and renamed over it at the end; a
failure or a kill before the rename leaves the old file in place and, at worst, a hidden
`.tmp-*` file beside it.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "model.bin") as tmp:
    ...     _ = tmp.write_bytes(b"weights")      # writers only ever see `tmp`
    >>> (folder / "model.bin").read_bytes()
    b'weights'
    >>> write_json_atomic(folder / "run.json", {"epochs": 3}).name
    'run.json'
    >>> (folder / "run.json").read_text()
    '{\\n  "epochs": 3\\n}\\n'
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends, rename it over `path`.

    The temporary name keeps `path`'s name as its ending (`.tmp-<random>-best.keras`), so
    writers that insist on a suffix (Keras' `.keras`, `.weights.h5`) accept it. The block
    may write a file or a folder there. A folder replaces an existing folder by moving the
    old one aside first and deleting it only after the rename. If the block raises, the
    temporary file or folder is removed and `path` is left as it was. Parent folders are
    created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{secrets.token_hex(4)}-{path.name}")
    try:
        yield tmp
        if tmp.is_dir():
            _replace_folder(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)  # nothing left after a rename; after a failure, the partial file


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; return `path`."""
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        # open() rather than tempfile.mkstemp: the file gets the usual permissions (mkstemp's
        # are private to the owner), so a colleague can read what a run wrote.
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; return `path`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as indented JSON to `path` atomically; numpy values and paths are
    written as plain numbers, lists and strings."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def write_csv_atomic(
    path: str | os.PathLike, rows: Iterable[dict[str, Any]], fields: Sequence[str]
) -> Path:
    """Write `rows` (dicts) as CSV with the header `fields` to `path` atomically."""
    with atomic_path(path) as tmp, open(tmp, "x", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, tuples from dataclasses, paths
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _replace_folder(new: Path, target: Path) -> None:
    # Two renames cannot be one atomic step; in between, the old folder is still whole
    # under its hidden name, and the target name never holds a partial folder.
    old = None
    if target.exists():
        old = target.with_name(f".old-{secrets.token_hex(4)}-{target.name}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
