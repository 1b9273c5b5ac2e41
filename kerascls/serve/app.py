"""The HTTP API of kerascls-serve (FastAPI): predict, models, health, readiness, metrics.

    POST /v1/predict   images (multipart or a raw image body) -> top-k classes per image,
                       the model's name and version and the variant that answered
    GET  /v1/models    what each variant serves: format, precision, classes, input size,
                       the figures its export manifest recorded
    GET  /healthz      the process answers
    GET  /readyz       every model is loaded and warmed up (503 until then)
    GET  /metrics      Prometheus text format

Every refusal is a JSON error {"error": {"kind", "message", "status"}}: 4xx for bad
input, which never reaches the model; 503 with Retry-After when the server is full
(`max_in_flight` requests, checked before the body is read, or `max_queue` images
waiting for a model call) or a request waited `timeout_s` for its answer.

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(ServedModel("exports/model_int8.tflite"))   # doctest: +SKIP
    >>> with TestClient(app) as client:                              # doctest: +SKIP
    ...     client.post("/v1/predict", files={"image": open("cat.jpg", "rb")}).json()
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from kerascls.serve.batcher import MicroBatcher, PredictTimeoutError, QueueFullError
from kerascls.serve.inputs import ApiError, Limits, decode_uploads, read_uploads
from kerascls.serve.metrics import NO_VARIANT, ServeMetrics
from kerascls.serve.models import describe_model
from kerascls.serve.variants import (
    CANDIDATE,
    CLIENT_HEADER,
    LIVE,
    SHADOW,
    Router,
    ServedModel,
    Variant,
    bucket_sizes,
    padded_predict,
)

logger = logging.getLogger(__name__)

ROUTES = ("/v1/predict", "/v1/models", "/healthz", "/readyz", "/metrics")


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
        for task in list(self._background):
            task.cancel()
        for variant in self.variants.values():
            if variant.batcher is not None:
                await variant.batcher.stop()
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


def create_app(
    live: ServedModel,
    *,
    candidate: ServedModel | None = None,
    shadow: ServedModel | None = None,
    settings: ServeSettings | None = None,
) -> FastAPI:
    """The server's FastAPI app; models load and warm up when it starts (its lifespan)."""
    settings = settings or ServeSettings()
    variants = {LIVE: Variant(LIVE, live)}
    if candidate is not None:
        variants[CANDIDATE] = Variant(CANDIDATE, candidate)
    if shadow is not None:
        variants[SHADOW] = Variant(SHADOW, shadow)
    state = ServeState(variants, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.get_running_loop().create_task(state.prepare())
        yield
        task.cancel()
        await state.stop()

    app = FastAPI(title="kerascls-serve", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.serve = state
    app.add_middleware(ServeMiddleware, state=state)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        variant = getattr(request.state, "variant", NO_VARIANT)
        state.metrics.errors.labels(kind=err.kind, variant=variant).inc()
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return await api_error(request, ApiError(err.status_code, kind, str(err.detail)))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in err.errors()
        )
        return await api_error(request, ApiError(400, "bad_request", where or "bad request"))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        logger.exception("internal error on %s", request.url.path)
        return await api_error(request, ApiError(500, "internal", "internal server error"))

    @app.post("/v1/predict")
    async def predict(request: Request, top_k: int | None = None) -> JSONResponse:
        name = state.router.assign(request.headers.get(CLIENT_HEADER))
        request.state.variant = name
        variant = state.variants[name]
        if not variant.ready:
            raise ApiError(
                503, "not_ready", state.error or "the model is loading", {"Retry-After": "1"}
            )
        m = state.metrics
        m.in_flight.labels(variant=name).inc()
        try:
            try:
                uploads = await read_uploads(request, settings.limits)
            except ClientDisconnect:
                raise ApiError(400, "client_disconnected", "the client went away") from None
            size = variant.runner.input_size
            images = await asyncio.get_running_loop().run_in_executor(
                state.decode_pool, decode_uploads, uploads, size, settings.limits
            )
            try:
                probabilities = await variant.batcher.predict(images, settings.timeout_s)
            except QueueFullError as err:
                headers = {"Retry-After": str(err.retry_after)}
                raise ApiError(503, "queue_full", str(err), headers) from None
            except PredictTimeoutError as err:
                raise ApiError(503, "timeout", str(err), {"Retry-After": "1"}) from None
            top1 = state.record_predictions(name, probabilities)
            if name == LIVE:
                state.shadow(images, top1)
            k = max(1, min(top_k or settings.top_k, variant.runner.num_classes))
            return JSONResponse(_answer(variant, uploads, probabilities, k))
        finally:
            m.in_flight.labels(variant=name).dec()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        listed = []
        for variant in state.variants.values():
            described = dict(variant.description) or {"file": str(variant.model.path)}
            described.update(
                variant=variant.name,
                ready=variant.ready,
                load_seconds=variant.model.load_seconds,
            )
            listed.append(described)
        batching = {
            "max_batch": settings.max_batch,
            "max_wait_ms": settings.max_wait_ms,
            "max_queue": settings.max_queue,
            "max_in_flight": state.max_in_flight,
            "batch_sizes": list(state.buckets),
        }
        return {"models": listed, "split": state.router.split, "batching": batching}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        body = {
            "ready": state.ready,
            "variants": {v.name: v.ready for v in state.variants.values()},
        }
        if state.error:
            body["error"] = state.error
        return JSONResponse(body, status_code=200 if state.ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _answer(variant: Variant, uploads, probabilities: np.ndarray, k: int) -> dict[str, Any]:
    d = variant.description
    names = d["class_names"]
    predictions = []
    for upload, row in zip(uploads, probabilities, strict=True):
        order = np.argsort(-row, kind="stable")[:k]
        predictions.append(
            {
                "file": upload.name,
                "top_k": [
                    {"class": names[i], "index": int(i), "probability": round(float(row[i]), 6)}
                    for i in order
                ],
            }
        )
    return {
        "model": {"name": d["name"], "version": d["version"]},
        "variant": variant.name,
        "format": d["format"],
        "precision": d["precision"],
        "predictions": predictions,
    }


class ServeMiddleware:
    """Admission and bookkeeping around every request (a plain ASGI middleware).

    Predict requests past `max_in_flight` are refused here with 503 and Retry-After,
    before routing and before their body is read: shedding must cost far less than
    serving, or an overloaded server spends its CPU refusing. Every request is then
    counted by route, status and variant, and timed.
    """

    def __init__(self, app: Any, state: ServeState) -> None:
        self.app, self.state, self.metrics = app, state, state.metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        predict = route == "/v1/predict" and scope.get("method") == "POST"
        if predict and self.state.in_flight >= self.state.max_in_flight:
            await self._shed(scope, send, start)
            return
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        if predict:
            self.state.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            if predict:
                self.state.in_flight -= 1
            variant = scope.get("state", {}).get("variant", NO_VARIANT)
            self._count(route, str(status["code"]), variant, start)

    async def _shed(self, scope: dict, send: Any, start: float) -> None:
        state = self.state
        client = dict(scope.get("headers") or []).get(CLIENT_HEADER.encode())
        variant = state.router.assign(client.decode("latin-1") if client else None)
        error = ApiError(
            503,
            "overloaded",
            f"{state.in_flight} requests are being served (the limit is "
            f"{state.max_in_flight}); retry shortly",
        )
        body = json.dumps(error.body()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.errors.labels(kind="overloaded", variant=variant).inc()
        self._count("/v1/predict", "503", variant, start)

    def _count(self, route: str, status: str, variant: str, start: float) -> None:
        seconds = time.perf_counter() - start
        self.metrics.requests.labels(route=route, status=status, variant=variant).inc()
        self.metrics.request_seconds.labels(route=route, status=status, variant=variant).observe(
            seconds
        )
