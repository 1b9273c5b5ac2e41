"""Live, candidate and shadow models: who answers a request, and how each model is run.

A/B and gray release: with a candidate and `split=0.1`, one request in ten is answered by
the candidate. A request that names its client (header `X-Client-Id`) is assigned by a hash
of that id, so the same client always meets the same model (sticky); a request without
one is assigned at random. The shadow model sees a copy of the live model's traffic and
never answers: the server records whether it agrees with the live model, and its latency.

Each variant has its own runner and its own `MicroBatcher` (its own thread), so a slow
candidate or shadow never holds up the live model's queue.

Example:
    >>> router = Router(split=0.1, has_candidate=True)
    >>> router.assign("client-42") == router.assign("client-42")   # sticky
    True
    >>> Router(split=0.0, has_candidate=True).assign("anyone")
    'live'
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LIVE, CANDIDATE, SHADOW = "live", "candidate", "shadow"
CLIENT_HEADER = "x-client-id"


class Router:
    """Assigns each request to the live model or the candidate.

    Args:
        split: the candidate's share of traffic, 0 to 1.
        has_candidate: whether there is a candidate at all (else everything is live).
        seed: for the random assignment of requests without a client id (tests).
    """

    def __init__(self, split: float, has_candidate: bool, seed: int | None = None) -> None:
        if not 0.0 <= split <= 1.0:
            raise ValueError(f"split={split} must be between 0 and 1")
        self.split = split if has_candidate else 0.0
        self._random = random.Random(seed)

    def assign(self, client_id: str | None) -> str:
        """LIVE or CANDIDATE for a request from `client_id` (None: no id, random)."""
        if self.split <= 0.0:
            return LIVE
        fraction = client_fraction(client_id) if client_id else self._random.random()
        return CANDIDATE if fraction < self.split else LIVE


def client_fraction(client_id: str) -> float:
    """A client id's fixed place in [0, 1): the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def bucket_sizes(max_batch: int) -> tuple[int, ...]:
    """The batch sizes the model is called with: a batch is padded up to the next one.

    A TFLite interpreter is allocated per batch size, and allocating costs more than a
    small model's inference; four sizes (the runner keeps four interpreters) keep every
    call on a warm interpreter.

    Example:
        >>> bucket_sizes(16), bucket_sizes(1), bucket_sizes(6)
        ((1, 4, 8, 16), (1,), (1, 3, 6))
    """
    return tuple(sorted({1, max(1, max_batch // 4), max(1, max_batch // 2), max_batch}))


def padded_predict(runner: Any, buckets: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """runner.predict that pads each batch with black images up to a bucket size."""

    def predict(images: np.ndarray) -> np.ndarray:
        count = len(images)
        size = next((b for b in buckets if b >= count), None)
        if size is None:  # one request larger than max_batch: chunks of the largest bucket
            return runner.predict(images, batch_size=buckets[-1])
        if size > count:
            padding = np.zeros((size - count, *images.shape[1:]), images.dtype)
            images = np.concatenate([images, padding])
        return runner.predict(images, batch_size=size)[:count]

    return predict


@dataclass
class ServedModel:
    """A model to serve: its path and, when already loaded, its runner.

    Args:
        path: the model file or SavedModel folder.
        runner: a loaded runner (anything with predict, input_size, class_names,
            num_classes, format, precision); None: the app loads it at start-up.
        load_seconds: how long loading took, when it was loaded outside the app.
        threads: CPU threads for the runtime when the app loads it.
    """

    path: Path
    runner: Any = None
    load_seconds: float | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def load(self) -> None:
        """Load the runner if it is not loaded yet (blocking; call from a thread)."""
        if self.runner is not None:
            return
        from kerascls.export.runners import load_runner

        start = time.perf_counter()
        self.runner = load_runner(self.path, threads=self.threads)
        self.load_seconds = time.perf_counter() - start


@dataclass
class Variant:
    """One served model and what the app keeps about it."""

    name: str
    model: ServedModel
    description: dict[str, Any] = field(default_factory=dict)
    batcher: Any = None
    ready: bool = False

    @property
    def runner(self) -> Any:
        return self.model.runner

    def warm_up(self, buckets: tuple[int, ...]) -> None:
        """One call per bucket size: interpreters allocated, kernels and caches warm."""
        height, width = self.runner.input_size
        predict = padded_predict(self.runner, buckets)
        for size in buckets:
            predict(np.zeros((size, height, width, 3), np.uint8))


def check_model_path(path: str | os.PathLike) -> Path:
    """The path, when a runner knows its format; raises the runners' one-line error."""
    from kerascls.export.runners import runner_class

    runner_class(path)
    return Path(path)
