"""Micro-batching: requests that arrive within a few milliseconds share one model call.

A model call costs a fixed overhead plus a little per image, so under load one call of 16
images answers far more requests per second than 16 calls of one. The batcher keeps a
queue of waiting requests; its loop takes the oldest, waits until the batch is full or
`max_wait_ms` after that request arrived (whichever comes first), runs the model once in
its own thread and hands each request its rows.

The queue is bounded (`max_queue` images): a request that would overflow it is refused at
once with `QueueFullError` (the server answers 503 with Retry-After), so under overload the
server sheds the excess in microseconds instead of queueing without bound. Nothing waits
without bound either: callers give `predict` a timeout.

The wait adapts to the load: given `requests_in_flight` (the server's count of predict
requests being read, decoded or answered), the batcher waits only while some request in
flight is not in the queue yet, i.e. could still join. Requests that come one at a time
then never wait, and under load the window fills as before.

With `max_batch=1` and `max_wait_ms=0` every request gets its own model call (batching off).

Example:
    >>> import asyncio
    >>> import numpy as np
    >>> async def demo():
    ...     batcher = MicroBatcher(lambda x: x.sum(axis=(1, 2, 3))[:, None], max_batch=4)
    ...     batcher.start()
    ...     parts = [np.ones((1, 2, 2, 3)) * i for i in range(3)]
    ...     results = await asyncio.gather(*(batcher.predict(p, timeout=1) for p in parts))
    ...     await batcher.stop()
    ...     return [float(r[0, 0]) for r in results], batcher.calls
    >>> asyncio.run(demo())
    ([0.0, 12.0, 24.0], 1)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


class QueueFullError(Exception):
    """The batcher's queue has no room for the request: shed it, ask to retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PredictTimeoutError(Exception):
    """A request waited longer than its timeout for its model call."""


@dataclass
class _Item:
    images: np.ndarray
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """A bounded queue in front of one model, merging requests into model calls.

    Args:
        predict: images (n, H, W, 3) -> probabilities (n, C); runs in the batcher's own
            thread, one call at a time (runtimes such as a TFLite interpreter are not
            thread-safe).
        max_batch: most images per model call (a request with more images runs alone).
        max_wait_ms: how long the oldest request may wait for others to join its batch.
        max_queue: most images waiting; a request that would pass it gets QueueFullError.
        on_batch: called with (images, seconds) after each model call (metrics).
        on_depth: called with the number of images waiting whenever it changes.
        requests_in_flight: the number of requests that may still bring images (the
            queued ones included); the batch waits for others only while it is larger than
            the queue. None: always wait up to `max_wait_ms`.
        name: for thread names and messages.
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        *,
        max_batch: int = 16,
        max_wait_ms: float = 2.0,
        max_queue: int = 64,
        on_batch: Callable[[int, float], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
        requests_in_flight: Callable[[], int] | None = None,
        name: str = "model",
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and max_wait_ms >= 0")
        self._predict = predict
        self.max_batch, self.max_queue = max_batch, max_queue
        self.max_wait = max_wait_ms / 1000.0
        self._on_batch, self._on_depth = on_batch, on_depth
        self._requests_in_flight = requests_in_flight
        self.name = name
        self._pending: collections.deque[_Item] = collections.deque()
        self._queued = 0  # images in _pending
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.calls = 0  # model calls so far
        self._running: list[_Item] = []  # the requests of the model call running now
        self.last_seconds = 0.0  # duration of the latest model call

    @property
    def queued(self) -> int:
        """Images waiting for a model call."""
        return self._queued

    def start(self) -> None:
        """Start the loop on the running event loop (call from async code)."""
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"kerascls-{self.name}")
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop the loop. First, for up to `drain_s` seconds, let it answer the requests
        already queued (a graceful shutdown); requests still waiting after that fail with
        QueueFullError (server going down)."""
        deadline = time.perf_counter() + drain_s
        while (
            self._task is not None
            and not self._task.done()
            and (self._pending or self._running)
            and time.perf_counter() < deadline
        ):
            await asyncio.sleep(0.002)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._pending or self._running:
            item = self._pending.popleft() if self._pending else self._running.pop()
            if not item.future.done():
                item.future.set_exception(QueueFullError(f"{self.name} model is stopping"))
        self._set_queued(0)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def predict(self, images: np.ndarray, timeout: float) -> np.ndarray:
        """Probabilities of `images`, computed in a shared model call.

        Raises:
            QueueFullError: at once, when the queue has no room for these images.
            PredictTimeoutError: no answer within `timeout` seconds.
        """
        if self._task is None or self._wake is None:
            raise QueueFullError(f"{self.name} model is not started")
        count = len(images)
        if self._pending and self._queued + count > self.max_queue:
            raise QueueFullError(
                f"{self.name} model is busy: {self._queued} images are waiting (the limit "
                f"is {self.max_queue}); retry shortly",
                retry_after=self.retry_after(),
            )
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(images, future))
        self._set_queued(self._queued + count)
        self._wake.set()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise PredictTimeoutError(
                f"no answer from the {self.name} model within {timeout:g} s"
            ) from None

    def retry_after(self) -> int:
        """Whole seconds after which the queue has likely drained (at least 1)."""
        calls = math.ceil(self._queued / self.max_batch)
        return max(1, math.ceil(calls * self.last_seconds))

    # -- the loop -----------------------------------------------------------------------
    def _set_queued(self, value: int) -> None:
        self._queued = value
        if self._on_depth is not None:
            self._on_depth(value)

    def _more_may_join(self) -> bool:
        """Whether a request not queued yet may still join the batch."""
        if self._requests_in_flight is None:
            return True
        return self._requests_in_flight() > len(self._pending)

    async def _loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            deadline = self._pending[0].enqueued + self.max_wait
            while self._queued < self.max_batch and self._more_may_join():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except TimeoutError:
                    break
            items = self._take()
            if not items:
                continue
            images = (
                items[0].images
                if len(items) == 1
                else np.concatenate([item.images for item in items])
            )
            self._running = items
            try:
                probabilities, seconds = await loop.run_in_executor(
                    self._executor, self._timed, images
                )
            except Exception as err:  # the model failed: every request of the batch hears it
                self._running = []
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(err)
                continue
            # (cancelled by stop: _running stays, and stop fails its requests)
            self._running = []
            self.calls += 1
            self.last_seconds = seconds
            if self._on_batch is not None:
                self._on_batch(len(images), seconds)
            start = 0
            for item in items:
                end = start + len(item.images)
                if not item.future.done():  # a request that timed out is gone
                    item.future.set_result(probabilities[start:end])
                start = end

    def _take(self) -> list[_Item]:
        """The oldest requests that fit in one batch (requests that gave up are dropped)."""
        items: list[_Item] = []
        count = 0
        while self._pending:
            head = self._pending[0]
            if head.future.done():  # timed out or cancelled while waiting
                self._pending.popleft()
                self._queued -= len(head.images)
                continue
            if items and count + len(head.images) > self.max_batch:
                break
            self._pending.popleft()
            self._queued -= len(head.images)
            items.append(head)
            count += len(head.images)
        self._set_queued(self._queued)
        return items

    def _timed(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        probabilities = self._predict(images)
        return probabilities, time.perf_counter() - start
