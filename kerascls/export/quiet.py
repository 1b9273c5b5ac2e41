"""Silence what converters print on the file descriptors, below Python's reach.

The TFLite converter, tf2onnx and TensorRT print pages of progress from C++ straight to
file descriptors 1 and 2; a user asked for one table. Errors still arrive as exceptions.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send stdout and stderr (the descriptors, not just sys.stdout) to /dev/null.

    Set KERASCLS_VERBOSE=1 to see everything, e.g. to debug a converter.
    """
    if os.environ.get("KERASCLS_VERBOSE") == "1":
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        # Python-level prints too, where sys.stdout is not descriptor 1 (pytest, notebooks)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
