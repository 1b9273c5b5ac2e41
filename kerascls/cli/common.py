"""What every kerascls command shares: quiet TensorFlow start-up and one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

# TensorFlow prints several INFO lines (CUDA stubs, oneDNN) at import; users need none of
# them. Set before anything imports TensorFlow; an explicit user setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_command(main: Callable[[list[str] | None], int | None], argv: list[str] | None) -> int:
    """Run a command's main; turn kerascls errors and Ctrl-C into one line and an exit code.

    Bugs (any other exception) still show their traceback: hiding those helps nobody.
    """
    from kerascls.errors import KerasclsError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("kerascls").setLevel(logging.INFO)
    try:
        return main(argv) or 0
    except KerasclsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
