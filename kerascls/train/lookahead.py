"""Lookahead weight averaging, as airbench does it: an EMA that the weights snap back to.

Every `every` steps the callback moves an exponential moving average of all the model's
weights (BatchNorm statistics included) towards the current weights, then sets the
weights to the average. The decay grows with the cube of training progress
(`0.95**every * progress**3`): early on the average follows the weights, late in training
it smooths the noisy end of the schedule, and at the end of training the weights are
the average. A fixed schedule of a short run gains about as much from this as from a
longer schedule (airbench94's ablations; measured here in benchmarks/README.md).

Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> _ = model.fit(np.ones((8, 2)), np.ones(8), epochs=1, verbose=0,
    ...               callbacks=[Lookahead(total_steps=4, every=2)])
"""

from __future__ import annotations

import keras
import numpy as np


class Lookahead(keras.callbacks.Callback):
    """Keep an EMA of the weights and snap the weights to it every `every` steps.

    Args:
        total_steps: steps of the whole run (an int, or a `keras.Variable` that a
            time-budgeted run sets later).
        every: steps between updates (airbench: 5).
        base_decay: per-step decay at the end of training (airbench: 0.95).
        start_step: the step training starts from (a resumed run).
    """

    def __init__(self, total_steps, every: int = 5, base_decay: float = 0.95, start_step: int = 0):
        super().__init__()
        self.total_steps = total_steps
        self.every = int(every)
        self.base_decay = float(base_decay)
        self.step = int(start_step)
        self._average: list[np.ndarray] | None = None

    def _total(self) -> int:
        return max(int(keras.ops.convert_to_numpy(self.total_steps)), 1)

    def on_train_begin(self, logs=None) -> None:
        self._average = [np.array(w) for w in self.model.get_weights()]

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.step += 1
        if self.step % self.every == 0 or self.step >= self._total():
            progress = min(self.step / self._total(), 1.0)
            self.update(self.base_decay**self.every * progress**3)

    def update(self, decay: float) -> None:
        """average <- decay * average + (1 - decay) * weights; weights <- average."""
        weights = self.model.get_weights()
        self._average = [
            decay * average + (1.0 - decay) * np.asarray(w)
            if np.issubdtype(np.asarray(w).dtype, np.floating)
            else np.asarray(w)
            for average, w in zip(self._average, weights, strict=True)
        ]
        self.model.set_weights(self._average)
