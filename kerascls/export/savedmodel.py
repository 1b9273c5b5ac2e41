"""TensorFlow SavedModel export: the input of TF Serving, TF-TRT and most converters.

Written with Keras's own `model.export(format="tf_saved_model")`: one `serve` endpoint (also
the "serving_default" signature) taking float32 0-255 NHWC images with a dynamic batch.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from kerascls.export.quiet import quiet


def export_savedmodel(model: Any, path: str | Path) -> Path:
    """Write `model` as a SavedModel folder at `path`, replacing an older one atomically.

    The folder is written beside its final place and renamed over it at the end: a failed
    or killed export never leaves a half-written folder where the old one was.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        with quiet():  # Keras prints the endpoint and every captured variable
            model.export(str(tmp / "model"), format="tf_saved_model", verbose=False)
        replace_tree(tmp / "model", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def replace_tree(new: Path, target: Path) -> None:
    """Move folder `new` to `target`; an existing `target` is removed only after the move."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
