"""What every kerascls command shares: quiet TensorFlow start-up and one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable

# TensorFlow prints several INFO lines (CUDA stubs, oneDNN) at import; users need none of
# them. Set before anything imports TensorFlow; an explicit user setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment.

    TensorFlow's C++ start-up lines (absl's "All log messages before absl::InitializeLog()",
    oneDNN and CUDA-stub notices) are written before TF_CPP_MIN_LOG_LEVEL takes effect, so
    no environment variable hides them; they would bury the one line a command prints.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up noise hidden (unless the user asked for logs)."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    with _stderr_silenced():
        import tensorflow

        # Device discovery prints "failed call to cuInit" on machines with CUDA libraries
        # but no GPU; do it now, silenced, rather than at the first op.
        tensorflow.config.list_physical_devices()


class _NoRetracingNotice(logging.Filter):
    """Drops TensorFlow's "N out of the last N calls ... triggered tf.function retracing".

    Each evaluation traces its model once (kerascls.evaluate.metrics.traced_model); a
    command that evaluates several runs (--teachers, --folds) traces from the same line
    several times, which TensorFlow reports as if one function retraced. Nothing retraces.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


# one instance: Logger.addFilter adds an instance once, however many commands run
_NO_RETRACING_NOTICE = _NoRetracingNotice()


def run_command(
    main: Callable[[list[str] | None], int | None],
    argv: list[str] | None,
    *,
    tensorflow: bool = True,
) -> int:
    """Run a command's main; turn kerascls errors and Ctrl-C into one line and an exit code.

    Bugs (any other exception) still show their traceback: hiding those helps nobody.
    `tensorflow=False`: the command imports TensorFlow itself only if it needs it
    (kerascls-serve of a .tflite or .onnx file never does).
    """
    from kerascls.errors import KerasclsError

    args = sys.argv[1:] if argv is None else argv
    if tensorflow and not {"-h", "--help"} & set(args):  # --help stays fast: no TensorFlow
        import_tensorflow_quietly()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("kerascls").setLevel(logging.INFO)
    logging.getLogger("tensorflow").addFilter(_NO_RETRACING_NOTICE)
    try:
        return main(argv) or 0
    except KerasclsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
