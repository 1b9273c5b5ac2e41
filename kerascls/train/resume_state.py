"""`Resumed`: what a run that `resume` continues brings to `fit`'s steps.

Its own module, below both fit.py (whose steps take one) and resume.py (which makes one
and calls those steps), so that neither imports the other both ways.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

from kerascls.data import describe_changes, recorded_fingerprint
from kerascls.runs import Run
from kerascls.train.cluster import is_chief

log = logging.getLogger(__name__)


@dataclass
class Resumed:
    """A run that `resume` continues: what `_train`'s steps ask of it."""

    run: Run

    def check_data(self, data) -> list[str]:
        """Warn, in one line, when the data differs from what the run trained on so far
        (the content fingerprints in run.json, kerascls/data/fingerprint.py); what changed."""
        before = recorded_fingerprint(self.run.info.dataset) or None
        changes = describe_changes(before, data.source.get("fingerprint"))
        if changes and is_chief():
            log.warning(
                "the data of run %s changed since it was trained: %s; the resumed run "
                "continues on the data as it is now",
                self.run.path,
                "; ".join(changes),
            )
        return changes

    def align_history(self) -> None:
        """Drop history.csv rows past the epoch that backup/ will restore.

        The CSV row of an epoch is written just before its backup; a run killed between
        the two resumes from the epoch before, and would otherwise log that epoch twice."""
        try:
            metadata = json.loads((self.run.path / "backup" / "training_metadata.json").read_text())
            restored = int(metadata["epoch"])
        except (OSError, KeyError, ValueError, TypeError):
            return
        self.run.truncate_history(restored)

    def best_so_far(self) -> float | None:
        """The best val_accuracy in history.csv, so a resumed run keeps a better best.keras."""
        values = self.run.history(missing_ok=True).get("val_accuracy")
        if values is None or not np.isfinite(values).any():
            return None
        return float(np.nanmax(values))
