"""What the server's pieces share: its settings and its state (models, router, metrics).

`ServeState` is attached to the app (`attach`) and read back by the routes, the error
handlers and the middleware (`state_of`), so none of them needs a closure over it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerascls.serve.batcher import MicroBatcher, PredictTimeoutError, QueueFullError
from kerascls.serve.inputs import Limits
from kerascls.serve.metrics import ServeMetrics
from kerascls.serve.models import describe_model
from kerascls.serve.variants import (
    CANDIDATE,
    LIVE,
    SHADOW,
    Router,
    Variant,
    bucket_sizes,
    padded_predict,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSettings:
    """How the server batches, limits and ranks.

    Args:
        max_batch: most images per model call; 1 with max_wait_ms=0 turns batching off.
        max_wait_ms: how long a request may wait for others to share its model call.
        max_queue: most images waiting per model; past it requests get 503 at once.
        max_in_flight: most predict requests being read, decoded or predicted at once;
            past it a request gets 503 before its body is read. It bounds the latency of
            what is accepted (about max_in_flight / requests per second) and the memory.
        timeout_s: longest a request waits for its model call before a 503.
        top_k: classes returned per image (a request may ask for fewer or more).
        split: the candidate's share of traffic (0 to 1).
        limits: body, file-count and pixel limits of one request.
    """

    max_batch: int = 16
    max_wait_ms: float = 2.0
    max_queue: int = 64
    max_in_flight: int = 16
    timeout_s: float = 5.0
    top_k: int = 3
    split: float = 0.0
    limits: Limits = field(default_factory=Limits)


class ServeState:
    """Everything the routes share: variants, router, metrics, settings."""

    def __init__(self, variants: dict[str, Variant], settings: ServeSettings) -> None:
        self.variants, self.settings = variants, settings
        self.metrics = ServeMetrics()
        self.router = Router(settings.split, has_candidate=CANDIDATE in variants)
        self.buckets = bucket_sizes(settings.max_batch)
        self.error: str | None = None
        self.in_flight = 0  # predict requests in the app now, all variants
        # Decoding runs here, a few images at a time: bounded CPU and memory however many
        # large images arrive at once.
        self.decode_pool = ThreadPoolExecutor(
            max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="kerascls-decode"
        )
        self.max_in_flight = settings.max_in_flight
        self._background: set[asyncio.Task] = set()

    @property
    def ready(self) -> bool:
        return all(v.ready for v in self.variants.values())

    async def prepare(self) -> None:
        """Load each model (in a thread), describe it, start its batcher, warm it up."""
        try:
            for variant in self.variants.values():
                await asyncio.to_thread(variant.model.load)
                variant.description = describe_model(variant.model.path, variant.runner)
                self._start_batcher(variant)
                await asyncio.to_thread(variant.warm_up, self.buckets)
                variant.ready = True
                self._record_model(variant)
                logger.info("%s model ready: %s", variant.name, variant.model.path)
        except Exception as err:  # a model that cannot load: /readyz says why
            self.error = f"{type(err).__name__}: {err}"
            logger.error("cannot serve: %s", self.error)

    def _start_batcher(self, variant: Variant) -> None:
        m, name = self.metrics, variant.name

        def on_batch(images: int, seconds: float) -> None:
            m.batch_size.labels(variant=name).observe(images)
            m.model_seconds.labels(variant=name).observe(seconds)

        variant.batcher = MicroBatcher(
            padded_predict(variant.runner, self.buckets),
            max_batch=self.settings.max_batch,
            max_wait_ms=self.settings.max_wait_ms,
            max_queue=self.settings.max_queue,
            on_batch=on_batch,
            on_depth=m.queue_depth.labels(variant=name).set,
            requests_in_flight=lambda: self.in_flight,
            name=name,
        )
        variant.batcher.start()

    def _record_model(self, variant: Variant) -> None:
        m, d = self.metrics, variant.description
        m.model_ready.labels(variant=variant.name).set(1)
        if variant.model.load_seconds is not None:
            m.model_load_seconds.labels(variant=variant.name).set(variant.model.load_seconds)
        m.model_info.labels(
            variant=variant.name,
            name=d["name"],
            version=d["version"],
            format=d["format"],
            precision=d["precision"],
        ).set(1)

    async def stop(self) -> None:
        """Shutdown: answer the images still queued (each batcher drains, within the
        request timeout), then stop the batchers, shadow work and the decoding pool."""
        for variant in self.variants.values():
            if variant.batcher is not None:
                await variant.batcher.stop(drain_s=self.settings.timeout_s)
        for task in list(self._background):
            task.cancel()
        self.decode_pool.shutdown(wait=False, cancel_futures=True)

    def record_predictions(self, variant: str, probabilities: np.ndarray) -> np.ndarray:
        """Count each image's top-1 class and confidence; return the top-1 indices."""
        top1 = probabilities.argmax(axis=1)
        names = self.variants[variant].description["class_names"]
        for index, row in zip(top1, probabilities, strict=True):
            self.metrics.predictions.labels(variant=variant, class_name=names[index]).inc()
            self.metrics.confidence.labels(variant=variant).observe(float(row[index]))
        return top1

    def shadow(self, images: np.ndarray, live_top1: np.ndarray) -> None:
        """Run the shadow model on a copy of the request, in the background."""
        if SHADOW not in self.variants or not self.variants[SHADOW].ready:
            return
        task = asyncio.get_running_loop().create_task(self._shadow(images, live_top1))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shadow(self, images: np.ndarray, live_top1: np.ndarray) -> None:
        m, variant = self.metrics, self.variants[SHADOW]
        start = time.perf_counter()
        try:
            probabilities = await variant.batcher.predict(images, self.settings.timeout_s)
        except QueueFullError:
            m.errors.labels(kind="queue_full", variant=SHADOW).inc()
            return
        except PredictTimeoutError:
            m.errors.labels(kind="timeout", variant=SHADOW).inc()
            return
        except Exception:  # the shadow must never hurt the live traffic
            m.errors.labels(kind="model_error", variant=SHADOW).inc()
            logger.exception("shadow model failed")
            return
        m.request_seconds.labels(route="shadow", status="200", variant=SHADOW).observe(
            time.perf_counter() - start
        )
        top1 = self.record_predictions(SHADOW, probabilities)
        # by class name: the two models may number their classes differently
        live_names = self.variants[LIVE].description["class_names"]
        shadow_names = variant.description["class_names"]
        agree = sum(shadow_names[s] == live_names[v] for s, v in zip(top1, live_top1, strict=True))
        m.shadow_comparisons.labels(variant=SHADOW).inc(len(top1))
        m.shadow_agreements.labels(variant=SHADOW).inc(agree)


def attach(app: Any, state: ServeState) -> None:
    """Make `state` the app's: `state_of` finds it from any request to that app."""
    app.state.serve = state


def app_state(app: Any) -> ServeState:
    """The `ServeState` attached to `app`."""
    return app.state.serve


def state_of(request: Any) -> ServeState:
    """The `ServeState` of the app a request came to."""
    return app_state(request.app)
